"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset`` and ``random_split``, as in ``torch.utils.data``.

A dataset is anything with ``__len__`` and ``__getitem__(i)`` returning one sample. minidl adds one
method, ``get_batch(indices)``, that returns a whole batch as stacked NumPy arrays. The base class
implements it item by item; array-backed datasets override it with one fancy index per array, which
is what makes a ``DataLoader`` over 60000 MNIST images fast.

>>> import numpy as np
>>> ds = TensorDataset(np.arange(10).reshape(5, 2), np.array([0, 1, 0, 1, 0]))
>>> ds[1]
(array([2, 3]), np.int64(1))
>>> xs, ys = ds.get_batch(np.array([4, 0]))
>>> xs.tolist(), ys.tolist()
([[8, 9], [0, 1]], [0, 0])
>>> a, b = random_split(ds, [0.6, 0.4], generator=minidl.Generator(0))
>>> len(a), len(b)
(3, 2)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

import numpy as np

import minidl.random
from minidl.data.collate import stack_samples
from minidl.data.transforms import Transform
from minidl.tensor import Tensor

__all__ = ["Dataset", "Subset", "TensorDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def get_batch(self, indices: np.ndarray) -> Any:
        """The samples at ``indices``, stacked into arrays (override this with something vectorised)."""
        return stack_samples([self[int(i)] for i in indices])

    def __add__(self, other: Any) -> Any:
        """``a + b``: a ``ConcatDataset`` of the two."""
        return ConcatDataset([self, other])


def _as_array(x: Any) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``ds[i] == (arrays[0][i], arrays[1][i], ...)``.

    ``transform`` is applied to the first array (the inputs) and ``target_transform`` to the second (the
    targets), always on a batch (see :mod:`minidl.data.transforms`). Arrays may be NumPy arrays or
    minidl Tensors (kept as NumPy arrays inside).
    """

    def __init__(self, *arrays: Any, transform: Transform | None = None,
                 target_transform: Transform | None = None) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_as_array(a) for a in arrays)
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: arrays must have the same first dimension, got lengths {lengths}")
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} samples")
        return tuple(field[0] for field in self.get_batch(np.array([index % n])))

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        out = [a[indices] for a in self.arrays]
        if self.transform is not None:
            out[0] = self.transform(out[0])
        if self.target_transform is not None and len(out) > 1:
            out[1] = self.target_transform(out[1])
        return tuple(out)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({fields})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: np.ndarray) -> Any:
        parent = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(parent)
        return stack_samples([self.dataset[int(i)] for i in parent])


def _split_lengths(n: int, lengths: Sequence[int | float]) -> list[int]:
    if all(isinstance(x, int) for x in lengths):
        if sum(lengths) != n:
            raise ValueError(f"random_split: lengths {list(lengths)} sum to {sum(lengths)}, not to the dataset "
                             f"size {n}")
        return list(lengths)
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6) or any(not 0 <= f <= 1 for f in lengths):
        raise ValueError(f"random_split: fractions {list(lengths)} must lie in [0, 1] and sum to 1")
    sizes = [math.floor(n * f) for f in lengths]
    for i in range(n - sum(sizes)):  # hand the remainder out round-robin, as PyTorch does
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: minidl.random.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset`` s of the given lengths (or fractions).

    The permutation comes from ``generator`` (the default generator when None), so a seeded generator
    gives the same split every time.
    """
    sizes = _split_lengths(len(dataset), lengths)
    order = minidl.random.get_generator(generator).permutation(len(dataset))
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, order[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]


# --------------------------------------------------------------------------- combining data sets
# IterableDataset: a stream of samples (__iter__) instead of indexed ones; in a DataLoader with workers each
# worker iterates its own copy (use get_worker_info() in __iter__ to split the work). ConcatDataset: map-style
# data sets one after another (a + b makes one). ChainDataset: iterable data sets one after another.
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
