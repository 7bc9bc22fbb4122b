"""Quantized fused layers (``torch.ao.nn.intrinsic.quantized``): the ReLU is the requantization's lower
bound q >= zero_point."""

from __future__ import annotations

from minidl.ao.nn.quantized.modules import Conv2d, Linear


class LinearReLU(Linear):
    """int8 Linear whose uint8 output is clamped below at its zero point (the real 0)."""

    relu = True


class ConvReLU2d(Conv2d):
    """int8 Conv2d whose uint8 output is clamped below at its zero point."""

    relu = True


__all__ = ["ConvReLU2d", "LinearReLU"]
