"""Ops that return values *and* where they came from: max/min over a dim, sort, topk, median, kthvalue.

PyTorch's convention, followed here: a reduction over a dimension that picks one element (max,
min, median, kthvalue) returns a named tuple ``(values, indices)``; ``sort`` and ``topk`` do the
same for many elements. The values are differentiable and the indices are int64 constants.

Every value op here is one rule: find the indices (an argsort or argmax on the raw array, no
gradient), then ``values = take_along_axis(x, indices, dim)``. So the gradient of every one of
them is the gradient of ``take_along_axis``: dL/dx is zero except at the picked positions, where
it is dL/dvalues (``index_add``). With ties, the gradient goes to the one index returned, as in
PyTorch.

>>> import minidl
>>> x = minidl.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
>>> values, indices = minidl.max(x, 1)
>>> values.tolist(), indices.tolist()
([5.0, 6.0], [1, 2])
>>> minidl.topk(x, 2).indices.tolist()
[[1, 2], [2, 0]]
"""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

from minidl.ops.elementwise import maximum, minimum
from minidl.ops.index import take_along_axis
from minidl.ops.reduce import amax, amin
from minidl.tensor import Tensor


class values_indices(NamedTuple):  # noqa: N801  (PyTorch prints these as torch.return_types.max(...))
    """What max/min/sort/topk/median/kthvalue over a dim return: ``values`` and int64 ``indices``."""

    values: Tensor
    indices: Tensor


def _dim(x: Tensor, dim: int, op: str) -> int:
    bound = builtins.max(x.ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {tuple(x.shape)} "
                         f"(expected a dim in [{-bound}, {bound - 1}])")
    return dim % bound if x.ndim else 0


def _index(x: Tensor, idx: Any) -> Tensor:
    return Tensor._wrap(idx.astype("int64", copy=False), x.backend, False)


def _pick(x: Tensor, idx: Any, dim: int, keepdim: bool) -> values_indices:
    """values = x at ``idx`` (which has x's rank) along ``dim``; squeeze ``dim`` unless keepdim."""
    if x.ndim == 0:
        return values_indices(x * 1, _index(x, idx.reshape(())))
    values = take_along_axis(x, idx, dim)
    indices = _index(x, idx)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return values_indices(values, indices)


def max_dim(x: Tensor, dim: int, keepdim: bool = False) -> values_indices:
    """``(values, indices)`` of the largest element along ``dim`` (``torch.max(x, dim)``)."""
    dim = _dim(x, dim, "max")
    idx = x.array.argmax(axis=dim, keepdims=True) if x.ndim else x.array.reshape(()) * 0
    return _pick(x, idx, dim, keepdim)


def min_dim(x: Tensor, dim: int, keepdim: bool = False) -> values_indices:
    """``(values, indices)`` of the smallest element along ``dim`` (``torch.min(x, dim)``)."""
    dim = _dim(x, dim, "min")
    idx = x.array.argmin(axis=dim, keepdims=True) if x.ndim else x.array.reshape(()) * 0
    return _pick(x, idx, dim, keepdim)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``dim`` (int64; ties keep their order)."""
    dim = _dim(x, dim, "argsort")
    if x.ndim == 0:
        return _index(x, x.backend.xp.zeros((), dtype="int64"))
    a = x.array
    if descending:  # negate (signed copy for bool/unsigned): a stable ascending sort keeps ties in order
        a = -(a if a.dtype.kind in "fi" else a.astype("int64"))
    return _index(x, x.backend.xp.argsort(a, axis=dim, kind="stable"))


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> values_indices:
    """``(values, indices)`` with values sorted along ``dim`` (``torch.sort``)."""
    idx = argsort(x, dim, descending).array
    if x.ndim == 0:
        return values_indices(x * 1, _index(x, idx))
    return _pick(x, idx, _dim(x, dim, "sort"), True)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> values_indices:
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``, in order."""
    d = _dim(x, dim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {n} (shape {tuple(x.shape)})")
    idx = argsort(x, d, descending=largest).array
    if x.ndim == 0:
        return values_indices(x * 1, _index(x, idx))
    idx = x.backend.xp.take(idx, x.backend.xp.arange(k), axis=d)
    return _pick(x, idx, d, True)


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> values_indices:
    """The ``k``-th smallest element along ``dim`` (k counts from 1) and its index."""
    d = _dim(x, dim, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise ValueError(f"kthvalue: k={k} is out of range for dim {dim} of size {n} (expected 1 <= k <= {n})")
    idx = argsort(x, d).array
    if x.ndim == 0:
        return values_indices(x * 1, _index(x, idx))
    idx = x.backend.xp.take(idx, x.backend.xp.arange(k - 1, k), axis=d)
    return _pick(x, idx, d, keepdim)


def median(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | values_indices:
    """The median (the lower of the two middle values for an even count, as PyTorch).

    Without ``dim``: a 0-d tensor over all elements. With ``dim``: ``(values, indices)``.
    """
    if dim is None:
        flat = x.reshape(-1)
        return kthvalue(flat, (flat.shape[0] + 1) // 2, 0).values
    d = _dim(x, dim, "median")
    n = x.shape[d] if x.ndim else 1
    return kthvalue(x, (n + 1) // 2, d, keepdim)


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor | values_indices:  # noqa: A001
    """PyTorch's three ``max``: ``max(x)`` the largest value (0-d), ``max(x, dim)`` ``(values, indices)``,
    ``max(x, other)`` the elementwise maximum."""
    if dim is None:
        return amax(input)
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return max_dim(input, dim, keepdim)


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor | values_indices:  # noqa: A001
    """PyTorch's three ``min``: the smallest value, ``(values, indices)`` over ``dim``, or elementwise."""
    if dim is None:
        return amin(input)
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return min_dim(input, dim, keepdim)
