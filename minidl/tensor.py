"""The Tensor: one array of a backend, plus what autograd needs to know about it.

A Tensor is a thin wrapper. This file holds what a Tensor *is* and imports no op; the methods
that compute (``a * b``, ``x.sum(1)``, ...) forward to ops and live in ``minidl/ops/tensor_methods.py``,
which installs them on this class when ``minidl.ops`` is imported, so that ``a * b`` and
``minidl.mul(a, b)`` are the same call. The methods speak PyTorch's dialect (``x.size(0)``,
``x.transpose(0, 1)``, ``x.max(1)`` giving values and indices, ``.data``, ``.to("cuda")``);
``docs/pytorch-users.md`` lists the few deliberate differences.

* ``array`` - the raw array (numpy or cupy): what the library's own code computes on,
* ``data`` - PyTorch's ``.data``: the same memory as a Tensor cut from the graph,
* ``backend`` - who computes on it (NumPy and Numba both use numpy arrays, so the array type
  cannot tell them apart); ``device`` - where it lives (``cpu`` or ``cuda:0``),
* ``requires_grad`` - whether gradients are tracked, ``grad`` - the accumulated gradient,
* ``creator`` - the Function that made this tensor (None for leaves), ``generation`` - its
  depth in the graph, used to order the backward walk,
* ``_version`` - bumped by every in-place op, so backward can refuse a tensor that was changed
  after an op saved it (PyTorch's guard),
* ``_hooks`` - None, or the ``TensorHooks`` that ``register_hook`` / ``retain_grad`` gave it
  (the backward walk looks at nothing more on a tensor without hooks).
"""

from __future__ import annotations

import builtins
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.device import device_of
from minidl.dtypes import is_floating_point
from minidl.errors import DTypeError


class Size(tuple):
    """A tensor's shape: a tuple of ints, printed as PyTorch prints ``torch.Size``.

    >>> Size((2, 3))
    minidl.Size([2, 3])
    >>> Size((2, 3)) == (2, 3)
    True
    """

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"minidl.Size({list(self)})"

    def __str__(self) -> str:  # error messages read "got shape (4, 3)"
        return tuple.__repr__(self)


class TensorHooks:
    """A tensor's gradient hooks (``register_hook``), in registration order, and whether a non-leaf
    keeps its gradient in ``.grad`` (``retain_grad``)."""

    __slots__ = ("fns", "retain")

    def __init__(self) -> None:
        self.fns: OrderedDict[int, Any] = OrderedDict()  # handle id -> fn(grad) (an OrderedDict can be weakly held)
        self.retain = False


