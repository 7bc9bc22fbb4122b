"""Fused float pairs (``torch.ao.nn.intrinsic``) that ``fuse_modules`` builds: one quantized layer then
computes both, the ReLU folded into the requantization's lower bound (no uint8 round trip between them)."""

from __future__ import annotations

import minidl.nn as nn


class LinearReLU(nn.Sequential):
    """Linear then ReLU, as one module (``fuse_modules(model, [["fc", "relu"]])``)."""

    def __init__(self, linear: nn.Linear, relu: nn.ReLU) -> None:
        super().__init__(linear, relu)


class ConvReLU2d(nn.Sequential):
    """Conv2d then ReLU, as one module."""

    def __init__(self, conv: nn.Conv2d, relu: nn.ReLU) -> None:
        super().__init__(conv, relu)


__all__ = ["ConvReLU2d", "LinearReLU"]
