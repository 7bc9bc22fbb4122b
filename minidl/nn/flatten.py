"""``Flatten`` and ``Unflatten``: reshape layers for ``Sequential`` models.

>>> import minidl, minidl.nn as nn
>>> nn.Flatten()(minidl.zeros(8, 3, 4, 4)).shape   # keeps the batch axis
minidl.Size([8, 48])
>>> nn.Unflatten(1, (3, 16))(minidl.zeros(8, 48)).shape
minidl.Size([8, 3, 16])
"""

from __future__ import annotations

from collections.abc import Sequence

from minidl.errors import shape_error
from minidl.nn.module import Module
from minidl.ops.shape import flatten, reshape
from minidl.tensor import Tensor


class Flatten(Module):
    """Merge axes ``start_dim`` .. ``end_dim`` into one (default: all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (the inverse of Flatten)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        dim = self.dim % x.ndim
        known = 1  # the product of the given sizes, leaving out a -1 (which reshape infers)
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        n = x.shape[dim]
        fits = n % known == 0 if -1 in self.unflattened_size else n == known
        if not fits:
            raise shape_error("Unflatten", x.shape, expected=f"axis {self.dim} to split into {self.unflattened_size}")
        return reshape(x, *x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
