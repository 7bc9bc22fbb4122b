"""``torch.backends.mps`` for PyTorch programs that ask about Apple's GPU: minidl has no MPS backend.

>>> import minidl
>>> minidl.backends.mps.is_available()
False
"""


def is_available() -> bool:
    """False: minidl computes on the CPU (numpy, numba) or an NVIDIA GPU (cupy, numba-cuda)."""
    return False


def is_built() -> bool:
    """False: minidl is not built with MPS support."""
    return False
