"""Shape ops: reshape, transpose, broadcast, sum_to, concatenation, split, pad, casts.

None of these change values, so every gradient is the inverse movement of the incoming gradient:
reshape back, transpose back, sum what was broadcast, slice what was concatenated or padded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl.autograd import BroadcastTo, Function, SumTo, broadcast_to, sum_to  # noqa: F401  (re-exported)
from minidl.backends import Backend
from minidl.errors import ShapeError, shape_error
from minidl.ops.elementwise import where
from minidl.ops.index import getitem
from minidl.ops.padding import MODES, pad_mode
from minidl.tensor import Tensor


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], Sequence | np.ndarray):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """y = x viewed with a new shape;  dL/dx = dL/dy reshaped to x's shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise shape_error("reshape", x.shape, expected=f"{x.size} elements to fit shape {self.shape}") from None

    def backward(self, gy):
        return reshape(gy, self.in_shape)


class Transpose(Function):
    """y = x with axes permuted;  dL/dx = dL/dy permuted by the inverse permutation."""

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return Transpose(tuple(np.argsort(self.axes)))(gy)


class Copy(Function):
    """y = a copy of x (optionally another dtype or backend);  dL/dx = dL/dy moved back."""

    def __init__(self, dtype: Any = None, target: Backend | None = None) -> None:
        self.dtype, self.target = dtype, target

    def forward(self, x):
        self.in_dtype, self.source = x.dtype, self.backend
        if self.target is not None and self.target is not self.source:
            self.backend = self.target  # Function.__call__ wraps the outputs on self.backend
            return self.target.asarray(self.source.to_numpy(x))
        return x.astype(self.dtype if self.dtype is not None else x.dtype, copy=True)

    def backward(self, gy):
        if self.target is not None and self.target is not self.source:
            return Copy(target=self.source)(gy)
        return Copy(dtype=self.in_dtype)(gy) if gy.dtype != self.in_dtype else gy


class Concatenate(Function):
    """y = [x1, x2, ...] joined along ``axis``;  dL/dxi = the slice of dL/dy that xi became."""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        try:
            return self.backend.xp.concatenate(xs, axis=self.axis)
        except ValueError:
            raise shape_error(
                "cat", *[x.shape for x in xs], expected=f"equal sizes on every axis except axis {self.axis}"
            ) from None

    def backward(self, gy):
        return split(gy, self.sizes, self.axis)


class Split(Function):
    """(y1, y2, ...) = consecutive slices of x along ``axis``;  dL/dx = cat(dL/dy1, dL/dy2, ...)."""

    def __init__(self, sizes: list[int], axis: int) -> None:
        self.sizes, self.axis = sizes, axis

    def forward(self, x):
        offsets = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(self.backend.xp.split(x, offsets, axis=self.axis))

    def backward(self, *gys):
        return cat(list(gys), self.axis)


