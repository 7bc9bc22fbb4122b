"""Padding layers (no parameters), as ``torch.nn``: constant, zero, reflection, replication and circular.

The math (and the gradient, which folds the border back onto the input) is in ``minidl.ops.shape.pad`` and
``minidl.ops.padding``; a layer only remembers its padding, given as an int (every side) or PyTorch's
tuple (left, right[, top, bottom[, front, back]]).

>>> import minidl, minidl.nn as nn
>>> nn.ReflectionPad2d(1)(minidl.zeros(1, 3, 4, 4)).shape
minidl.Size([1, 3, 6, 6])
>>> nn.ZeroPad2d((1, 0, 2, 0))(minidl.ones(1, 1, 1, 1)).tolist()
[[[[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]]]
"""

from __future__ import annotations

from typing import Any

from minidl.nn.module import Module
from minidl.ops.shape import pad
from minidl.tensor import Tensor


class _PadNd(Module):
    mode = "constant"
    dims = 1

    def __init__(self, padding: int | tuple[int, ...], value: float = 0.0) -> None:
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * (2 * self.dims)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} ints, got {padding}")
        self.padding, self.value = padding, value

    def forward(self, x: Tensor) -> Tensor:
        return pad(x, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self) -> str:
        return f"{self.padding}, value={self.value}" if self.mode == "constant" else f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last dim of x (C, L) or (N, C, L) with ``value``."""

    def __init__(self, padding: int | tuple[int, int], value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(ConstantPad1d):
    """Pad the last two dims of x (C, H, W) or (N, C, H, W) with ``value``."""

    dims = 2


class ConstantPad3d(ConstantPad1d):
    """Pad the last three dims of x (C, D, H, W) or (N, C, D, H, W) with ``value``."""

    dims = 3


class ZeroPad1d(_PadNd):
    """Pad the last dim with zeros."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(ZeroPad1d):
    """Pad the last two dims with zeros: (left, right, top, bottom)."""

    dims = 2


class ZeroPad3d(ZeroPad1d):
    """Pad the last three dims with zeros."""

    dims = 3


class _CopyPadNd(_PadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReflectionPad1d(_CopyPadNd):
    """Pad the last dim with its mirror image, the edge not repeated (each pad < that dim's size)."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    dims = 2


class ReflectionPad3d(ReflectionPad1d):
    dims = 3


class ReplicationPad1d(_CopyPadNd):
    """Pad the last dim by repeating its edge values."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    dims = 2


class ReplicationPad3d(ReplicationPad1d):
    dims = 3


class CircularPad1d(_CopyPadNd):
    """Pad the last dim with values from its other end (each pad <= that dim's size)."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    dims = 2


class CircularPad3d(CircularPad1d):
    dims = 3
