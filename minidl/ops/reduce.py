"""Reductions: sum, mean, var, std, max, min, logsumexp.

``axis`` may be None (all axes), an int or a tuple; ``keepdims`` keeps reduced axes with size 1.
PyTorch's spellings ``dim=`` and ``keepdim=`` are accepted too.

The gradient of a reduction sends ``dL/dy`` back to every element that took part: first
re-insert the reduced axes (size 1), then broadcast to the input's shape.
"""

from __future__ import annotations

from typing import Any

from minidl.autograd import Function
from minidl.ops.elementwise import mask
from minidl.ops.shape import broadcast_to, reshape
from minidl.tensor import Tensor


def _axes(ndim: int, axis: Any) -> tuple[int, ...]:
    """Normalise an axis argument to a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    bound = ndim if ndim > 0 else 1  # (this module's max/min shadow the builtins)
    for a in axis:
        if not -bound <= a < bound:
            raise IndexError(f"reduction: axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % bound for a in axis)) if ndim else ()


def _pick(axis: Any, keepdims: bool, dim: Any, keepdim: bool | None) -> tuple[Any, bool]:
    return (axis if dim is None else dim), (keepdims if keepdim is None else keepdim)


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_back(gy: Tensor, in_shape: tuple[int, ...], axes: tuple[int, ...]) -> Tensor:
    """Re-insert the reduced axes of ``gy`` and broadcast it to ``in_shape``."""
    if gy.ndim > 0 and gy.ndim != len(in_shape):
        gy = reshape(gy, _keepdims_shape(in_shape, axes))
    return broadcast_to(gy, in_shape)  # a 0-d or keepdims gradient broadcasts as it is


class Sum(Function):
    """y = sum of x over ``axes``;  dL/dx = dL/dy broadcast back over the summed axes."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        if len(self.axes) == x.ndim and not self.keepdims:
            return x.sum()  # the common full reduction (a loss): numpy's fastest path
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _expand_back(gy, self.in_shape, self.axes)


class MaxMin(Function):
    """y = max (or min) of x over ``axes``;  dL/dx = dL/dy at the arg-extreme elements
    (shared equally among ties, as in PyTorch's ``amax``), 0 elsewhere."""

    uses_outputs = True  # backward reads self.output()

    def __init__(self, axes: tuple[int, ...], keepdims: bool, is_max: bool) -> None:
        self.axes, self.keepdims, self.is_max = axes, keepdims, is_max

    def forward(self, x):
        self.in_shape = x.shape
        op = x.max if self.is_max else x.min
        return op(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0].data
        y = self.output().data.reshape(_keepdims_shape(x.shape, self.axes))
        hit = (x == y).astype(x.dtype)
        hit /= hit.sum(axis=self.axes, keepdims=True)
        return mask(_expand_back(gy, self.in_shape, self.axes), hit)


class LogSumExp(Function):
    """y = log sum exp(x) over ``axes`` (stable: computed with the max subtracted);
    dL/dx = dL/dy * softmax(x) = dL/dy * exp(x - y)."""

    uses_outputs = True  # backward reads self.output()

    def __init__(self, axes: tuple[int, ...], keepdims: bool) -> None:
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return self.backend.logsumexp(x, self.axes, self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        y = _expand_back(self.output(), self.in_shape, self.axes)
        return _expand_back(gy, self.in_shape, self.axes) * (x - y).exp()


# --------------------------------------------------------------------------- functional API
def sum(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return Sum(_axes(x.ndim, axis), keepdims)(x)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: bool | None = None) -> Tensor:
    """sum / n, where n is the number of elements reduced."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    axes = _axes(x.ndim, axis)
    n = 1
    for a in axes:
        n *= x.shape[a]
    return Sum(axes, keepdims)(x) * (1.0 / n if n else float("nan"))


def var(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
        keepdim: bool | None = None) -> Tensor:
    """sum((x - mean)^2) / (n - correction); correction=1 is the unbiased estimate (PyTorch's default)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    axes = _axes(x.ndim, axis)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centred = x - mean(x, axes, keepdims=True)
    return sum(centred * centred, axes, keepdims) * (1.0 / (n - correction) if n > correction else float("nan"))


def std(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
        keepdim: bool | None = None) -> Tensor:
    """sqrt(var)."""
    return var(x, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim).sqrt()


def max(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Largest value over ``axis`` (values only; use ``argmax`` for the positions)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return MaxMin(_axes(x.ndim, axis), keepdims, True)(x)


def min(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Smallest value over ``axis``."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return MaxMin(_axes(x.ndim, axis), keepdims, False)(x)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
              keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return LogSumExp(_axes(x.ndim, axis), keepdims)(x)
