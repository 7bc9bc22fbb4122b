"""``minidl.utils.data``: the objects of :mod:`minidl.data` under ``torch.utils.data``'s path.

A package rather than one module so that PyTorch's submodule imports work too:
``from minidl.utils.data.dataloader import default_collate``, ``...dataset import Dataset``,
``...sampler import SubsetRandomSampler``. Nothing is defined here: every name is :mod:`minidl.data`'s.

>>> from minidl.utils.data import DataLoader, TensorDataset
>>> import minidl.data
>>> DataLoader is minidl.data.DataLoader
True
"""

from minidl.data import *  # noqa: F403
from minidl.data import __all__  # noqa: F401
from minidl.utils.data import dataloader, dataset, sampler  # noqa: F401  (torch.utils.data's submodules)
