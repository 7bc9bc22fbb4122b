"""``torch.backends.cudnn`` for PyTorch programs that set its flags: minidl does not use cuDNN.

The flags can be read and set (``minidl.backends.cudnn.benchmark = True``) and change nothing: the
GPU backends run their own kernels (``kernels/``) and cuBLAS, and are deterministic for a given
input except where a kernel's docstring says otherwise.
"""

enabled: bool = True
benchmark: bool = False
deterministic: bool = False


def is_available() -> bool:
    """False: minidl does not call cuDNN."""
    return False
