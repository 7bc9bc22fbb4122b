"""Backend registry and the scoped default backend.

A Tensor carries its backend explicitly (NumPy and Numba both use numpy arrays, so the array
type alone cannot tell them apart). The default below is read only when a tensor is *created*
without ``backend=``; ops always use the backends of their inputs.

``use_backend`` works like ``torch.set_grad_enabled``: called plainly it sets the default for the
current context (thread or task), and as a ``with`` block it restores the previous default at the end.

>>> import minidl
>>> with minidl.use_backend("numpy"):
...     minidl.zeros(2).backend.name
'numpy'

Backends are created once per name, under a lock: two threads asking for ``"numba"`` at the same
moment get the same object (a module built in one thread accepts the other thread's tensors).
"""

from __future__ import annotations

import contextvars
import importlib
import threading
from types import TracebackType

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
_creating = threading.RLock()  # held while a backend is constructed (reentrant: a backend may ask for another)
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
    if backend is not None:  # the fast path: no lock once a backend exists
        return backend
    with _creating:
        backend = _instances.get(name)  # another thread may have created it while this one waited
        if backend is None:
            backend = _instances[name] = _create(name)
    return backend


def _create(name: str) -> Backend:
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
    return getattr(module, class_name)()  # a GPU backend raises here when no device exists


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
    """The backend new tensors are created on (``numpy`` unless ``use_backend`` set another)."""
    return get_backend(_default.get())


class use_backend:  # noqa: N801 (a function to its callers, like torch.set_grad_enabled)
    """Create new tensors on backend ``name``: as a plain call for the rest of the current context,
    or inside a ``with`` block, which restores the previous default when it ends.

    The name is checked at once: an unknown name raises ValueError, a backend whose package or
    device is missing raises BackendUnavailableError. Nothing falls back silently.

    >>> import minidl
    >>> with minidl.use_backend("numpy") as backend:
    ...     backend.name
    'numpy'
    >>> minidl.use_backend("tpu")
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'tpu'; known backends: numpy, ...
    """

    def __init__(self, name: str | Backend) -> None:
        self.backend = get_backend(name)  # fail early, at the user's line
        self._token: contextvars.Token[str] | None = _default.set(self.backend.name)

    def __enter__(self) -> Backend:
        if self._token is None:  # entered again after an earlier `with` ended
            self._token = _default.set(self.backend.name)
        return self.backend

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            _default.reset(self._token)
            self._token = None

    def __repr__(self) -> str:
        return f"use_backend({self.backend.name!r})"


# PyTorch programs ask ``torch.backends.mps.is_available()`` and set ``torch.backends.cudnn.benchmark``.
from minidl.backends import cudnn, mps  # noqa: E402, F401
