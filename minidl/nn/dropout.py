"""Dropout layers: active in training mode, the identity in evaluation mode (``model.eval()``).

>>> import minidl, minidl.nn as nn
>>> drop = nn.Dropout(0.5, generator=minidl.Generator(0))
>>> sorted(set(drop(minidl.ones(100)).tolist()))    # training: zeros and 1 / (1 - p)
[0.0, 2.0]
>>> drop.eval()(minidl.ones(3))
tensor([1., 1., 1.])
"""

from __future__ import annotations

from minidl.nn.module import Module
from minidl.ops.dropout import dropout, dropout_nd
from minidl.random import Generator
from minidl.tensor import Tensor


class Dropout(Module):
    """Zero each element with probability ``p`` while training and scale the rest by 1 / (1 - p).
    ``generator`` (a ``minidl.Generator``) makes the masks reproducible; default: the global generator."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: dropout probability has to be between 0 and 1, got p={p}")
        self.p, self.generator = p, generator

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Zero whole channels of an (N, C, H, W) input (one draw per sample and channel)."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout_nd(x, self.p, self.training, self.generator)


class Dropout1d(Dropout2d):
    """Zero whole channels of an (N, C, L) input."""
