"""Samplers decide the order in which a ``DataLoader`` visits a dataset, as in ``torch.utils.data``.

A sampler is an iterable of indices with a length. ``BatchSampler`` groups any sampler's indices
into lists of ``batch_size``. Shuffling draws a fresh permutation at the start of every epoch from
a ``minidl.Generator``, so a seeded generator replays the same sequence of epochs.

>>> import minidl
>>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
[[0, 1], [2, 3], [4]]
>>> s = RandomSampler(range(4), generator=minidl.Generator(0))
>>> first, second = list(s), list(s)          # two epochs: two different orders
>>> sorted(first) == sorted(second) == [0, 1, 2, 3]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from itertools import islice

import numpy as np

from minidl.random import Generator, get_generator

__all__ = ["BatchSampler", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]


class Sampler:
    """Base class: an iterable of dataset indices (subclasses define ``__iter__`` and ``__len__``)."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, 2, ... in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random permutation of ``range(len(data_source))`` each epoch.

    With ``replacement=True``, ``num_samples`` indices drawn independently (with repeats) instead.
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if num_samples is not None and not replacement:
            raise ValueError("RandomSampler: num_samples is only used with replacement=True")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        g = get_generator(self.generator)
        n = len(self.data_source)
        order = g.integers(0, n, (self.num_samples,)) if self.replacement else g.permutation(n)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order each epoch (e.g. a validation part of one dataset)."""

    def __init__(self, indices: Iterable[int], generator: Generator | None = None) -> None:
        self.indices = np.asarray(list(indices), dtype=np.int64)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[get_generator(self.generator).permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (e.g. to rebalance classes).

    Without ``replacement`` each index comes at most once, so ``num_samples <= len(weights)``.
    """

    def __init__(self, weights: Iterable[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.tolist() if hasattr(weights, "tolist") else list(weights), dtype=np.float64)
        if w.ndim != 1 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be a 1-D sequence of non-negative, finite numbers "
                             "with a positive sum")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(w)} non-zero weights")
        self.weights, self.num_samples, self.replacement, self.generator = w, num_samples, replacement, generator

    def __iter__(self) -> Iterator[int]:
        g = get_generator(self.generator)
        p = self.weights / self.weights.sum()
        return iter(g.np.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``; ``drop_last`` drops a short final batch."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """This rank's share of a dataset for data-parallel training: ``num_samples`` indices per rank.

    The indices (a permutation drawn from ``seed + epoch`` when ``shuffle``, so every rank draws the same
    one; call ``set_epoch`` at the start of each epoch) are dealt round-robin: rank r takes positions
    r, r + num_replicas, ... With ``drop_last=False`` the list is padded by repeating its start until it
    splits evenly, so every rank runs the same number of steps; with ``drop_last=True`` the tail that
    does not split evenly is dropped. ``num_replicas`` and ``rank`` default to the process group's.

    ```pycon
    >>> [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]

    ```
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from minidl import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "minidl.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank} for num_replicas={num_replicas}; "
                             f"expected 0 <= rank < num_replicas")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        self.num_samples = n // num_replicas if drop_last else -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = Generator(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        if self.total_size > n:  # pad by repeating the start (as often as needed when n < num_replicas)
            indices = np.resize(indices, self.total_size)
        indices = indices[:self.total_size]
        return iter(indices[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in epoch ``epoch`` (the same order on every rank)."""
        self.epoch = epoch