class Pad(Function):
    """y = x with ``value`` added around it (``pad_width`` as in numpy.pad);  dL/dx = the middle of dL/dy."""

    def __init__(self, pad_width: tuple[tuple[int, int], ...], value: float) -> None:
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        return self.backend.xp.pad(x, self.pad_width, constant_values=self.value)

    def backward(self, gy):
        index = tuple(slice(lo, gy.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return gy[index]


# --------------------------------------------------------------------------- functional API
def reshape(x: Tensor, *shape: Any) -> Tensor:
    """x with a new shape (one entry may be -1); shares memory where numpy can."""
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return Reshape(shape)(x)


view = reshape


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions ``dim0`` and ``dim1`` (PyTorch's transpose; ``permute`` reorders all of them)."""
    if x.ndim == 0 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    for d in (dim0, dim1):
        if not -x.ndim <= d < x.ndim:
            raise IndexError(f"transpose: dim {d} is out of range for a tensor of shape {tuple(x.shape)}")
    return swapaxes(x, dim0, dim1)


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix; a 0-d or 1-d tensor is returned as it is (PyTorch's ``t``)."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {tuple(x.shape)}; "
                         f"use transpose(dim0, dim1) or permute")
    return x if x.ndim < 2 else swapaxes(x, 0, 1)


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes of x: ``y.shape[i] == x.shape[axes[i]]``."""
    axes = _shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise shape_error("permute", x.shape, expected=f"a permutation of {x.ndim} axes, got {axes}")
    return Transpose(tuple(a % x.ndim for a in axes))(x)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return Transpose(tuple(axes))(x)


def expand(x: Tensor, *shape: Any) -> Tensor:
    """PyTorch's expand: like broadcast_to, and -1 keeps that axis's size."""
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return broadcast_to(x, shape)


def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Remove axes of size 1 (all of them, or only ``axis``; a non-1 axis is left alone like PyTorch)."""
    if axis is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        axes = {a % x.ndim for a in (axis if isinstance(axis, tuple | list) else (axis,)) if x.shape[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at ``axis`` (negative counts from the end of the new shape)."""
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :])


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis."""
    if len(tensors) == 0:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return Concatenate(axis if dim is None else dim)(*tensors)


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis."""
    axis = axis if dim is None else dim
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise shape_error("stack", *[t.shape for t in tensors], expected="tensors of one shape")
    return cat([unsqueeze(t, axis) for t in tensors], axis)


def split(x: Tensor, split_size_or_sections: int | Sequence[int], axis: int = 0, *,
          dim: int | None = None) -> tuple[Tensor, ...]:
    """PyTorch's split: chunks of ``split_size`` (the last may be smaller), or the given sizes."""
    axis = axis if dim is None else dim
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [min(step, n - i) for i in range(0, n, step)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis {axis} has {n} elements")
    return Split(sizes, axis)(x) if len(sizes) > 1 else (x,)


def chunk(x: Tensor, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of size ceil(n / chunks) (PyTorch semantics)."""
    axis = axis if dim is None else dim
    return split(x, math.ceil(x.shape[axis] / chunks), axis)


def pad(x: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's ``F.pad``. ``pad`` is the flat tuple (last_before, last_after, prev_before, prev_after, ...)
    counting from the last dim (negative entries crop), or numpy's ((before, after), ...) per dim for constant
    padding. ``mode``: "constant" (``value``, default 0), or "reflect", "replicate", "circular", which copy
    the input's own values (``minidl.ops.padding``)."""
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {MODES}, got {mode!r}")
    numpy_style = len(pad) > 0 and not isinstance(pad[0], int | np.integer)
    if not numpy_style:
        if len(pad) % 2:
            raise ValueError(f"pad: the padding length must be divisible by 2, got {tuple(pad)}")
        if len(pad) // 2 > x.ndim:
            raise ValueError(f"pad: padding length {len(pad)} is more than two times the input's {x.ndim} dims")
    if mode != "constant":
        if numpy_style:
            raise ValueError(f"pad: mode {mode!r} takes PyTorch's flat padding tuple (last dim first)")
        if value not in (None, 0):
            raise ValueError(f"pad: padding mode {mode!r} doesn't take a value argument")
        return pad_mode(x, pad, mode)
    if numpy_style:
        pairs = [(int(a), int(b)) for a, b in pad]
    else:
        pairs = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            pairs[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(n - max(-a, 0) - max(-b, 0) < 0 for n, (a, b) in zip(x.shape, pairs)):
        raise ValueError(f"pad: padding {tuple(pad)} crops more than the input of shape {tuple(x.shape)} has")
    if any(a < 0 or b < 0 for a, b in pairs):  # negative padding crops (a differentiable slice) first
        x = getitem(x, tuple(slice(max(-a, 0), n - max(-b, 0)) for n, (a, b) in zip(x.shape, pairs)))
        pairs = [(max(a, 0), max(b, 0)) for a, b in pairs]
    return Pad(tuple(pairs), 0.0 if value is None else value)(x)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """PyTorch's ``repeat`` (numpy's ``tile``): the whole tensor ``sizes[i]`` times along dim i.

    Built from ops that already have gradients: insert a size-1 axis before each dim, broadcast it
    to ``sizes[i]``, then merge each pair. So dL/dx sums dL/dy over the copies.
    """
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat counts for a tensor of shape {tuple(x.shape)}; "
                         f"give at least one per dimension")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    interleaved = reshape(x, tuple(d for n in shape for d in (1, n)))
    big = broadcast_to(interleaved, tuple(d for r, n in zip(sizes, shape) for d in (r, n)))
    return reshape(big, tuple(r * n for r, n in zip(sizes, shape)))


def repeat_interleave(x: Tensor, repeats: int, dim: int | None = None) -> Tensor:
    """Each element ``repeats`` times in a row along ``dim`` (flattened when None): numpy's ``repeat``."""
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    dim = dim % x.ndim
    y = broadcast_to(unsqueeze(x, dim + 1), x.shape[: dim + 1] + (repeats,) + x.shape[dim + 1 :])
    return reshape(y, x.shape[:dim] + (x.shape[dim] * repeats,) + x.shape[dim + 1 :])


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` of dimension ``dim`` (a view in PyTorch, a copy here)."""
    d = dim % x.ndim
    n = x.shape[d]
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length <= n - start):
        raise IndexError(f"narrow: start {start} + length {length} exceeds dimension {dim} of size {n}")
    return x[(slice(None),) * d + (slice(start, start + length),)]


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, with ``dim`` removed."""
    d = dim % x.ndim
    return tuple(squeeze(part, d) for part in split(x, 1, d))


def _triangle(op: str, x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"{op}: expects a tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    rows, cols = x.shape[-2:]
    xp = x.backend.xp
    keep = xp.tril(xp.ones((rows, cols), dtype=bool), diagonal) if lower else \
        xp.triu(xp.ones((rows, cols), dtype=bool), diagonal)
    return where(keep, x, 0)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (``j - i <= diagonal``), zeros above; the gradient is masked alike."""
    return _triangle("tril", x, diagonal, True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (``j - i >= diagonal``), zeros below."""
    return _triangle("triu", x, diagonal, False)


def clone(x: Tensor) -> Tensor:
    return Copy()(x)


def astype(x: Tensor, dtype: Any) -> Tensor:
    if x.dtype == np.dtype(dtype):
        return x
    return Copy(dtype=dtype)(x)


def to_backend(x: Tensor, backend: Backend) -> Tensor:
    if x.backend is backend:
        return x
    return Copy(target=backend)(x)
