"""``minidl.cuda``: PyTorch's ``torch.cuda`` questions, answered by minidl's GPU backends.

>>> import minidl
>>> minidl.cuda.is_available() in (True, False)
True
"""

from __future__ import annotations

from minidl.device import GPU_BACKENDS, backend_for, gpu_available
from minidl.random import manual_seed as _manual_seed


def is_available() -> bool:
    """True when a GPU backend (``cupy`` or ``numba-cuda``) can run here."""
    return gpu_available()


def device_count() -> int:
    """How many GPUs minidl can use: minidl uses one GPU (device 0), so 1 when one is available, else 0."""
    return 1 if gpu_available() else 0


def current_device() -> int:
    """The index of the GPU minidl uses (always 0)."""
    return 0


def get_device_name(device: int | str | None = None) -> str:
    """The GPU's name as its driver reports it (an error naming why when no GPU backend can run here)."""
    backend = backend_for("cuda")  # raises BackendUnavailableError with both backends' reasons
    if backend.name == "cupy":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    else:
        from numba import cuda

        name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize(device: int | str | None = None) -> None:
    """Wait for every kernel queued on the GPU (a no-op when no GPU backend is available)."""
    if gpu_available():
        backend_for("cuda").synchronize()


def manual_seed(seed: int) -> None:
    """Seed minidl's generator (one generator serves every backend)."""
    _manual_seed(seed)


manual_seed_all = manual_seed

__all__ = ["GPU_BACKENDS", "current_device", "device_count", "get_device_name", "is_available", "manual_seed",
           "manual_seed_all", "synchronize"]
