"""``minidl.accelerator``: PyTorch's device-agnostic questions (``torch.accelerator``).

The only accelerator minidl drives is an NVIDIA GPU (backends ``cupy`` and ``numba-cuda``).

>>> import minidl
>>> dev = minidl.accelerator.current_accelerator() if minidl.accelerator.is_available() else minidl.device("cpu")
>>> dev.type in ("cpu", "cuda")
True
"""

from __future__ import annotations

from minidl.device import device, gpu_available


def is_available() -> bool:
    """True when an accelerator (a GPU backend) can run here."""
    return gpu_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device('cuda')`` when a GPU backend can run here, else None (PyTorch's convention)."""
    return device("cuda") if gpu_available() else None


def device_count() -> int:
    """1 when a GPU backend can run here (minidl uses one GPU), else 0."""
    return 1 if gpu_available() else 0


def synchronize(device_index: int | None = None) -> None:
    """Wait for every kernel queued on the accelerator."""
    from minidl import cuda
    cuda.synchronize()