class Tensor:
    __slots__ = ("array", "backend", "_requires_grad", "grad", "creator", "generation", "name", "_version",
                 "_hooks", "__weakref__")
    __array_ufunc__ = None  # numpy_array * tensor -> Tensor.__rmul__, not an object array

    def __init__(self, data: Any, requires_grad: bool = False, backend: str | Backend | None = None,
                 dtype: Any = None) -> None:
        """Prefer ``minidl.tensor(...)``; this constructor takes the same arguments."""
        be = get_backend(backend)
        if isinstance(data, Tensor):
            data = data.array
        array = be.asarray(data, dtype=dtype)
        if dtype is None and array.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
            array = array.astype(np.float32)  # Python floats become float32, like PyTorch
        self.array = array
        self.backend = be
        self.grad: Tensor | None = None
        self.creator = None
        self.generation = 0
        self.name: str | None = None
        self._version = 0
        self._hooks: TensorHooks | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array: Any, backend: Backend, requires_grad: bool) -> Tensor:
        """Fast internal constructor: no conversion, no checks (the hot path of every op)."""
        t = object.__new__(cls)
        t.array = array
        t.backend = backend
        t._requires_grad = requires_grad
        t.grad = None
        t.creator = None
        t.generation = 0
        t.name = None
        t._version = 0
        t._hooks = None
        return t

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.creator is not None and not value:
            raise RuntimeError("requires_grad: use .detach() to stop gradients at a non-leaf tensor")
        if value and self.array.dtype.kind not in "fc" and not is_floating_point(self.array.dtype):
            raise DTypeError(f"requires_grad: only floating point tensors can require gradients, got {self.dtype}")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf whose ``.grad`` backward fills (``retain_grad()`` was called)."""
        return self._hooks is not None and self._hooks.retain and self.creator is not None

    @property
    def grad_fn(self) -> Any:
        """PyTorch's name for the Function that made this tensor (None for leaves)."""
        return self.creator

    def detach(self) -> Tensor:
        """The same memory, cut from the graph (like PyTorch)."""
        return Tensor._wrap(self.array, self.backend, False)

    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: the same memory as a Tensor outside the graph.

        In-place changes through it (``p.data.add_(...)``) reach ``p`` and are not seen by the
        in-place guard, as in PyTorch; prefer ``with minidl.no_grad():``. The raw array is ``.array``.
        """
        return Tensor._wrap(self.array, self.backend, False)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: assign a Tensor (got {type(value).__name__}); the raw array is .array")
        self.array, self.backend = value.array, value.backend

    # ------------------------------------------------------------------ shape and type facts
    @property
    def shape(self) -> Size:
        return Size(self.array.shape)

    def size(self, dim: int | None = None) -> Size | int:
        """The shape (``x.size()``), or the length of one dimension (``x.size(0)``)."""
        if dim is None:
            return Size(self.array.shape)
        return self.array.shape[self._dim(dim, "size")]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    ndimension = dim

    def numel(self) -> int:
        return self.array.size

    nelement = numel

    def element_size(self) -> int:
        return self.array.itemsize

    @property
    def nbytes(self) -> int:
        return self.array.nbytes

    @property
    def device(self) -> Any:
        """``device(type='cpu')`` for the numpy and numba backends, ``device(type='cuda', index=0)`` on a GPU."""
        return device_of(self.backend)

    @property
    def is_cuda(self) -> bool:
        return self.backend.is_gpu

    def is_contiguous(self) -> bool:
        return bool(self.array.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return is_floating_point(self.array.dtype)

    def _dim(self, dim: int, op: str) -> int:
        bound = builtins.max(self.ndim, 1)
        if not -bound <= dim < bound:
            raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {tuple(self.shape)} "
                             f"(expected a dim in [{-bound}, {bound - 1}])")
        return dim % bound

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversion and devices
    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared memory on CPU backends). Fails if grad is tracked."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return self.backend.to_numpy(self.array)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.backend.to_numpy(self.array)
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self) -> builtins.float | builtins.int | builtins.bool:
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {tuple(self.shape)}")
        return self.backend.to_numpy(self.array).item()

    def tolist(self) -> Any:
        return self.backend.to_numpy(self.array).tolist()

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __bool__(self) -> builtins.bool:
        return builtins.bool(self.item())

    def __index__(self) -> builtins.int:
        """Lets a one-element integer tensor index a list: ``classes[pred]``."""
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError(f"only integer tensors of a single element can be converted to an index, "
                            f"got dtype {self.dtype} and shape {tuple(self.shape)}")
        return builtins.int(self.item())

    def __format__(self, spec: str) -> str:
        if self.array.size == 1 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        body = np.array2string(self.backend.to_numpy(self.array), separator=", ", prefix="tensor(")
        extras = []
        if self.dtype != np.float32 and self.dtype != np.int64 and self.dtype != np.bool_:
            extras.append(f"dtype=minidl.{self.dtype}")
        if self.backend.is_gpu:
            extras.append("device='cuda:0'")
        if self.backend.name not in ("numpy", "cupy"):
            extras.append(f"backend={self.backend.name!r}")
        if self.creator is not None:
            extras.append(f"grad_fn=<{self.creator.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"
