"""Padding that copies the input's own values: ``reflect``, ``replicate`` and ``circular`` (PyTorch's ``F.pad``).

``pad`` is PyTorch's flat tuple, last dim first: (left, right) pads the last dim, (left, right, top, bottom)
the last two, and so on; a negative entry crops. Along each padded dim of size n, output position j reads
input position idx[j], with v = j - left:

* reflect:   idx = -v left of the input, 2(n - 1) - v right of it (the edge is not repeated; needs pad < n)
* replicate: idx = clip(v, 0, n - 1) (the edge value, repeated)
* circular:  idx = v mod n (the other end; needs pad <= n; as PyTorch, negative pads crop before wrapping)

So the forward is one gather per padded dim, ``y = take(x, idx, dim)``, and the gradient is its adjoint, a
scatter-add: dL/dx[i] = sum of dL/dy[j] over the j with idx[j] = i. The middle block lands back where it
came from and each border position is folded back onto the input. That backward is linear and its own
gradient is the gather again, so double backward works. (``constant`` padding is ``shape.Pad``.)

>>> import minidl
>>> x = minidl.tensor([[[1.0, 2.0, 3.0]]])
>>> pad_mode(x, (2, 1), "reflect").tolist(), pad_mode(x, (2, 1), "replicate").tolist()
([[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]], [[[1.0, 1.0, 1.0, 2.0, 3.0, 3.0]]])
>>> pad_mode(x, (2, 1), "circular").tolist()
[[[2.0, 3.0, 1.0, 2.0, 3.0, 1.0]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minidl.autograd import Function
from minidl.tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")

# One padded dim: (dim, idx, (out_start, in_start, length)), the last being the block copied unchanged.
DimMap = tuple[int, np.ndarray, tuple[int, int, int]]


class PadGather(Function):
    """y = x read at idx along each padded dim;  dL/dx = PadScatter(dL/dy), its adjoint."""

    def __init__(self, maps: Sequence[DimMap]) -> None:
        self.maps = tuple(maps)

    def forward(self, x):
        self.in_shape = x.shape
        for dim, idx, _ in self.maps:
            x = self.backend.xp.take(x, self.backend.asarray(idx), axis=dim)
        return x

    def backward(self, gy):
        return PadScatter(self.in_shape, self.maps)(gy)


class PadScatter(Function):
    """gx = gy scatter-added back at idx along each padded dim (last dim first);  dL/dgy = PadGather(dL/dgx)."""

    def __init__(self, in_shape: tuple[int, ...], maps: Sequence[DimMap]) -> None:
        self.in_shape, self.maps = in_shape, tuple(maps)

    def forward(self, gy):
        for dim, idx, block in reversed(self.maps):
            gy = self._scatter_add(gy, dim, idx, block, self.in_shape[dim])
        return gy

    def _scatter_add(self, g, dim, idx, block, n):
        g = self.backend.xp.moveaxis(g, dim, 0)
        out = self.backend.xp.zeros((n,) + g.shape[1:], dtype=g.dtype)
        out_start, in_start, length = block
        out[in_start:in_start + length] = g[out_start:out_start + length]  # the middle: one block
        for j in (*range(min(out_start, len(idx))), *range(out_start + length, len(idx))):  # the border only
            out[int(idx[j])] += g[j]
        return self.backend.xp.moveaxis(out, 0, dim)

    def backward(self, g):
        return PadGather(self.maps)(g)


def _index_map(n: int, before: int, after: int, mode: str) -> tuple[np.ndarray, tuple[int, int, int]]:
    """idx (n + before + after,) of the input position each output position reads, and the unchanged block."""
    if n + before + after == 0:  # everything cropped
        return np.zeros(0, dtype=np.int64), (0, 0, 0)
    if mode == "circular":  # crop the negative sides first, then wrap around what is left (PyTorch's order)
        lo, hi = max(-before, 0), n - max(-after, 0)
        left = max(before, 0)
        idx = lo + (np.arange(-left, hi - lo + max(after, 0)) % (hi - lo))
        return idx, (left, lo, hi - lo)
    v = np.arange(-before, n + after)
    if mode == "reflect":
        v = np.abs(v)
        idx = np.where(v > n - 1, 2 * (n - 1) - v, v)
    else:  # replicate
        idx = np.clip(v, 0, n - 1)
    start = max(-before, 0)
    return idx, (max(before, 0), start, max(0, min(n, n + after) - start))


def pad_mode(x: Tensor, pad: Sequence[int], mode: str) -> Tensor:
    """Pad x (its last ``len(pad) // 2`` dims) by copying its own values; ``mode`` one of reflect, replicate,
    circular. Checks the arguments as PyTorch does."""
    pad = [int(p) for p in pad]
    k = len(pad) // 2
    if len(pad) not in (2, 4, 6) or x.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"pad: padding size {len(pad)} is not supported for a {x.ndim}-d input in mode {mode!r}; non-constant "
            f"padding takes 2 numbers for a 2-d or 3-d input (the last dim), 4 for 3-d or 4-d (the last two), "
            f"6 for 4-d or 5-d (the last three)")
    maps = []
    for i in range(k):
        dim, (before, after) = x.ndim - 1 - i, pad[2 * i:2 * i + 2]
        n = x.shape[dim]
        if mode == "reflect" and not (before < n and after < n):
            raise ValueError(f"pad: reflect padding ({before}, {after}) must be less than the size {n} of dim {dim} "
                             f"of the input of shape {tuple(x.shape)}")
        if mode == "circular" and not (before <= n - max(-after, 0) and after <= n - max(-before, 0)):
            raise ValueError(f"pad: circular padding ({before}, {after}) wraps around dim {dim} (size {n}) of the "
                             f"input of shape {tuple(x.shape)} more than once")
        if n == 0 or n + before + after < 0:
            raise ValueError(f"pad: {mode} padding ({before}, {after}) of dim {dim} of the input of shape "
                             f"{tuple(x.shape)}: the dim must be non-empty and the output size non-negative")
        if before or after:
            idx, block = _index_map(n, before, after, mode)
            maps.append((dim, idx, block))
    return PadGather(maps)(x) if maps else x
