"""Devices, PyTorch's way: ``minidl.device("cpu")``, ``"cuda"``, ``"cuda:0"``, mapped onto backends.

PyTorch names *where* a tensor lives (a device); minidl also names *which code* computes on it (a
backend). Two CPU backends (``numpy``, ``numba``) share the CPU, and two GPU backends (``cupy``,
``numba-cuda``) share the GPU, so a device picks a backend as follows:

* ``"cpu"``: the tensor's own backend if it is already a CPU backend, else the default backend if
  that is a CPU backend (``numba`` inside ``minidl.use_backend("numba")``), else ``numpy``;
* ``"cuda"``: the tensor's own backend if it is already a GPU backend, else the default backend if
  that is a GPU backend, else ``cupy``, else ``numba-cuda``; an error naming both reasons when
  neither can run here (never a silent fallback to the CPU).

Backend names (``"numpy"``, ``"numba"``, ``"cupy"``, ``"numba-cuda"``) are accepted wherever a
device is, and pick that backend exactly.

>>> import minidl
>>> minidl.device("cuda:0")
device(type='cuda', index=0)
>>> minidl.zeros(2).device
device(type='cpu')
>>> minidl.zeros(2).device == "cpu"
True
"""

from __future__ import annotations

from typing import Any

from minidl.backends import Backend, default_backend, get_backend, known
from minidl.errors import BackendUnavailableError

GPU_BACKENDS = ("cupy", "numba-cuda")


class device:  # noqa: N801  (PyTorch's name)
    """Where a tensor lives: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``, ``device("cuda", 0)``."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002  (PyTorch's name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        kind, _, number = type.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {type!r} "
                             f"(backend names go to .to() and backend=: {', '.join(known())})")
        if number:
            if index is not None or not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(number)
        if kind == "cpu" and index not in (None, 0):
            raise ValueError(f"device: the CPU has no index {index}")
        self.type = kind
        self.index = index

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


def device_of(backend: Backend) -> device:
    """The device a backend computes on: ``cuda:0`` for the GPU backends, ``cpu`` otherwise."""
    return device("cuda", 0) if backend.is_gpu else device("cpu")


def is_device_like(target: Any) -> bool:
    """True for a ``device``, a device string ('cpu', 'cuda:0') or a backend name or object."""
    if isinstance(target, device | Backend):
        return True
    if not isinstance(target, str):
        return False
    return target in known() or target.partition(":")[0] in ("cpu", "cuda")


def parse_to_args(args: tuple[Any, ...], device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """Sort the positional arguments of ``Tensor.to`` / ``Module.to`` into ``(device, dtype)``.

    Each argument is a device or backend name (``"cuda"``, ``"numba"``, ``minidl.device(...)``), a
    dtype, or a tensor, which gives both of its own (``x.to(other)``).
    """
    for arg in args:
        if hasattr(arg, "backend") and hasattr(arg, "dtype"):  # a Tensor (this module cannot import Tensor)
            device, dtype = arg.backend, arg.dtype
        elif is_device_like(arg):
            device = arg
        else:
            dtype = arg
    return device, dtype


def backend_for(target: str | device | Backend | None, current: Backend | None = None) -> Backend:
    """The backend that ``target`` (a device, a device string or a backend name) means.

    ``current`` is the backend a tensor is on now: a device that it already lives on keeps it.
    """
    if target is None:
        return current if current is not None else default_backend()
    if isinstance(target, Backend) or (isinstance(target, str) and target in known()):
        return get_backend(target)
    dev = device(target)
    want_gpu = dev.type == "cuda"
    if current is not None and current.is_gpu == want_gpu:
        return current
    default = default_backend()
    if default.is_gpu == want_gpu:
        return default
    if not want_gpu:
        return get_backend("numpy")
    reasons = []
    for name in GPU_BACKENDS:
        try:
            return get_backend(name)
        except BackendUnavailableError as e:
            reasons.append(f"{name}: {e}")
    raise BackendUnavailableError(f"device {str(dev)!r}: no GPU backend can run here ({'; '.join(reasons)})")


def gpu_available() -> bool:
    """Whether a GPU backend (cupy or numba-cuda) can run on this machine."""
    for name in GPU_BACKENDS:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        return True
    return False
