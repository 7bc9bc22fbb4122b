"""``DataLoader``: iterate over a dataset in (shuffled) batches of Tensors, like ``torch.utils.data.DataLoader``.

>>> import numpy as np, minidl
>>> from minidl.data import TensorDataset
>>> ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
>>> loader = DataLoader(ds, batch_size=2, shuffle=True, generator=minidl.Generator(0))
>>> len(loader), [y.shape for x, y in loader]
(3, [minidl.Size([2]), minidl.Size([2]), minidl.Size([1])])

How a batch is made, for each list of indices that the batch sampler yields (:mod:`minidl.data.fetch`):

* ``collate_fn`` given: ``collate_fn([dataset[i] for i in indices])`` (one call per sample).
* otherwise, if the dataset has ``get_batch`` (every ``minidl.data.Dataset`` does, and
  ``TensorDataset`` does it with one fancy index per array): ``to_tensors(dataset.get_batch(indices))``;
  else ``default_collate`` of the samples.
* ``batch_size=None`` turns batching off: each sample is converted on its own (``default_convert``).
* an ``IterableDataset`` has no indices: a batch is its next ``batch_size`` items.

The order of an epoch is drawn when iteration starts (``iter(loader)``), in the calling thread. With
``prefetch=True`` (minidl's own option) a background thread prepares the next batches while the
training step runs on the current one (NumPy releases the GIL while it copies, so the two overlap).
Random transforms then run in that thread: give them their own ``minidl.Generator`` to keep runs
reproducible.

**Worker processes** (``num_workers=N``, :mod:`minidl.data.pool`): batch ``k`` is made by worker
``k % N`` and the batches come back in the order of ``num_workers=0`` (the same batches, for a
dataset without randomness). ``prefetch_factor`` batches per worker are in flight;
``persistent_workers=True`` keeps the processes between epochs; ``worker_init_fn(worker_id)`` runs
first in each; ``timeout`` bounds the wait for one batch; an exception in a worker is raised again
in the main process, of the same type, with the worker's traceback in its message. Workers are
seeded from ``base_seed + worker_id`` (:mod:`minidl.data.worker`). Workers start with ``fork`` on Linux
(0.02 s for two, against 3.6 s with ``forkserver`` and 6.5 s with ``spawn``; see
:func:`minidl.data.pool.default_context` for when minidl avoids it); ``multiprocessing_context``
chooses another. ``pin_memory`` is accepted and does nothing (minidl copies to a GPU from any memory).

Measured (``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_THREADING_LAYER=workqueue python
tests/data/bench_loader_workers.py 9``; 2 shared cores, a per-sample transform of 0.6 ms, 256 samples in
batches of 32, median of 9 epochs, rounds alternating): ``num_workers=0`` 0.133 s per epoch (0.127-0.168),
``num_workers=2`` 0.076 s (0.072-0.149): 1.76x. The main process then spends almost no CPU time (0.03 s
over 5 epochs), so the gain is bounded by the cores the workers get: with other jobs loading the
machine (load average above 3) the same script measured between 0.85x and 1.2x.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from minidl.backends import default_backend
from minidl.data.collate import default_collate, default_convert
from minidl.data.dataset import IterableDataset
from minidl.data.fetch import BatchSpec, IterableFetcher, fetch_map
from minidl.data.pool import MultiProcessIterator, WorkerPool, default_context
from minidl.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from minidl.random import Generator, get_generator

__all__ = ["DataLoader"]


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=64, shuffle=True): ...``.

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``, and for speed ``get_batch``) or
            an ``IterableDataset``.
        batch_size: samples per batch; ``None`` turns batching off (one converted sample at a time).
        shuffle: visit the samples in a new random order each epoch (drawn from ``generator``).
        sampler: an iterable of indices to use instead of ``shuffle`` (e.g. ``SubsetRandomSampler``).
        batch_sampler: an iterable of index lists; replaces ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``.
        num_workers: worker processes making batches (0: in the calling process).
        collate_fn: turns a list of samples into a batch (default: stack into Tensors, see ``collate``).
        pin_memory: accepted for PyTorch programs; does nothing.
        drop_last: drop the final batch when it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from a worker before raising (0: no limit).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: ``"fork"``, ``"forkserver"``, ``"spawn"`` or a context (default: see above).
        generator: the ``minidl.Generator`` for shuffling and the workers' base seed (the default one when None).
        prefetch_factor: batches in flight per worker (2 when None; only with ``num_workers > 0``).
        persistent_workers: keep the worker processes from one epoch to the next.
        pin_memory_device: accepted for PyTorch programs (no effect on the CPU).
        in_order: accepted for PyTorch programs (batches always come in order).
        prefetch: ``num_workers=0`` only: prepare batches in a background thread; ``True`` keeps 2 ready.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Iterable[int] | None = None, batch_sampler: Iterable[list[int]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[Any], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True, prefetch: bool | int = False) -> None:
        _check_workers(num_workers, timeout, prefetch_factor, persistent_workers, prefetch)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle or None), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value is not None:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value!r}")
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler excludes batch_size, shuffle, sampler and drop_last")
            batch_size = None
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None turns batching off and excludes drop_last")
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: give either sampler or shuffle=True, not both")
        if not iterable:
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_sampler is None and batch_size is not None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if auto_collation else default_convert
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn, self.generator = collate_fn, generator
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.prefetch_factor = (2 if prefetch_factor is None else prefetch_factor) if num_workers else None
        self.persistent_workers, self.pin_memory_device, self.in_order = persistent_workers, pin_memory_device, in_order
        self.prefetch = 2 if prefetch is True else int(prefetch)
        self._iterable, self._auto_collation = iterable, auto_collation
        self._pool: WorkerPool | None = None  # the persistent workers
        self._epoch = 0

    def __len__(self) -> int:
        """The number of batches in one epoch (for an ``IterableDataset``: from ``len(dataset)``)."""
        if not self._iterable:
            return len(self.batch_sampler if self._auto_collation else self.sampler)  # type: ignore[arg-type]
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _spec(self) -> BatchSpec:
        return BatchSpec(self.dataset, self.collate_fn, self._auto_collation, self.batch_size, self.drop_last,
                         self._iterable)

    def __iter__(self) -> Iterator[Any]:
        spec = self._spec()
        # the epoch's order, fixed now in the calling thread (an iterable dataset has none)
        tasks: Any = None if self._iterable else list(self.batch_sampler if self._auto_collation else self.sampler)
        if self.num_workers > 0:
            self._epoch += 1
            length = None if self._iterable and not hasattr(self.dataset, "__len__") else len(self)
            return MultiProcessIterator(self._workers(spec), iter(int, 1) if tasks is None else tasks, self._epoch,
                                        self.prefetch_factor, self.timeout, self.persistent_workers, length)
        batches = _batches(spec, tasks)
        return _Prefetcher(batches, self.prefetch) if self.prefetch > 0 else batches

    def _workers(self, spec: BatchSpec) -> WorkerPool:
        """The persistent pool, ready for a new epoch, or a new pool of workers."""
        if self._pool is not None:
            if self._pool.alive:
                self._pool.drain()  # answers to a previous epoch that stopped early
                return self._pool
            self._pool.shutdown()
            self._pool = None
        context = self.multiprocessing_context
        if context is None:
            context = default_context()
        elif isinstance(context, str):
            context = multiprocessing.get_context(context)
        pool = WorkerPool(spec, self.num_workers, context, self._base_seed(), self.worker_init_fn,
                          default_backend().name)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _base_seed(self) -> int:
        """A seed for a new pool of workers, from ``generator`` without moving its stream.

        NumPy's ``Generator.spawn`` derives a child from the seed sequence, so the shuffling order of
        the epochs stays that of ``num_workers=0`` and ``minidl.manual_seed`` replays the seeds.
        """
        g = get_generator(self.generator).np
        try:
            g = g.spawn(1)[0]
        except (TypeError, ValueError):  # a generator without a seed sequence: draw from its stream
            pass
        return int(g.integers(0, 2**62))

    def __repr__(self) -> str:
        size = len(self.dataset) if hasattr(self.dataset, "__len__") else "?"
        return (f"DataLoader({type(self.dataset).__name__} of {size}, batch_size={self.batch_size}, "
                f"num_workers={self.num_workers}, prefetch={self.prefetch})")


def _check_workers(num_workers: int, timeout: float, prefetch_factor: int | None, persistent_workers: bool,
                   prefetch: bool | int) -> None:
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing. Let num_workers > 0 "
                         "to enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 1:
        raise ValueError(f"prefetch_factor option should be a positive integer, got {prefetch_factor}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if prefetch and num_workers > 0:
        raise ValueError("DataLoader: prefetch (a background thread) is for num_workers=0; worker processes "
                         "prefetch by themselves (prefetch_factor)")


def _batches(spec: BatchSpec, tasks: list[Any] | None) -> Iterator[Any]:
    """The batches of one epoch, made in this process."""
    if tasks is not None:
        for indices in tasks:
            yield fetch_map(spec, indices)
        return
    fetcher = IterableFetcher(spec)
    while True:
        try:
            batch = fetcher.next_batch()
        except StopIteration:
            return
        yield batch


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
