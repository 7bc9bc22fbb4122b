"""``minidl.utils``: PyTorch's ``torch.utils`` paths; ``minidl.utils.data`` is :mod:`minidl.data`'s API.

>>> import minidl
>>> minidl.utils.data.DataLoader is minidl.data.DataLoader
True
"""

from minidl.utils import data

__all__ = ["data"]
