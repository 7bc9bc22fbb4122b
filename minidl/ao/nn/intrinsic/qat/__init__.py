"""Fused layers for quantization-aware training (``torch.ao.nn.intrinsic.qat``)."""

from __future__ import annotations

from minidl.ao.nn.qat import Conv2d, Linear
from minidl.ops.elementwise import relu
from minidl.tensor import Tensor


class LinearReLU(Linear):
    """relu(x fake_quant(W)^T + b)."""

    def forward(self, x: Tensor) -> Tensor:
        return relu(super().forward(x))


class ConvReLU2d(Conv2d):
    """relu(conv2d(x, fake_quant(W)) + b)."""

    def forward(self, x: Tensor) -> Tensor:
        return relu(super().forward(x))


__all__ = ["ConvReLU2d", "LinearReLU"]
