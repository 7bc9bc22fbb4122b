"""The Tensor: one array of a backend, plus what autograd needs to know about it.

A Tensor is a thin wrapper. The arithmetic is done by ops in ``minidl.ops``; the methods below
only forward to them, so that ``a * b`` and ``minidl.mul(a, b)`` are the same call.

* ``data`` - the array (numpy or cupy), ``backend`` - who owns it (NumPy and Numba both use
  numpy arrays, so the array type cannot tell them apart),
* ``requires_grad`` - whether gradients are tracked, ``grad`` - the accumulated gradient,
* ``creator`` - the Function that made this tensor (None for leaves), ``generation`` - its
  depth in the graph, used to order the backward walk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.errors import DTypeError


class Tensor:
    __slots__ = ("data", "backend", "_requires_grad", "grad", "creator", "generation", "name", "__weakref__")
    __array_ufunc__ = None  # numpy_array * tensor -> Tensor.__rmul__, not an object array

    def __init__(self, data: Any, requires_grad: bool = False, backend: str | Backend | None = None,
                 dtype: Any = None) -> None:
        """Prefer ``minidl.tensor(...)``; this constructor takes the same arguments."""
        be = get_backend(backend)
        if isinstance(data, Tensor):
            data = data.data
        array = be.asarray(data, dtype=dtype)
        if dtype is None and array.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
            array = array.astype(np.float32)  # Python floats become float32, like PyTorch
        self.data = array
        self.backend = be
        self.grad: Tensor | None = None
        self.creator = None
        self.generation = 0
        self.name: str | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array: Any, backend: Backend, requires_grad: bool) -> Tensor:
        """Fast internal constructor: no conversion, no checks (the hot path of every op)."""
        t = object.__new__(cls)
        t.data = array
        t.backend = backend
        t._requires_grad = requires_grad
        t.grad = None
        t.creator = None
        t.generation = 0
        t.name = None
        return t

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.creator is not None and not value:
            raise RuntimeError("requires_grad: use .detach() to stop gradients at a non-leaf tensor")
        if value and self.data.dtype.kind not in "fc":
            raise DTypeError(f"requires_grad: only floating point tensors can require gradients, got {self.dtype}")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def backward(self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Compute gradients of this tensor w.r.t. every leaf; see ``minidl.autograd.backward``."""
        autograd.backward(self, grad, retain_graph, create_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, like PyTorch)."""
        return Tensor._wrap(self.data, self.backend, False)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared memory on CPU backends). Fails if grad is tracked."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return self.backend.to_numpy(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.backend.to_numpy(self.data)
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self) -> float | int | bool:
        if self.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.backend.to_numpy(self.data).item()

    def tolist(self) -> Any:
        return self.backend.to_numpy(self.data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (its gradient flows back to ``self``)."""
        return ops.shape.clone(self)

    def to(self, backend: str | Backend) -> Tensor:
        """This tensor on another backend (a copy across devices; stays in the graph)."""
        return ops.shape.to_backend(self, get_backend(backend))

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype``; differentiable between float dtypes."""
        return ops.shape.astype(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

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

    # comparisons give bool tensors (no gradient), like numpy and PyTorch
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

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ math methods
    def exp(self) -> Tensor:
        return ops.elementwise.exp(self)

    def log(self) -> Tensor:
        return ops.elementwise.log(self)

    def log1p(self) -> Tensor:
        return ops.elementwise.log1p(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.sqrt(self)

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

    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.elementwise.clip(self, min, max)

    clamp = clip

    def matmul(self, other: Any) -> Tensor:
        return ops.matmul.matmul(self, other)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        return ops.reduce.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        return ops.reduce.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        return ops.reduce.var(self, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim)

    def std(self, axis: Any = None, keepdims: bool = False, *, correction: int = 1, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        return ops.reduce.std(self, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim)

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        return ops.reduce.max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
        return ops.reduce.min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
                  keepdim: bool | None = None) -> Tensor:
        return ops.reduce.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None) -> Tensor:
        return ops.compare.argmax(self, axis if dim is None else dim, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None) -> Tensor:
        return ops.compare.argmin(self, axis if dim is None else dim, keepdims)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return ops.softmax.softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return ops.softmax.log_softmax(self, axis if dim is None else dim)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        return ops.shape.transpose(self, *axes)

    def permute(self, *axes: Any) -> Tensor:
        return ops.shape.permute(self, *axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return ops.shape.swapaxes(self, axis1, axis2)

    @property
    def T(self) -> Tensor:
        return ops.shape.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return ops.shape.swapaxes(self, -1, -2)

    def expand(self, *shape: Any) -> Tensor:
        return ops.shape.expand(self, *shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return ops.shape.broadcast_to(self, shape)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return ops.shape.squeeze(self, axis if dim is None else dim)

    def unsqueeze(self, axis: int) -> Tensor:
        return ops.shape.unsqueeze(self, axis)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def split(self, split_size_or_sections: Any, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
        return ops.shape.split(self, split_size_or_sections, axis if dim is None else dim)

    def chunk(self, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
        return ops.shape.chunk(self, chunks, axis if dim is None else dim)

    def gather(self, axis: int, index: Any) -> Tensor:
        return ops.index.gather(self, axis, index)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.index.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """In-place assignment, allowed only where no gradient is tracked (it would be silently wrong)."""
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("__setitem__: in-place assignment to a tensor that requires grad; use torch-style "
                               "functional ops (where, cat) or do it inside minidl.no_grad()")
        self.data[ops.index.to_array_index(index, self.backend)] = value.data if isinstance(value, Tensor) else value

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        body = np.array2string(self.backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extras = []
        if self.dtype != np.float32 and self.dtype != np.int64 and self.dtype != np.bool_:
            extras.append(f"dtype={self.dtype}")
        if self.backend.name != "numpy":
            extras.append(f"backend={self.backend.name!r}")
        if self.creator is not None:
            extras.append(f"grad_fn=<{self.creator.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


# Bottom imports: the ops need the Tensor class defined above.
from minidl import autograd, ops  # noqa: E402
