"""Reductions: sum, mean, var, std, amax, amin, prod, norm, logsumexp.

``axis`` may be None (all axes), an int or a tuple; ``keepdims`` keeps reduced axes with size 1.
PyTorch's spellings ``dim=`` and ``keepdim=`` are accepted too.

The gradient of a reduction sends ``dL/dy`` back to every element that took part: first
re-insert the reduced axes (size 1), then broadcast to the input's shape.

float16 inputs are added up in float32 and the result is rounded to float16 once, as in PyTorch.
float16 stops at 65504 and has 11 significant bits, so a float16 running total overflows (the mean
of 4096 values of 30 came out inf) or stalls (2048 + 1 is 2048 in float16); ``var`` and ``std``
square deviations, which overflow once they exceed 256, so they run wholly in float32.
(``accumulation_dtype`` in ``minidl/backends/base.py`` is the one place that says so.)
"""

from __future__ import annotations

from typing import Any

from minidl.autograd import Function
from minidl.backends.base import accumulation_dtype
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
    """y = scale * (sum of x over ``axes``);  dL/dx = scale * dL/dy broadcast back over the summed axes.

    ``scale`` is 1 for ``sum`` and 1/n for ``mean``: scaling before the result is rounded to the
    input's dtype keeps a float16 mean finite even when the float16 sum would not be."""

    def __init__(self, axes: tuple[int, ...], keepdims: bool, scale: float = 1.0) -> None:
        self.axes, self.keepdims, self.scale = axes, keepdims, scale

    def forward(self, x):
        self.in_shape = x.shape
        acc = accumulation_dtype(x.dtype)  # float32 for float16 (module docstring)
        acc = None if acc == x.dtype else acc  # None: NumPy's own rule (bools and small ints sum as int64)
        if len(self.axes) == x.ndim and not self.keepdims:
            y = x.sum(dtype=acc)  # the common full reduction (a loss): numpy's fastest path
        else:
            y = x.sum(axis=self.axes, keepdims=self.keepdims, dtype=acc)
        if self.scale != 1.0:
            y = y * self.scale
        return y if acc is None else y.astype(x.dtype)

    def backward(self, gy):
        gx = _expand_back(gy, self.in_shape, self.axes)
        return gx if self.scale == 1.0 else gx * self.scale


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
        x = self.inputs[0].array
        y = self.output().array.reshape(_keepdims_shape(x.shape, self.axes))
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
    scale = 1.0 / n if n else float("nan")
    if x.dtype.kind != "f":  # integers: an exact sum, then minidl's promotion rules make it float32
        return Sum(axes, keepdims)(x) * scale
    return Sum(axes, keepdims, scale)(x)


def var(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
        keepdim: bool | None = None) -> Tensor:
    """sum((x - mean)^2) / (n - correction); correction=1 is the unbiased estimate (PyTorch's default).

    A float16 x is computed in float32 (the squares overflow above 256) and the result rounded once."""
    if accumulation_dtype(x.dtype) != x.dtype:
        return var(x.to(accumulation_dtype(x.dtype)), axis, keepdims, correction=correction, dim=dim,
                   keepdim=keepdim).to(x.dtype)
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    axes = _axes(x.ndim, axis)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centred = x - mean(x, axes, keepdims=True)
    return sum(centred * centred, axes, keepdims) * (1.0 / (n - correction) if n > correction else float("nan"))


def std(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
        keepdim: bool | None = None) -> Tensor:
    """sqrt(var); a float16 x is computed in float32 (its variance may pass 65504 while std does not)."""
    if accumulation_dtype(x.dtype) != x.dtype:
        return std(x.to(accumulation_dtype(x.dtype)), axis, keepdims, correction=correction, dim=dim,
                   keepdim=keepdim).to(x.dtype)
    return var(x, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim).sqrt()


def amax(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: bool | None = None) -> Tensor:
    """Largest value over ``dim`` (values only, several dims allowed; ``minidl.max(x, dim)`` also gives indices)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return MaxMin(_axes(x.ndim, axis), keepdims, True)(x)


def amin(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: bool | None = None) -> Tensor:
    """Smallest value over ``dim`` (values only)."""
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return MaxMin(_axes(x.ndim, axis), keepdims, False)(x)


class Prod(Function):
    """y = product of x over ``axis``;  dy/dx_i = product of the other elements.

    Where x has no zero that is y / x_i; with zeros it is computed as (product of the elements
    before i) * (product of those after i), two exclusive cumulative products.
    """

    def __init__(self, axis: int | None, keepdims: bool) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.prod(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        axes = tuple(range(x.ndim)) if self.axis is None else (self.axis,)
        g = _expand_back(gy, x.shape, axes)
        if not (x.array == 0).any():
            y = _expand_back(self.output_value(), x.shape, axes)
            return g * y / x
        xp, a = self.backend.xp, x.array
        flat = a.reshape(-1) if self.axis is None else a
        ax = 0 if self.axis is None else self.axis
        ones = xp.ones_like(xp.take(flat, [0], axis=ax))
        before = xp.cumprod(xp.concatenate([ones, flat], axis=ax), axis=ax)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat, ones], axis=ax), axis=ax), axis=ax), axis=ax)
        n = flat.shape[ax]
        others = xp.take(before, range(n), axis=ax) * xp.take(after, range(1, n + 1), axis=ax)
        return g * self.wrap(others.reshape(a.shape))

    def output_value(self) -> Tensor:
        x = self.inputs[0]
        return self.wrap(x.array.prod(axis=self.axis, keepdims=self.keepdims))


def prod(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The product of the elements (over one ``dim``, or all of them)."""
    if dim is not None:
        dim = _axes(x.ndim, dim)[0] if x.ndim else None
    return Prod(dim, keepdim)(x)


def norm(x: Tensor, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The p-norm over ``dim`` (all elements when None): (sum |x|^p)^(1/p); p="fro" is 2, p=inf the max |x|."""
    if p == "fro" or p == 2:
        return sum(x * x, dim, keepdim).sqrt()
    if p == 1:
        return sum(x.abs(), dim, keepdim)
    if p == float("inf"):
        return amax(x.abs(), dim, keepdim)
    if not isinstance(p, int | float) or p <= 0:
        raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
    return sum(x.abs() ** p, dim, keepdim) ** (1.0 / p)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
              keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _pick(axis, keepdims, dim, keepdim)
    return LogSumExp(_axes(x.ndim, axis), keepdims)(x)
