"""Activation layers: thin Modules around the activation functions.

Each layer only stores its settings and calls the function (``minidl.ops.activation`` and
``minidl.ops.elementwise`` hold the math and the gradients).

>>> import minidl, minidl.nn as nn
>>> nn.ReLU()(minidl.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

from __future__ import annotations

from minidl.nn.module import Module
from minidl.ops import elementwise
from minidl.ops import softmax as _softmax
from minidl.tensor import Tensor


class ReLU(Module):
    """y = max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return elementwise.relu(x)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return elementwise.tanh(x)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return elementwise.sigmoid(x)


class Softmax(Module):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return _softmax.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y_i = x_i - log sum_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return _softmax.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
