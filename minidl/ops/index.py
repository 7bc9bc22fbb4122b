"""Indexing: ``x[index]`` (basic and advanced) and ``gather``/``take_along_axis``.

Reading is a gather; its gradient is the matching *scatter-add*: every element of dL/dy is added
back where it was read from, so an index read twice receives both contributions
(``x[[0, 0]].sum()`` has gradient 2 at x[0]). Scatter-add is a kernel of the contract.
"""

from __future__ import annotations

from typing import Any

from minidl.autograd import Function
from minidl.backends import Backend
from minidl.tensor import Tensor


def to_array_index(index: Any, backend: Backend) -> Any:
    """Replace Tensors inside an index by their arrays (lists become arrays: advanced indexing)."""
    if isinstance(index, tuple):
        return tuple(to_array_index(i, backend) for i in index)
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, list):
        return backend.asarray(index)
    return index


def _is_basic(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis only: then x[index] reads each element at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | slice) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    """y = x[index];  dL/dx = zeros of x's shape with dL/dy scatter-added at [index]."""

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return IndexAdd(self.in_shape, self.index)(gy)


class IndexAdd(Function):
    """y = zeros(shape) with x added at [index] (the gradient of GetItem);  dL/dx = (dL/dy)[index]."""

    def __init__(self, shape: tuple[int, ...], index: Any) -> None:
        self.shape, self.index = shape, index

    def forward(self, x):
        if _is_basic(self.index):  # no repeats possible: plain assignment is enough and faster
            out = self.backend.xp.zeros(self.shape, dtype=x.dtype)
            out[self.index] = x
            return out
        return self.backend.index_add(self.shape, self.index, x)

    def backward(self, gy):
        return GetItem(self.index)(gy)


class TakeAlongAxis(Function):
    """y = take_along_axis(x, indices, axis);  dL/dx = scatter-add of dL/dy at those indices."""

    def __init__(self, indices: Any, axis: int) -> None:
        self.indices, self.axis = indices, axis

    def forward(self, x):
        self.in_shape = x.shape
        return self.backend.xp.take_along_axis(x, self.indices, axis=self.axis)

    def backward(self, gy):
        return TakeAlongAxisAdd(self.in_shape, self.indices, self.axis)(gy)


class TakeAlongAxisAdd(Function):
    """The gradient of TakeAlongAxis;  its own gradient is TakeAlongAxis again."""

    def __init__(self, shape: tuple[int, ...], indices: Any, axis: int) -> None:
        self.shape, self.indices, self.axis = shape, indices, axis

    def forward(self, x):
        return self.backend.take_along_axis_add(self.shape, self.indices, x, self.axis)

    def backward(self, gy):
        return TakeAlongAxis(self.indices, self.axis)(gy)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with numpy semantics (ints, slices, None, Ellipsis, int/bool arrays or Tensors)."""
    index = to_array_index(index, x.backend)
    try:
        return GetItem(index)(x)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None


def take_along_axis(x: Tensor, indices: Any, axis: int) -> Tensor:
    """numpy's take_along_axis: ``y[..., i, ...] = x[..., indices[..., i, ...], ...]`` along ``axis``."""
    idx = indices.array if isinstance(indices, Tensor) else x.backend.asarray(indices)
    if idx.ndim != x.ndim:
        raise IndexError(f"take_along_axis: indices have {idx.ndim} dims but x has shape {x.shape}")
    return TakeAlongAxis(idx, axis)(x)


def gather(x: Tensor, axis: int, index: Any, *, dim: int | None = None) -> Tensor:
    """PyTorch's gather (``out[i][j] = x[i][index[i][j]]`` for axis=1): take_along_axis."""
    return take_along_axis(x, index, axis if dim is None else dim)


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The entries of ``index`` (a 1-d integer tensor) along ``dim``: ``x[:, index]`` for dim=1."""
    idx = index.array if isinstance(index, Tensor) else x.backend.asarray(index)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"index_select: index must be a 1-d integer tensor, got shape {tuple(idx.shape)} "
                         f"and dtype {idx.dtype}")
    d = dim % max(x.ndim, 1)
    return getitem(x, (slice(None),) * d + (idx,))
