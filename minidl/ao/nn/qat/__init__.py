"""Layers for quantization-aware training (``torch.ao.nn.qat``): the float layer, with its weight passed
through a ``FakeQuantize`` (``weight_fake_quant``) on every forward, so training sees int8 weights while the
optimizer updates the float ones (the straight-through estimator carries the gradient)."""

from __future__ import annotations

from typing import Any

import minidl.nn as nn
from minidl.nn.module import Module
from minidl.ops.conv import conv2d
from minidl.ops.matmul import linear
from minidl.tensor import Tensor


def _qconfig(mod: Module) -> Any:
    qconfig = getattr(mod, "qconfig", None)
    if qconfig is None:
        raise ValueError(f"{type(mod).__name__}.from_float: the module has no qconfig (set model.qconfig = "
                         "get_default_qat_qconfig() before prepare_qat)")
    return qconfig


class Linear(nn.Linear):
    """nn.Linear with a fake-quantized weight."""

    @classmethod
    def from_float(cls, mod: Module) -> Linear:
        base = mod[0] if isinstance(mod, nn.Sequential) else mod
        q = cls(base.in_features, base.out_features, base.bias is not None)
        q.weight, q.bias = base.weight, base.bias
        q.qconfig = _qconfig(mod)
        q.weight_fake_quant = q.qconfig.weight()
        return q

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight_fake_quant(self.weight), self.bias)


class Conv2d(nn.Conv2d):
    """nn.Conv2d with a fake-quantized weight."""

    @classmethod
    def from_float(cls, mod: Module) -> Conv2d:
        base = mod[0] if isinstance(mod, nn.Sequential) else mod
        q = cls(base.in_channels, base.out_channels, base.kernel_size, base.stride, base.padding, base.dilation,
                base.groups, base.bias is not None)
        q.weight, q.bias = base.weight, base.bias
        q.qconfig = _qconfig(mod)
        q.weight_fake_quant = q.qconfig.weight()
        return q

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight_fake_quant(self.weight), self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


__all__ = ["Conv2d", "Linear"]
