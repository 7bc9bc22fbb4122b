"""Creating tensors: ``tensor``, ``zeros``, ``ones``, ``arange``, ``randn``, ... and ``*_like``.

Every function takes ``dtype`` (float32 by default for floats, like PyTorch), ``requires_grad``
and ``backend`` (the scoped default from ``minidl.use_backend`` when None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor

float32, float64, float16 = np.float32, np.float64, np.float16
int32, int64, bool_ = np.int32, np.int64, np.bool_


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def _make(array: np.ndarray | Any, requires_grad: bool, backend: str | Backend | None) -> Tensor:
    be = get_backend(backend)
    t = Tensor._wrap(be.asarray(array), be, False)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, backend: str | Backend | None = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats become float32, like PyTorch)."""
    if isinstance(data, Tensor):
        data = data.backend.to_numpy(data.data)
    array = np.array(data, dtype=dtype)
    if dtype is None and array.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
        array = array.astype(np.float32)
    return _make(array, requires_grad, backend)


def as_tensor(data: Any, dtype: Any = None, backend: str | Backend | None = None) -> Tensor:
    """Like ``tensor`` but shares memory with a numpy array when dtype and backend allow."""
    if isinstance(data, Tensor) and dtype is None and (backend is None or get_backend(backend) is data.backend):
        return data
    if isinstance(data, np.ndarray):
        return _make(data if dtype is None else data.astype(dtype, copy=False), False, backend)
    return tensor(data, dtype=dtype, backend=backend)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (numpy backend), keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _make(array, False, "numpy")


def zeros(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          backend: str | Backend | None = None) -> Tensor:
    return _make(get_backend(backend).xp.zeros(_shape(shape), dtype=dtype), requires_grad, backend)


def ones(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
         backend: str | Backend | None = None) -> Tensor:
    return _make(get_backend(backend).xp.ones(_shape(shape), dtype=dtype), requires_grad, backend)


def empty(*shape: Any, dtype: Any = float32, requires_grad: bool = False,
          backend: str | Backend | None = None) -> Tensor:
    return _make(get_backend(backend).xp.empty(_shape(shape), dtype=dtype), requires_grad, backend)


def full(shape: Sequence[int] | int, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         backend: str | Backend | None = None) -> Tensor:
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, int) and not isinstance(fill_value, bool) else float32
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(get_backend(backend).xp.full(shape, fill_value, dtype=dtype), requires_grad, backend)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None, requires_grad: bool = False,
           backend: str | Backend | None = None) -> Tensor:
    """Like ``numpy.arange``; ints give int64, any float gives float32 unless ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return _make(np.arange(start, end, step, dtype=dtype), requires_grad, backend)


def linspace(start: float, end: float, steps: int, dtype: Any = float32, requires_grad: bool = False,
             backend: str | Backend | None = None) -> Tensor:
    return _make(np.linspace(start, end, steps, dtype=dtype), requires_grad, backend)


def eye(n: int, m: int | None = None, dtype: Any = float32, requires_grad: bool = False,
        backend: str | Backend | None = None) -> Tensor:
    return _make(np.eye(n, m, dtype=dtype), requires_grad, backend)


def rand(*shape: Any, dtype: Any = float32, generator: Generator | None = None, requires_grad: bool = False,
         backend: str | Backend | None = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _make(get_generator(generator).uniform(_shape(shape)).astype(dtype), requires_grad, backend)


def randn(*shape: Any, dtype: Any = float32, generator: Generator | None = None, requires_grad: bool = False,
          backend: str | Backend | None = None) -> Tensor:
    """Standard normal samples."""
    return _make(get_generator(generator).normal(_shape(shape)).astype(dtype), requires_grad, backend)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), dtype: Any = np.int64,
            generator: Generator | None = None, backend: str | Backend | None = None) -> Tensor:
    """Integers in [low, high) (``randint(high, size=...)`` means low = 0)."""
    if high is None:
        low, high = 0, low
    return _make(get_generator(generator).integers(low, high, tuple(size)).astype(dtype), False, backend)


def randperm(n: int, generator: Generator | None = None, backend: str | Backend | None = None) -> Tensor:
    return _make(get_generator(generator).permutation(n).astype(np.int64), False, backend)


def _like(x: Tensor, dtype: Any, backend: Any) -> tuple[tuple[int, ...], Any, Any]:
    return x.shape, (x.dtype if dtype is None else dtype), (x.backend if backend is None else backend)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return ones(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def empty_like(x: Tensor, dtype: Any = None, requires_grad: bool = False, backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return empty(shape, dtype=dtype, requires_grad=requires_grad, backend=backend)


def full_like(x: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False,
              backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad, backend=backend)


def rand_like(x: Tensor, dtype: Any = None, generator: Generator | None = None, requires_grad: bool = False,
              backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return rand(shape, dtype=dtype, generator=generator, requires_grad=requires_grad, backend=backend)


def randn_like(x: Tensor, dtype: Any = None, generator: Generator | None = None, requires_grad: bool = False,
               backend: Any = None) -> Tensor:
    shape, dtype, backend = _like(x, dtype, backend)
    return randn(shape, dtype=dtype, generator=generator, requires_grad=requires_grad, backend=backend)
