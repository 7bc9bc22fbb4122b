"""The main process's side of ``DataLoader(num_workers=N)``: start workers, hand out tasks, collect batches.

Each worker has its own task queue (``multiprocessing.Queue``: a feeder thread sends, so handing out
a task never blocks on a busy worker) and its own result pipe. Task ``k`` of an epoch goes to
worker ``k % N`` (round robin over the workers still active) and the main process reads the answer
of task ``k`` from that worker's pipe, so batches come back in the order of ``num_workers=0``.
``prefetch_factor`` tasks per worker are in flight at any time.

Stopping (end of the epoch, ``break``, an exception, garbage collection, interpreter exit): a
``None`` task tells each worker to return; the pipes are closed; a worker that has not returned
within a second (it was busy with a batch nobody will read) is terminated; every worker is joined.
A worker holds nothing that outlives it (no shared-memory segment), so terminating it is safe.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys
import time
import weakref
from collections import deque
from typing import Any

from minidl.data.fetch import BatchSpec
from minidl.data.worker import ExceptionWrapper, receive, worker_loop

__all__ = ["WorkerPool", "default_context"]

_GRACE_S = 1.0  # how long stopping waits for a worker to return by itself before terminating it
_POLL_S = 5.0  # how often a wait for a batch checks that its worker is alive


def default_context() -> Any:
    """``fork`` where it exists, unless Numba's GNU OpenMP threading layer is running (then ``forkserver``).

    Measured on the project machine (2 workers that import minidl and run a Numba ``parallel=True``
    kernel after the main process ran one): ``fork`` starts them in 0.02 s, ``forkserver`` in 3.6 s,
    ``spawn`` in 6.5 s (each child imports minidl and compiles the kernel again). ``fork`` is safe with
    Numba's ``workqueue`` layer (the one CI uses) and with ``tbb``; with the ``omp`` layer, a child that
    enters a parallel region after the parent did aborts ("fork() called from a process already using
    GNU OpenMP"), so then workers start from a fresh ``forkserver`` process. Under ``fork`` the dataset
    and ``collate_fn`` need not pickle (lambdas work); under ``forkserver``/``spawn`` they must.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run: the child starts its own threads
            layer = None
        if layer == "omp":
            return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork")


def _stop(processes: list[Any], tasks: list[Any], results: list[Any]) -> None:
    """Stop the workers (the pool's finalizer: it must not refer to the pool itself)."""
    for q in tasks:
        try:
            q.put(None)
        except (OSError, ValueError):
            pass
    for conn in results:
        conn.close()
    deadline = time.monotonic() + _GRACE_S
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.terminate()
        p.join()
        p.close()
    for q in tasks:
        q.cancel_join_thread()  # a task nobody will read must not block the exit
        q.close()


class WorkerPool:
    """``num_workers`` processes making batches of ``spec``; stopped by ``shutdown()`` or when collected."""

    def __init__(self, spec: BatchSpec, num_workers: int, context: Any, base_seed: int, worker_init_fn: Any,
                 backend: str) -> None:
        self.num_workers = num_workers
        self.processes, self.tasks, self.results = [], [], []
        self.in_flight = [0] * num_workers  # tasks sent but not answered, per worker
        self.broken = False
        self._finalizer = weakref.finalize(self, _stop, self.processes, self.tasks, self.results)
        for worker_id in range(num_workers):
            tasks = context.Queue()
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(
                target=worker_loop, name=f"minidl-dataloader-{worker_id}", daemon=True,
                args=(spec, worker_id, num_workers, base_seed, worker_init_fn, tasks, writer, backend))
            self.tasks.append(tasks)
            self.results.append(reader)
            process.start()
            self.processes.append(process)
            writer.close()  # the worker holds the only writing end: its death closes the pipe

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and not self.broken

    def put(self, worker_id: int, task: Any) -> None:
        self.tasks[worker_id].put(task)
        self.in_flight[worker_id] += 1

    def get(self, worker_id: int, timeout: float) -> tuple[str, Any]:
        """The next answer of ``worker_id``; RuntimeError if it died or ``timeout`` (> 0) passed first."""
        conn, process = self.results[worker_id], self.processes[worker_id]
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else min(_POLL_S, max(0.0, deadline - time.monotonic()))
            ready = multiprocessing.connection.wait([conn, process.sentinel], wait)
            if conn in ready or conn.poll(0):
                break
            if process.sentinel in ready:
                self._died(process)
            if deadline is not None and time.monotonic() >= deadline:
                self.broken = True
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting for worker {worker_id}")
        try:
            answer = receive(conn)
        except (EOFError, OSError):
            self._died(process)
        self.in_flight[worker_id] -= 1
        return answer

    def _died(self, process: Any) -> None:
        self.broken = True
        process.join(1.0)
        raise RuntimeError(f"DataLoader worker (pid {process.pid}) exited unexpectedly with exit code "
                           f"{process.exitcode}")

    def drain(self) -> None:
        """Read and drop every answer still in flight (a persistent pool starting a new epoch)."""
        for worker_id in range(self.num_workers):
            while self.in_flight[worker_id]:
                self.get(worker_id, 0)

    def shutdown(self) -> None:
        self._finalizer()


class MultiProcessIterator:
    """One epoch of batches from a ``WorkerPool``, in the order of the tasks (see the module docstring)."""

    def __init__(self, pool: WorkerPool, tasks: Any, epoch: int, prefetch_factor: int, timeout: float,
                 persistent: bool, length: int | None) -> None:
        self.pool, self.tasks, self.epoch = pool, iter(tasks), epoch
        self.timeout, self.persistent, self.length = timeout, persistent, length
        self.active = [True] * pool.num_workers
        self.order: deque[int] = deque()  # the worker of each task in flight, oldest first
        self.next_worker = 0
        self.finished = False
        for _ in range(prefetch_factor * pool.num_workers):
            self._send_one()

    def _send_one(self) -> None:
        if not any(self.active):
            return
        task = next(self.tasks, None)
        if task is None:
            return
        while not self.active[self.next_worker]:
            self.next_worker = (self.next_worker + 1) % len(self.active)
        self.pool.put(self.next_worker, (self.epoch, task))
        self.order.append(self.next_worker)
        self.next_worker = (self.next_worker + 1) % len(self.active)

    def __iter__(self) -> MultiProcessIterator:
        return self

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("this DataLoader's dataset has no length")
        return self.length

    def __next__(self) -> Any:
        while self.order and not self.finished:
            worker_id = self.order.popleft()
            try:
                kind, value = self.pool.get(worker_id, self.timeout)
            except BaseException:
                self._finish()
                raise
            if kind == "end":  # this worker's share of an iterable dataset is exhausted
                self.active[worker_id] = False
                continue
            if kind == "error":
                self._finish()
                assert isinstance(value, ExceptionWrapper)
                value.reraise()
            self._send_one()
            return value
        self._finish()
        raise StopIteration

    def _finish(self) -> None:
        """End the epoch: a pool of its own stops now; a persistent one stays (a broken one stops)."""
        self.finished = True
        if not self.persistent or self.pool.broken:
            self.pool.shutdown()

    def __del__(self) -> None:
        if not self.finished and not self.persistent:
            self.pool.shutdown()
