"""Creating tensors: ``tensor``, ``zeros``, ``ones``, ``arange``, ``randn``, ... and ``*_like``.

Every function takes ``dtype`` (float32 by default for floats, like PyTorch), ``requires_grad``,
and where to put the tensor: PyTorch's ``device`` (``"cpu"``, ``"cuda"``, see ``minidl.device``) or
minidl's ``backend`` (``"numpy"``, ``"numba"``, ...); the scoped default from ``minidl.use_backend``
when neither is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.device import backend_for
from minidl.dtypes import bool_, float16, float32, float64, int32, int64  # noqa: F401  (re-exported)
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor


def factory_backend(backend: str | Backend | None, device: Any) -> Backend:
    """The backend that ``backend=`` or ``device=`` names (one of them, or the scoped default).

    Every function here and every layer's constructor takes both: PyTorch's ``device`` and minidl's
    ``backend``.
    """
    if device is None:
        return get_backend(backend)
    chosen = backend_for(device)
    if backend is not None and get_backend(backend) is not chosen:
        raise ValueError(f"device={device!r} and backend={backend!r} name different backends; give one of them")
    return chosen


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def _make(array: np.ndarray | Any, requires_grad: bool, backend: str | Backend | None, device: Any = None) -> Tensor:
    be = factory_backend(backend, device)
    t = Tensor._wrap(be.asarray(array), be, False)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False,
           backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats become float32, like PyTorch)."""
    if isinstance(data, Tensor):
        data = data.backend.to_numpy(data.array)
    array = np.array(data, dtype=dtype)
    if dtype is None and array.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(np.float32)
    return _make(array, requires_grad, backend, device)


def as_tensor(data: Any, dtype: Any = None, backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a numpy array when dtype and backend allow."""
    if isinstance(data, Tensor) and dtype is None and (backend is None or get_backend(backend) is data.backend):
        return data
    if isinstance(data, np.ndarray):
        return _make(data if dtype is None else data.astype(dtype, copy=False), False, backend, device)
    return tensor(data, dtype=dtype, backend=backend)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (numpy backend), keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _make(array, False, "numpy")


def zeros(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(factory_backend(backend, device).xp.zeros(_shape(shape), dtype=dtype), requires_grad, backend, device)


def ones(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
         backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(factory_backend(backend, device).xp.ones(_shape(shape), dtype=dtype), requires_grad, backend, device)


def empty(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(factory_backend(backend, device).xp.empty(_shape(shape), dtype=dtype), requires_grad, backend, device)


def full(shape: Sequence[int] | int, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         backend: str | Backend | None = None, device: Any = None) -> Tensor:
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, int) and not isinstance(fill_value, bool) else float32
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    array = factory_backend(backend, device).xp.full(shape, fill_value, dtype=dtype)
    return _make(array, requires_grad, backend, device)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None, requires_grad: bool = False,
           backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """Like ``numpy.arange``; ints give int64, any float gives float32 unless ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return _make(np.arange(start, end, step, dtype=dtype), requires_grad, backend, device)


def linspace(start: float, end: float, steps: int, dtype: Any = float32, requires_grad: bool = False,
             backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(np.linspace(start, end, steps, dtype=dtype), requires_grad, backend, device)


def eye(n: int, m: int | None = None, dtype: Any = float32, requires_grad: bool = False,
        backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(np.eye(n, m, dtype=dtype), requires_grad, backend, device)


def rand(*shape: Any, dtype: Any = float32, generator: Generator | None = None, requires_grad: bool = False,
         backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _make(get_generator(generator).uniform(_shape(shape)).astype(dtype), requires_grad, backend, device)


def randn(*shape: Any, dtype: Any = float32, generator: Generator | None = None, requires_grad: bool = False,
          backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """Standard normal samples."""
    return _make(get_generator(generator).normal(_shape(shape)).astype(dtype), requires_grad, backend, device)


def randint(low: int, high: int | Sequence[int] | None = None, size: Sequence[int] | None = None, *,
            dtype: Any = np.int64, generator: Generator | None = None, requires_grad: bool = False,
            backend: str | Backend | None = None, device: Any = None) -> Tensor:
    """Integers drawn uniformly from [low, high); PyTorch's two forms: ``randint(low, high, size)`` and
    ``randint(high, size)`` (low = 0)."""
    if size is None:
        if high is None or isinstance(high, int):
            raise TypeError("randint: expected randint(high, size) or randint(low, high, size); size is missing")
        low, high, size = 0, low, high
    size = (size,) if isinstance(size, int) else tuple(size)
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    return _make(get_generator(generator).integers(low, high, size).astype(dtype), False, backend, device)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Draw ``num_samples`` indices per row with probabilities proportional to the row's (non-negative)
    weights, like ``torch.multinomial``; without replacement, an index is drawn at most once per row."""
    weights = np.asarray(input.backend.to_numpy(input.array), dtype=np.float64)
    rows = weights.reshape(1, -1) if weights.ndim == 1 else weights
    if weights.ndim not in (1, 2) or (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
        raise ValueError(f"multinomial: expected a 1-d or 2-d tensor of non-negative finite weights with a "
                         f"positive sum per row, got shape {tuple(input.shape)}")
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{rows.shape[1]} categories")
    g = get_generator(generator).np
    out = np.stack([g.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return _make(out.reshape(num_samples) if weights.ndim == 1 else out, False, input.backend)


def randperm(n: int, generator: Generator | None = None,
             backend: str | Backend | None = None, device: Any = None) -> Tensor:
    return _make(get_generator(generator).permutation(n).astype(np.int64), False, backend, device)


def _like(x: Tensor, dtype: Any, backend: Any, device: Any = None) -> tuple[tuple[int, ...], Any, Any]:
    """Shape, dtype and backend of a new tensor like ``x`` (``device=`` or ``backend=`` override x's)."""
    if backend is None and device is not None:
        backend = backend_for(device, x.backend)
    return x.shape, (x.dtype if dtype is None else dtype), (x.backend if backend is None else backend)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False,
               backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False,
              backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return ones(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def empty_like(x: Tensor, dtype: Any = None, requires_grad: bool = False,
               backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return empty(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def full_like(x: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False,
              backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad, backend=backend)


def rand_like(x: Tensor, dtype: Any = None, generator: Generator | None = None, requires_grad: bool = False,
              backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return rand(shape, dtype=dtype, generator=generator, requires_grad=requires_grad, backend=backend)


def randn_like(x: Tensor, dtype: Any = None, generator: Generator | None = None, requires_grad: bool = False,
               backend: Any = None, device: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend, device)
    return randn(shape, dtype=dtype, generator=generator, requires_grad=requires_grad, backend=backend)
