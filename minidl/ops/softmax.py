"""Softmax and log-softmax along one axis.

softmax:      y_i = exp(x_i) / sum_j exp(x_j)
              dL/dx = y * (g - sum(g * y))                 (g = dL/dy, sums along the axis)
log_softmax:  y_i = x_i - log sum_j exp(x_j)
              dL/dx = g - softmax(x) * sum(g)
Both are kernels of the contract: the reference subtracts the max first so exp never overflows.
"""

from __future__ import annotations

from minidl.autograd import Function
from minidl.tensor import Tensor


class SoftmaxFunction(Function):
    autocast = "float32_cuda"  # under minidl.amp.autocast (see minidl/amp/autocast.py)
    uses_outputs = True  # backward reads self.output()

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x):
        return self.backend.softmax(x, self.axis)

    def backward(self, gy):
        y = self.output()
        gyy = gy * y
        return gyy - y * gyy.sum(self.axis, keepdims=True)


class LogSoftmaxFunction(Function):
    autocast = "float32_cuda"  # under minidl.amp.autocast (see minidl/amp/autocast.py)
    uses_outputs = True  # backward reads self.output()

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x):
        return self.backend.log_softmax(x, self.axis)

    def backward(self, gy):
        return gy - self.output().exp() * gy.sum(self.axis, keepdims=True)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Softmax along ``axis`` (default: the last)."""
    return SoftmaxFunction(axis if dim is None else dim)(x)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``axis``, computed without forming softmax (no log(0))."""
    return LogSoftmaxFunction(axis if dim is None else dim)(x)
