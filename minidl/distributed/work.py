"""What every backend shares: ``ReduceOp``, ``Work`` (the handle of a started collective), the group record,
and the timeout: polling a request until a deadline, then ``DistBackendError`` and ``MPI_Abort`` at exit.
"""

from __future__ import annotations

import atexit
import datetime
import enum
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DistBackendError", "ReduceOp", "Work", "mpi", "wait_for"]

_INSTALL_HINT = ('the "mpi" backend needs mpi4py and an MPI library: pip install "minidl[dist]" '
                 '(mpi4py + the mpich wheel, which also puts mpiexec next to python)')



class DistBackendError(RuntimeError):
    """A collective failed in the communication library: here, it did not complete within the timeout."""


class ReduceOp(enum.Enum):
    """How ``all_reduce``, ``reduce`` and ``reduce_scatter`` combine the ranks' values."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class Work:
    """The handle of a collective started with ``async_op=True``: ``wait()`` blocks until it is done and
    the result is in the tensors; ``is_completed()`` tests without blocking."""

    def __init__(self, request: Any = None, finish: Callable[[], None] | None = None, what: str = "collective",
                 group: _Group | None = None) -> None:
        self._request, self._finish, self._done = request, finish, False
        self._what, self._group = what, group

    def is_completed(self) -> bool:
        if not self._done and (self._request is None or self._request.Test()):
            self._complete()
        return self._done

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        """Block until done; raise ``DistBackendError`` after ``timeout`` (the group's when None)."""
        if not self._done:
            if self._request is not None:
                limit = _seconds(timeout) if timeout is not None else (
                    self._group.timeout if self._group is not None else None)
                wait_for(self._request, limit, self._what, self._group)
            self._complete()
        return True

    def _complete(self) -> None:
        self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        self._done = True


class _Group:
    def __init__(self, comm: Any, backend: str, timeout: float) -> None:
        self.comm, self.backend, self.timeout = comm, backend, timeout
        self.nccl: Any = None  # the NcclCommunicator of the "nccl" backend
        self.debug = False  # MINIDL_DISTRIBUTED_DEBUG: check shapes and dtypes first (distributed/debug.py)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()



_abort_registered = False


def _seconds(timeout: datetime.timedelta | float) -> float:
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
    if not seconds > 0:
        raise ValueError(f"minidl.distributed: timeout must be positive, got {timeout!r}")
    return seconds


def wait_for(request: Any, timeout: float | None, what: str, group: _Group | None = None) -> None:
    """Poll ``request`` until it completes; after ``timeout`` seconds raise ``DistBackendError``.

    Polling ``Test()`` without sleeping is what MPICH's own blocking wait does (it spins), and each
    ``Test()`` also drives MPI's progress on the other outstanding requests (the DDP buckets).
    """
    if timeout is None:
        request.Wait()
        return
    deadline = time.monotonic() + timeout
    while not request.Test():
        if time.monotonic() > deadline:
            _abort_at_exit()
            where = f"rank {group.rank} of {group.size}" if group is not None else "this rank"
            raise DistBackendError(
                f"minidl.distributed: {what} did not complete within the timeout of {timeout:g} s on {where}: "
                f"another rank died, hangs, or did not call {what}. MPI cannot cancel a started collective, "
                f"so this process calls MPI_Abort at exit (mpiexec then stops every rank)")


ABORT_GRACE_S = 0.5  # seconds between flushing this rank's output and MPI_Abort


def _abort_at_exit() -> None:
    """After a timeout ``MPI_Finalize`` would wait forever for the pending collective: abort instead."""
    global _abort_registered
    if not _abort_registered:
        _abort_registered = True

        def abort() -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            # mpiexec forwards each rank's output through its proxy; Abort kills the job at once, and the end of
            # the traceback (the DistBackendError line) was lost in 1 of ~4 loaded CI runs: give it a moment
            time.sleep(ABORT_GRACE_S)
            mpi().COMM_WORLD.Abort(1)

        atexit.register(abort)


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, or an ImportError naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"minidl.distributed: {_INSTALL_HINT} ({e})") from e
    return MPI
