"""Mixed precision (PyTorch's ``torch.amp``): ``autocast`` and ``GradScaler``.

``autocast`` runs matmul/linear/conv/attention in float16 or bfloat16 and keeps the numerically
delicate ops in float32 (``minidl/amp/autocast.py``); ``GradScaler`` multiplies the loss before
backward so that float16 gradients do not underflow, and skips the steps whose gradients overflowed
(``minidl/amp/grad_scaler.py``). Parameters stay float32 throughout.
"""

from minidl.amp.autocast import autocast, get_autocast_dtype
from minidl.amp.grad_scaler import GradScaler
from minidl.autograd import is_autocast_enabled

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
