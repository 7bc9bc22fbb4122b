"""``DataLoader``: iterate over a dataset in (shuffled) batches of Tensors, like ``torch.utils.data.DataLoader``.

>>> import numpy as np, minidl
>>> from minidl.data import TensorDataset
>>> ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
>>> loader = DataLoader(ds, batch_size=2, shuffle=True, generator=minidl.Generator(0))
>>> len(loader), [y.shape for x, y in loader]
(3, [minidl.Size([2]), minidl.Size([2]), minidl.Size([1])])

How a batch is made, for each list of indices that the batch sampler yields:

* ``collate_fn`` given: ``collate_fn([dataset[i] for i in indices])`` (one call per sample).
* otherwise, if the dataset has ``get_batch`` (every ``minidl.data.Dataset`` does, and
  ``TensorDataset`` does it with one fancy index per array): ``to_tensors(dataset.get_batch(indices))``;
  else ``default_collate`` of the samples.

The order of an epoch is drawn when iteration starts (``iter(loader)``), in the calling thread. With
``prefetch=True`` a background thread prepares the next batches while the training step runs on the
current one (NumPy releases the GIL while it copies, so the two overlap). Random transforms then run
in that thread: give them their own ``minidl.Generator`` to keep runs reproducible.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from minidl.data.collate import default_collate, to_tensors
from minidl.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from minidl.random import Generator

__all__ = ["DataLoader"]


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True): ...``.

    Args:
        dataset: anything with ``__len__`` and ``__getitem__`` (and, for speed, ``get_batch``).
        batch_size: samples per batch.
        shuffle: visit the samples in a new random order each epoch (drawn from ``generator``).
        sampler: an iterable of indices to use instead of ``shuffle`` (e.g. ``SubsetRandomSampler``).
        batch_sampler: an iterable of index lists; replaces ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``.
        drop_last: drop the final batch when it is smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch (default: stack into Tensors, see ``collate``).
        generator: the ``minidl.Generator`` used for shuffling (the default generator when None).
        prefetch: prepare batches in a background thread; ``True`` keeps 2 batches ready, an int that many.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, sampler: Iterable[int] | None = None,
                 batch_sampler: Iterable[list[int]] | None = None, drop_last: bool = False,
                 collate_fn: Callable[[list[Any]], Any] | None = None, generator: Generator | None = None,
                 prefetch: bool | int = False) -> None:
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler excludes batch_size, shuffle, sampler and drop_last")
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: give either sampler or shuffle=True, not both")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn, self.generator = collate_fn, generator
        self.prefetch = 2 if prefetch is True else int(prefetch)

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        index_batches = list(self.batch_sampler)  # the epoch's order, fixed now in the calling thread
        batches = (self._fetch(indices) for indices in index_batches)
        return _Prefetcher(batches, self.prefetch) if self.prefetch > 0 else batches

    def _fetch(self, indices: list[int]) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn([self.dataset[i] for i in indices])
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:  # the fast path: the whole batch at once
            return to_tensors(get_batch(np.asarray(indices, dtype=np.int64)))
        return default_collate([self.dataset[i] for i in indices])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"batches={len(self)}, prefetch={self.prefetch})")


_DONE = object()  # marks the end of an epoch in the queue


def _put(out: queue.Queue, item: tuple[bool, Any], stop: threading.Event) -> bool:
    """Put ``item`` into ``out``, giving up (False) once ``stop`` is set: the consumer went away."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(batches: Iterator[Any], out: queue.Queue, stop: threading.Event) -> None:
    """The background thread: compute batches and queue them as (True, batch); an error as (False, error)."""
    try:
        for batch in batches:
            if not _put(out, (True, batch), stop):
                return
        _put(out, (True, _DONE), stop)
    except BaseException as e:  # handed to the consumer, which re-raises it
        _put(out, (False, e), stop)


class _Prefetcher:
    """An iterator over ``batches`` computed ``depth`` ahead by a background thread.

    The thread holds only the queue and the stop event (not this object), so when the consumer stops
    early (``break``) this object is garbage-collected, ``__del__`` sets the event and the thread ends.
    """

    def __init__(self, batches: Iterator[Any], depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        context = contextvars.copy_context()  # so the thread sees the caller's use_backend(...) scope
        self._thread = threading.Thread(target=context.run, args=(_produce, batches, self._queue, self._stop),
                                        name="minidl-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self) -> _Prefetcher:
        return self

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        ok, item = self._queue.get()
        if ok and item is not _DONE:
            return item
        self.close()
        if not ok:
            raise item
        raise StopIteration

    def close(self) -> None:
        """Stop the background thread and wait for it."""
        self._finished = True
        self._stop.set()
        self._thread.join()

    def __del__(self) -> None:
        self._stop.set()
