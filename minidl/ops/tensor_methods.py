"""The Tensor's methods that compute: each one forwards to an op of ``minidl.ops``.

``minidl/tensor.py`` holds what a Tensor *is* (an array, its backend, autograd's bookkeeping) and
imports no op. The methods that *compute* (``x + y``, ``x.sum(1)``, ``x.transpose(0, 1)``,
``x.add_(y)``, ``x.to("cuda")``, ...) are written here, in the class ``TensorMethods``, and
``install`` puts them on ``Tensor`` when ``minidl.ops`` is imported (DeZero's ``setup_variable``).
So the modules import each other in one direction only (tensor <- autograd <- ops), and
``a * b`` is exactly ``minidl.mul(a, b)``.

Reductions take PyTorch's ``dim``/``keepdim``; NumPy's ``axis``/``keepdims`` are accepted as
aliases, as PyTorch does.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import (
    autograd,
    creation,
    ops,  # (the package being imported: its submodules are loaded before install runs)
)
from minidl.device import backend_for, parse_to_args
from minidl.dtypes import bfloat16
from minidl.tensor import Tensor, TensorHooks

# PyTorch's legacy type names, for ``x.type()``.
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
               "bfloat16": "BFloat16Tensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
               "uint8": "ByteTensor", "bool": "BoolTensor"}


class TensorMethods:
    """Every computing method of ``Tensor`` (installed on it by ``install``; never instantiated)."""

    def backward(self, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Compute gradients of this tensor w.r.t. every leaf; see ``minidl.autograd.backward``."""
        autograd.backward(self, gradient, retain_graph, create_graph)

    def register_hook(self, hook: Any) -> autograd.RemovableHandle:
        """Call ``hook(grad)`` each time the gradient of this tensor is computed (PyTorch's ``register_hook``).

        ``hook`` may return a Tensor of the same shape to use instead of ``grad`` from then on (what the
        rest of backward sees and what a leaf's ``.grad`` receives), or None to leave it. On a non-leaf it
        runs before the gradient flows on to the op that made the tensor; on a leaf, once its last
        gradient has arrived, before ``.grad`` is filled. ``handle.remove()`` takes the hook away.

        >>> import minidl
        >>> x = minidl.tensor([1.0, 2.0], requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([20., 40.])
        >>> h.remove()
        """
        return autograd.register_tensor_hook(self, hook)

    def retain_grad(self) -> None:
        """Fill ``.grad`` of this non-leaf tensor in backward, as for a leaf (a no-op on a leaf).

        >>> import minidl
        >>> x = minidl.tensor([1.0, 2.0], requires_grad=True)
        >>> h = x * 3
        >>> h.retain_grad()
        >>> (h * h).sum().backward()
        >>> h.grad
        tensor([ 6., 12.])
        """
        if not self.requires_grad:
            raise RuntimeError("retain_grad: cannot retain the gradient of a tensor that does not require grad")
        if self.creator is None:
            return
        if self._hooks is None:
            self._hooks = TensorHooks()
        self._hooks.retain = True

    def contiguous(self) -> Tensor:
        """Self when its memory is C-contiguous, else a contiguous copy (which stays in the graph)."""
        return self if self.is_contiguous() else ops.shape.clone(self)

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (its gradient flows back to ``self``)."""
        return ops.shape.clone(self)

    def to(self, *args: Any, dtype: Any = None, device: Any = None, non_blocking: builtins.bool = False,
           copy: builtins.bool = False) -> Tensor:
        """PyTorch's ``to``: ``x.to("cuda")``, ``x.to(minidl.float64)``, ``x.to(other)``, ``x.to(device, dtype)``.

        A device (``"cpu"``, ``"cuda:0"``, ``minidl.device(...)``) or a backend name (``"numba"``)
        moves the tensor (a copy across devices; it stays in the graph); a dtype casts it; a tensor
        gives both of its own. Returns ``self`` when nothing changes (unless ``copy=True``).
        ``non_blocking`` is accepted and has no effect.
        """
        device, dtype = parse_to_args(args, device, dtype)
        out = self
        if device is not None:
            out = ops.shape.to_backend(out, backend_for(device, self.backend))
        if dtype is not None:
            out = ops.shape.astype(out, _dtype("to", dtype))
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """This tensor on the CPU (``self`` if it is already there)."""
        return self.to("cpu")

    def cuda(self, device: Any = None, non_blocking: builtins.bool = False) -> Tensor:
        """This tensor on the GPU backend (cupy, else numba-cuda); an error when none can run here."""
        return self.to("cuda")

    def type(self, dtype: Any = None) -> str | Tensor:
        """``x.type()`` names the type PyTorch's way ('minidl.FloatTensor'); ``x.type(dtype)`` casts."""
        if dtype is None:
            return "minidl." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
        if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1] in _TYPE_NAMES.values():
            name = dtype.rsplit(".", 1)[-1]
            dtype = next(k for k, v in _TYPE_NAMES.items() if v == name)
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def bfloat16(self) -> Tensor:
        """This tensor in bfloat16 (rounded to nearest even, as ``torch.Tensor.bfloat16``)."""
        return self.to(bfloat16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.elementwise.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.elementwise.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.compare.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.compare.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return ops.compare.remainder(self, other)

    def __pow__(self, other: Any) -> Tensor:
        return ops.elementwise.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.elementwise.pow(other, self)

    def __neg__(self) -> Tensor:
        return ops.elementwise.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.elementwise.abs(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul.matmul(other, self)

    # In-place operators change this tensor's memory (as in PyTorch, so ``p -= lr * p.grad`` updates p).
    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # comparisons give bool tensors (no gradient), like PyTorch
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.compare.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return ops.compare.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.compare.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.compare.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.compare.ge(self, other)

    def __invert__(self) -> Tensor:
        return ops.compare.logical_not(self)

    def __and__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_or(self, other)

    def __xor__(self, other: Any) -> Tensor:
        return ops.compare.bitwise_xor(self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__
    __hash__ = object.__hash__

    # the same as methods (PyTorch spells them both ways)
    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return ops.elementwise.divide(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent: Any) -> Tensor:
        return ops.elementwise.pow(self, exponent)

    def neg(self) -> Tensor:
        return ops.elementwise.neg(self)

    def eq(self, other: Any) -> Tensor:
        return ops.compare.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return ops.compare.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return ops.compare.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return ops.compare.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return ops.compare.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return ops.compare.ge(self, other)

    def equal(self, other: Tensor) -> builtins.bool:
        """True when both tensors have the same shape and the same values."""
        return tuple(self.shape) == tuple(other.shape) and builtins.bool((self.array == other.array).all())

    def allclose(self, other: Tensor, rtol: builtins.float = 1e-5, atol: builtins.float = 1e-8,
                 equal_nan: builtins.bool = False) -> builtins.bool:
        return builtins.bool(self.backend.xp.allclose(self.array, other.array, rtol, atol, equal_nan))

    def logical_not(self) -> Tensor:
        return ops.compare.logical_not(self)

    def isnan(self) -> Tensor:
        return ops.compare.isnan(self)

    def isinf(self) -> Tensor:
        return ops.compare.isinf(self)

    def isfinite(self) -> Tensor:
        return ops.compare.isfinite(self)

    def all(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        return ops.compare.all(self, dim, keepdim)

    def any(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        return ops.compare.any(self, dim, keepdim)

    # ------------------------------------------------------------------ math methods
    def exp(self) -> Tensor:
        return ops.elementwise.exp(self)

    def log(self) -> Tensor:
        return ops.elementwise.log(self)

    def log1p(self) -> Tensor:
        return ops.elementwise.log1p(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.sqrt(self)

    def rsqrt(self) -> Tensor:
        return 1.0 / ops.elementwise.sqrt(self)

    def square(self) -> Tensor:
        return ops.elementwise.mul(self, self)

    def sin(self) -> Tensor:
        return ops.elementwise.sin(self)

    def cos(self) -> Tensor:
        return ops.elementwise.cos(self)

    def tanh(self) -> Tensor:
        return ops.elementwise.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.elementwise.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.elementwise.relu(self)

    def abs(self) -> Tensor:
        return ops.elementwise.abs(self)

    def sign(self) -> Tensor:
        return ops.compare.sign(self)

    def floor(self) -> Tensor:
        return ops.compare.floor(self)

    def ceil(self) -> Tensor:
        return ops.compare.ceil(self)

    def round(self, decimals: builtins.int = 0) -> Tensor:
        return ops.compare.round(self, decimals)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.elementwise.clip(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return ops.elementwise.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.elementwise.minimum(self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """``value`` where ``mask`` is true, ``self`` elsewhere (``mask`` broadcasts against self)."""
        return ops.elementwise.where(mask, value, self)

    def matmul(self, other: Any) -> Tensor:
        return ops.matmul.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        """Matrix product of two 2-d tensors."""
        return ops.matmul.mm(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        """Batched matrix product of two 3-d tensors."""
        return ops.matmul.bmm(self, other)

    def dot(self, other: Tensor) -> Tensor:
        return ops.matmul.dot(self, other)

    def softmax(self, dim: builtins.int = -1) -> Tensor:
        return ops.softmax.softmax(self, dim)

    def log_softmax(self, dim: builtins.int = -1) -> Tensor:
        return ops.softmax.log_softmax(self, dim)

    # ------------------------------------------------------------------ reductions
    # Reductions take PyTorch's dim/keepdim; NumPy's axis/keepdims are accepted as aliases (as PyTorch does).
    def sum(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None, axis: Any = None,
            keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.sum(self if dtype is None else self.to(dtype), dim, keepdim)

    def mean(self, dim: Any = None, keepdim: builtins.bool = False, *, dtype: Any = None, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.mean(self if dtype is None else self.to(dtype), dim, keepdim)

    def var(self, dim: Any = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False, *,
            correction: builtins.int | None = None, axis: Any = None, keepdims: builtins.bool | None = None) -> Tensor:
        """Variance; the unbiased estimator (``correction=1``) by default, as in PyTorch."""
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.var(self, dim, keepdim, correction=_correction(unbiased, correction))

    def std(self, dim: Any = None, unbiased: builtins.bool | None = None, keepdim: builtins.bool = False, *,
            correction: builtins.int | None = None, axis: Any = None, keepdims: builtins.bool | None = None) -> Tensor:
        """Standard deviation; the unbiased estimator (``correction=1``) by default, as in PyTorch."""
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.std(self, dim, keepdim, correction=_correction(unbiased, correction))

    def prod(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor:
        return ops.reduce.prod(self, dim, keepdim)

    def max(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: builtins.bool | None = None) -> Any:
        """``x.max()``: the largest value; ``x.max(dim)``: ``(values, indices)``; ``x.max(other)``: elementwise."""
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.sort.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: builtins.bool | None = None) -> Any:
        """``x.min()``: the smallest value; ``x.min(dim)``: ``(values, indices)``; ``x.min(other)``: elementwise."""
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.sort.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        """Largest values over ``dim`` (values only; several dims allowed)."""
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.amax(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.amin(self, dim, keepdim)

    def logsumexp(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
                  keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.reduce.logsumexp(self, dim, keepdim)

    def argmax(self, dim: builtins.int | None = None, keepdim: builtins.bool = False, *,
               axis: builtins.int | None = None, keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.compare.argmax(self, dim, keepdim)

    def argmin(self, dim: builtins.int | None = None, keepdim: builtins.bool = False, *,
               axis: builtins.int | None = None, keepdims: builtins.bool | None = None) -> Tensor:
        dim, keepdim = _alias(dim, keepdim, axis, keepdims)
        return ops.compare.argmin(self, dim, keepdim)

    def sort(self, dim: builtins.int = -1, descending: builtins.bool = False, stable: builtins.bool = False) -> Any:
        return ops.sort.sort(self, dim, descending, stable)

    def argsort(self, dim: builtins.int = -1, descending: builtins.bool = False,
                stable: builtins.bool = False) -> Tensor:
        return ops.sort.argsort(self, dim, descending, stable)

    def topk(self, k: builtins.int, dim: builtins.int = -1, largest: builtins.bool = True,
             sorted: builtins.bool = True) -> Any:
        return ops.sort.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: builtins.int, dim: builtins.int = -1, keepdim: builtins.bool = False) -> Any:
        return ops.sort.kthvalue(self, k, dim, keepdim)

    def median(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Any:
        return ops.sort.median(self, dim, keepdim)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        return ops.reduce.norm(self, p, dim, keepdim)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return ops.shape.view(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        return ops.shape.view(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """Swap two dimensions (PyTorch's transpose; ``permute`` reorders all of them)."""
        return ops.shape.transpose(self, dim0, dim1)

    swapaxes = swapdims = transpose

    def permute(self, *dims: Any) -> Tensor:
        return ops.shape.permute(self, *dims)

    def t(self) -> Tensor:
        """Transpose of a tensor of at most 2 dimensions."""
        return ops.shape.t(self)

    @property
    def T(self) -> Tensor:
        """All dimensions reversed."""
        return ops.shape.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        """The last two dimensions swapped (a batch of matrices transposed)."""
        return ops.shape.transpose(self, -1, -2)

    def expand(self, *sizes: Any) -> Tensor:
        return ops.shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.shape.expand(self, other.shape)

    def broadcast_to(self, shape: Sequence[builtins.int]) -> Tensor:
        return ops.shape.broadcast_to(self, shape)

    def repeat(self, *sizes: Any) -> Tensor:
        """PyTorch's repeat: tile the tensor ``sizes[i]`` times along dim i (numpy's ``tile``)."""
        return ops.shape.repeat(self, *sizes)

    def repeat_interleave(self, repeats: builtins.int, dim: builtins.int | None = None) -> Tensor:
        """Repeat each element ``repeats`` times along ``dim`` (numpy's ``repeat``)."""
        return ops.shape.repeat_interleave(self, repeats, dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        return ops.shape.squeeze(self, dim)

    def unsqueeze(self, dim: builtins.int) -> Tensor:
        return ops.shape.unsqueeze(self, dim)

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: builtins.int, sizes: Sequence[builtins.int]) -> Tensor:
        d = self._dim(dim, "unflatten")
        return ops.shape.reshape(self, tuple(self.shape[:d]) + tuple(sizes) + tuple(self.shape[d + 1:]))

    def narrow(self, dim: builtins.int, start: builtins.int, length: builtins.int) -> Tensor:
        """The slice ``start:start+length`` of dimension ``dim``."""
        return ops.shape.narrow(self, dim, start, length)

    def split(self, split_size_or_sections: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return ops.shape.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return ops.shape.chunk(self, chunks, dim)

    def unbind(self, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return ops.shape.unbind(self, dim)

    def tril(self, diagonal: builtins.int = 0) -> Tensor:
        return ops.shape.tril(self, diagonal)

    def triu(self, diagonal: builtins.int = 0) -> Tensor:
        return ops.shape.triu(self, diagonal)

    def gather(self, dim: builtins.int, index: Any) -> Tensor:
        return ops.index.gather(self, dim, index)

    def index_select(self, dim: builtins.int, index: Any) -> Tensor:
        return ops.index.index_select(self, dim, index)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.index.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``: in place (see ``copy_``), refused where gradients are tracked."""
        ops.inplace.setitem(self, index, value)

    # ------------------------------------------------------------------ new tensors like this one
    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> Tensor:
        return creation.tensor(data, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad,
                               backend=self.backend)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> Tensor:
        return creation.zeros(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad,
                              backend=self.backend)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> Tensor:
        return creation.ones(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad,
                             backend=self.backend)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: builtins.bool = False) -> Tensor:
        return creation.empty(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad,
                              backend=self.backend)

    def new_full(self, size: Sequence[builtins.int], fill_value: Any, dtype: Any = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        return creation.full(size, fill_value, dtype=self.dtype if dtype is None else dtype,
                             requires_grad=requires_grad, backend=self.backend)

    # ------------------------------------------------------------------ in-place ops (minidl/ops/ops.inplace.py)
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.inplace.apply(self, "add_", ops.elementwise.add, other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.inplace.apply(self, "sub_", ops.elementwise.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        return ops.inplace.apply(self, "mul_", ops.elementwise.mul, other)

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return ops.inplace.apply(self, "div_", ops.elementwise.divide, other, rounding_mode=rounding_mode)

    def pow_(self, exponent: Any) -> Tensor:
        return ops.inplace.apply(self, "pow_", ops.elementwise.pow, exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.inplace.apply(self, "clamp_", ops.elementwise.clip, min, max)

    clip_ = clamp_

    def neg_(self) -> Tensor:
        return ops.inplace.apply(self, "neg_", ops.elementwise.neg)

    def exp_(self) -> Tensor:
        return ops.inplace.apply(self, "exp_", ops.elementwise.exp)

    def sqrt_(self) -> Tensor:
        return ops.inplace.apply(self, "sqrt_", ops.elementwise.sqrt)

    def relu_(self) -> Tensor:
        return ops.inplace.apply(self, "relu_", ops.elementwise.relu)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        return ops.inplace.apply(self, "masked_fill_", lambda x: ops.elementwise.where(mask, value, x))

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return ops.inplace.apply(self, "addcmul_", ops.elementwise.add, tensor1 * tensor2 * value)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return ops.inplace.apply(self, "addcdiv_", ops.elementwise.add, tensor1 / tensor2 * value)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        return ops.inplace.apply(self, "lerp_", lambda x: x + (end - x) * weight)

    def copy_(self, src: Any, non_blocking: builtins.bool = False) -> Tensor:
        """Copy ``src``'s values into this tensor's memory (broadcast, cast to this dtype, across backends)."""
        return ops.inplace.copy_(self, src)

    def fill_(self, value: Any) -> Tensor:
        return ops.inplace.fill_(self, value)

    def zero_(self) -> Tensor:
        return ops.inplace.fill_(self, 0)

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *, generator: Any = None) -> Tensor:
        return ops.inplace.random_(self, "normal_", "normal", mean, std, generator)

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0, *, generator: Any = None) -> Tensor:
        return ops.inplace.random_(self, "uniform_", "uniform", a, b, generator)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self.creator, self.generation, self._requires_grad = None, 0, False
        return self


def _alias(dim: Any, keepdim: builtins.bool, axis: Any, keepdims: builtins.bool | None) -> tuple[Any, builtins.bool]:
    """Accept NumPy's ``axis=`` / ``keepdims=`` as aliases of PyTorch's ``dim`` / ``keepdim``."""
    return (axis if dim is None else dim), (keepdim if keepdims is None else keepdims)


def _correction(unbiased: builtins.bool | None, correction: builtins.int | None) -> builtins.int:
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def _dtype(op: str, dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: expected a device ('cpu', 'cuda'), a backend name, a dtype or a Tensor, "
                        f"got {dtype!r}") from None


def install(tensor_class: type) -> None:
    """Put every method and property of ``TensorMethods`` on ``tensor_class`` (called once, by minidl.ops)."""
    for name, member in vars(TensorMethods).items():
        if callable(member) or isinstance(member, property):
            setattr(tensor_class, name, member)
