"""Iterable datasets and datasets made of other datasets, as in ``torch.utils.data``.

* ``IterableDataset``: a stream of samples (``__iter__``) instead of indexed ones. In a
  ``DataLoader`` with workers, each worker iterates its own copy: use ``get_worker_info()`` in
  ``__iter__`` to give each worker its share, or every sample comes ``num_workers`` times.
* ``ConcatDataset``: map-style datasets one after another (``a + b`` makes one).
* ``ChainDataset``: iterable datasets one after another (``a + b`` for iterable ones).

>>> class Count(IterableDataset):
...     def __init__(self, n): self.n = n
...     def __iter__(self): return iter(range(self.n))
>>> list(Count(2) + Count(3))
[0, 1, 0, 1, 2]
>>> from minidl.data import TensorDataset
>>> both = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))])
>>> len(both), int(both[3][0]), both.cumulative_sizes
(5, 10, [3, 5])
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from minidl.data.dataset import Dataset

__all__ = ["ChainDataset", "ConcatDataset", "IterableDataset"]


class IterableDataset:
    """Base class of datasets that are streams: subclasses define ``__iter__`` (and may define ``__len__``)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The samples of each iterable dataset in turn."""

    def __init__(self, datasets: Iterable[IterableDataset]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        return chain.from_iterable(self.datasets)

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class ConcatDataset(Dataset):
    """Map-style datasets one after another: index ``i`` of the whole is found with ``cumulative_sizes``."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} samples")
        index %= n
        part = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part][index - start]
