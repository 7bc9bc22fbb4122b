"""``torch.ao.quantization``'s path for ``minidl.quantization`` (one module, two names, as in PyTorch)."""

from minidl.quantization import *  # noqa: F403
from minidl.quantization import __all__  # noqa: F401
