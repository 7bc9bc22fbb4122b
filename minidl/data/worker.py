"""What runs inside a ``DataLoader`` worker process, and how its batches travel to the main process.

A worker gets tasks ``(epoch, indices)`` from its own task queue, makes each batch with the same code
as the main process (:mod:`minidl.data.fetch`) and writes the result to its own pipe. The main
process reads the pipes in the order it handed out the tasks, so batches arrive in the order of
``num_workers=0``.

**Transport.** A batch is pickled with protocol 5: the bytes of every array travel *out of band*,
written straight from the array's memory into the pipe (no copy into a pickle string) and read
into a fresh writable buffer that the rebuilt array uses as its memory. Why a pipe and not
``multiprocessing.shared_memory``: a shared-memory segment is a named file in ``/dev/shm`` that
outlives a worker killed between creating it and handing it over, and Python 3.11's resource
tracker double-counts segments that another process attaches (``track=False`` arrived in 3.13). A
pipe is freed by the kernel with its last process: nothing can leak. The cost, one copy through
the kernel, is a few microseconds for a batch of MNIST images.

**Seeding** (PyTorch's scheme). Each epoch (each pool of workers) draws a ``base_seed``; worker
``i`` seeds Python's ``random`` and minidl's default generator with ``base_seed + i`` and NumPy's
global generator with ``SeedSequence([i, base_seed])``, so random transforms differ between
workers and replay with the same ``minidl.manual_seed``. A ``minidl.Generator`` that you own is
copied into each worker as it is: seed it from ``get_worker_info().seed`` in ``worker_init_fn``.
"""

from __future__ import annotations

import io
import os
import pickle
import queue
import random
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

import minidl.random
from minidl.backends import get_backend, use_backend
from minidl.data.fetch import BatchSpec, IterableFetcher, fetch_map
from minidl.tensor import Tensor

__all__ = ["WorkerInfo", "get_worker_info"]


@dataclass(frozen=True)
class WorkerInfo:
    """Who this worker is: ``id`` in ``range(num_workers)``, its ``seed`` and its copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The ``WorkerInfo`` of this worker process; ``None`` in the main process (``torch.utils.data.get_worker_info``).

    An ``IterableDataset`` uses it in ``__iter__`` to give each worker its own share of the stream.
    """
    return _worker_info


# ---------------------------------------------------------------- transport
def _rebuild_tensor(array: np.ndarray, backend: str, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad, backend=backend)


class _BatchPickler(pickle.Pickler):
    """Pickles Tensors as (numpy array, backend name, requires_grad): the graph stays behind."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            return _rebuild_tensor, (obj.backend.to_numpy(obj.array), obj.backend.name, obj.requires_grad)
        return NotImplemented


def send(conn: Any, obj: Any) -> None:
    """Write ``obj`` to ``conn``: one small message, then the raw bytes of each contiguous array."""
    buffers: list[pickle.PickleBuffer] = []
    head = io.BytesIO()
    _BatchPickler(head, protocol=5, buffer_callback=buffers.append).dump(obj)  # fails before anything is sent
    views = [b.raw() for b in buffers]
    conn.send((head.getvalue(), [v.nbytes for v in views]))
    for view in views:
        conn.send_bytes(view)


def receive(conn: Any) -> Any:
    """Read what :func:`send` wrote; the arrays own fresh, writable memory."""
    head, sizes = conn.recv()
    buffers = [bytearray(n) for n in sizes]
    for buffer in buffers:
        if buffer:
            conn.recv_bytes_into(buffer)
        else:
            conn.recv_bytes()
    return pickle.loads(head, buffers=buffers)


# ---------------------------------------------------------------- errors
class ExceptionWrapper:
    """An exception raised in a worker, with the worker's traceback in its text (re-raised by the main process)."""

    def __init__(self, where: str) -> None:
        exc_type, exc, _ = sys.exc_info()
        text = "".join(traceback.format_exception(exc_type, exc, exc.__traceback__ if exc else None))
        self.message = f"Caught {exc_type.__name__} in {where}.\nOriginal {text}"  # type: ignore[union-attr]
        try:
            pickle.dumps(exc_type)
            self.exc_type: type[BaseException] = exc_type  # type: ignore[assignment]
        except Exception:  # a class the main process cannot import
            self.exc_type = RuntimeError

    def reraise(self) -> None:
        message: Any = self.message
        if self.exc_type is KeyError:  # KeyError quotes its argument: keep the traceback readable
            message = _KeyErrorMessage(message)
        try:
            exc = self.exc_type(message)
        except Exception:
            raise RuntimeError(message) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self) -> str:
        return str(self)


# ---------------------------------------------------------------- the worker
def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed ``random``, minidl's default generator and NumPy's global generator for worker ``worker_id``."""
    seed = base_seed + worker_id
    random.seed(seed)
    minidl.random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def worker_loop(spec: BatchSpec, worker_id: int, num_workers: int, base_seed: int, worker_init_fn: Any,
                tasks: Any, results: Any, backend: str) -> None:
    """The body of worker ``worker_id``: answer each task of ``tasks`` with one message on ``results``.

    A task is ``(epoch, indices)`` and ``None`` means stop. An answer is ``("ok", batch)``,
    ``("end", None)`` (an iterable dataset is exhausted) or ``("error", ExceptionWrapper)``.
    """
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops us
    parent = os.getppid()
    seed = seed_worker(base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=spec.dataset)
    where = f"DataLoader worker process {worker_id}"
    with use_backend(get_backend(backend).name):
        init_error = None
        try:
            if worker_init_fn is not None:
                worker_init_fn(worker_id)
        except Exception:
            init_error = ExceptionWrapper(where)
        epoch, fetcher, exhausted = None, None, False
        while True:
            try:
                task = tasks.get(timeout=5.0)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died without stopping us
                    return
                continue
            if task is None:
                return
            task_epoch, indices = task
            answer: tuple[str, Any]
            try:
                if init_error is not None:
                    answer = ("error", init_error)
                elif not spec.iterable:
                    answer = ("ok", fetch_map(spec, indices))
                else:
                    if task_epoch != epoch:  # a new epoch: a fresh pass over this worker's stream
                        epoch, fetcher, exhausted = task_epoch, IterableFetcher(spec), False
                    answer = ("end", None) if exhausted else ("ok", fetcher.next_batch())  # type: ignore[union-attr]
            except StopIteration:
                exhausted, answer = True, ("end", None)
            except Exception:
                answer = ("error", ExceptionWrapper(where))
            try:
                try:
                    send(results, answer)
                except (pickle.PicklingError, TypeError, AttributeError):  # a batch that cannot travel
                    send(results, ("error", ExceptionWrapper(where)))
            except OSError:  # the main process closed the pipe: it stopped listening
                return
