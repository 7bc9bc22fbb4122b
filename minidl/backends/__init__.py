"""Backend registry and the scoped default backend.

A Tensor carries its backend explicitly (NumPy and Numba both use numpy arrays, so the array
type alone cannot tell them apart). The default below is read only when a tensor is *created*
without ``backend=``; ops always use the backends of their inputs.

>>> import minidl
>>> with minidl.use_backend("numpy"):
...     minidl.zeros(2).backend.name
'numpy'
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator

from minidl.backends.base import KERNELS, Backend
from minidl.errors import BackendUnavailableError

# name -> (module, class, extra that installs its package)
_KNOWN: dict[str, tuple[str, str, str | None]] = {
    "numpy": ("minidl.backends.numpy_backend", "NumpyBackend", None),
    "numba": ("minidl.backends.numba_backend", "NumbaBackend", "numba"),
    "cupy": ("minidl.backends.cupy_backend", "CupyBackend", "cupy"),
    "numba-cuda": ("minidl.backends.numba_cuda_backend", "NumbaCudaBackend", "cuda"),
}
_instances: dict[str, Backend] = {}
_default: contextvars.ContextVar[str] = contextvars.ContextVar("minidl_default_backend", default="numpy")

__all__ = ["KERNELS", "Backend", "available", "get_backend", "use_backend", "default_backend", "known"]


def known() -> list[str]:
    """Names of every backend minidl knows about, installed or not."""
    return list(_KNOWN)


def get_backend(name: str | Backend | None = None) -> Backend:
    """Return the backend called ``name`` (the scoped default when None).

    Raises BackendUnavailableError naming the extra to install when its package is missing,
    or saying so when the package is there but no device is; never falls back silently.
    """
    if isinstance(name, Backend):
        return name
    if name is None:
        name = _default.get()
    backend = _instances.get(name)
    if backend is not None:
        return backend
    if name not in _KNOWN:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_KNOWN)}")
    module_name, class_name, extra = _KNOWN[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise BackendUnavailableError(f"backend {name!r} is not implemented in this version of minidl") from e
        raise BackendUnavailableError(
            f"backend {name!r} needs the package {e.name!r}: pip install 'minidl[{extra}]'"
        ) from e
    backend = getattr(module, class_name)()  # a GPU backend raises here when no device exists
    _instances[name] = backend
    return backend


def available() -> list[str]:
    """Names of the backends that can be used on this machine right now."""
    names = []
    for name in _KNOWN:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def default_backend() -> Backend:
    """The backend new tensors are created on (``numpy`` unless inside ``use_backend``)."""
    return get_backend(_default.get())


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Create tensors on backend ``name`` inside the ``with`` block (scoped by contextvars)."""
    backend = get_backend(name)  # fail early, at the `with` line
    token = _default.set(backend.name)
    try:
        yield backend
    finally:
        _default.reset(token)
