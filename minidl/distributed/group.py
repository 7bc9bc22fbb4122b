"""The default process group: ``init_process_group`` and friends, ``ReduceOp`` and ``Work``.

The ``mpi`` backend takes rank and world size from MPI (``mpiexec`` starts every rank with them); the
values passed to ``init_process_group``, or else the ``RANK`` / ``WORLD_SIZE`` variables that the launcher
``python -m minidl.distributed.run`` sets, are checked against MPI's.
The group talks over a duplicate of ``MPI.COMM_WORLD``, so minidl's messages never meet the user's own
mpi4py traffic.

**Timeout.** Every collective is started non-blocking and waited for by polling ``Request.Test()`` until
the group's ``timeout`` (5 minutes unless ``init_process_group(timeout=...)`` says otherwise): a rank that
hangs, or left without calling the collective, makes the others raise ``DistBackendError`` naming the
collective, this rank and the timeout, instead of waiting forever. MPI cannot cancel a started collective
and ``MPI_Finalize`` would wait for it, so after a timeout the process ends with ``MPI_Abort`` at exit
(``mpiexec`` then stops every rank and returns non-zero). A rank *killed* outright is noticed sooner:
``mpiexec`` stops the whole job at once.
"""

from __future__ import annotations

import atexit
import datetime
import enum
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Backend", "DistBackendError", "ReduceOp", "Work", "default_pg_timeout", "destroy_process_group",
           "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
           "is_mpi_available", "is_nccl_available"]

_INSTALL_HINT = ('the "mpi" backend needs mpi4py and an MPI library: pip install "minidl[dist]" '
                 '(mpi4py + the mpich wheel, which also puts mpiexec next to python)')


default_pg_timeout = datetime.timedelta(minutes=5)  # PyTorch's is 30 min (gloo); a hung job should fail sooner


class DistBackendError(RuntimeError):
    """A collective failed in the communication library: here, it did not complete within the timeout."""


class Backend(enum.StrEnum):
    """The names ``init_process_group`` accepts (``Backend.MPI == "mpi"``)."""

    MPI = "mpi"
    NCCL = "nccl"


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
        self.rank, self.size = comm.Get_rank(), comm.Get_size()


_default: _Group | None = None
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


def _abort_at_exit() -> None:
    """After a timeout ``MPI_Finalize`` would wait forever for the pending collective: abort instead."""
    global _abort_registered
    if not _abort_registered:
        _abort_registered = True

        def abort() -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            mpi().COMM_WORLD.Abort(1)

        atexit.register(abort)


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        return -1
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"init_process_group: the environment variable {name}={value!r} is not an integer") from None


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (the ``dist`` extra)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """False in this version: the NCCL backend is not written yet."""
    return False


def is_available() -> bool:
    """Whether ``minidl.distributed`` can run here: some backend's package is installed."""
    return is_mpi_available()


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, or an ImportError naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"minidl.distributed: {_INSTALL_HINT} ({e})") from e
    return MPI


def init_process_group(backend: str | None = None, init_method: str | None = None, timeout: Any = None,
                       world_size: int = -1, rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Join the default process group. ``backend="mpi"`` (the default) uses the ranks ``mpiexec`` started;
    ``world_size`` and ``rank`` (by default the ``WORLD_SIZE`` and ``RANK`` environment variables, when set),
    must agree with MPI's.

    ``timeout`` (a ``datetime.timedelta`` or seconds; 5 minutes by default) bounds this call and every
    collective of the group: past it they raise ``DistBackendError`` (see the module's docstring).
    """
    global _default
    if _default is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice")
    name = str(backend or "mpi").lower()
    if name == "nccl":
        raise NotImplementedError('init_process_group: the "nccl" backend is not implemented yet; use "mpi"')
    if name not in ("mpi", "cpu:mpi"):
        raise ValueError(f'init_process_group: unknown backend {backend!r}; minidl has "mpi"')
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: the mpi backend takes its ranks from mpiexec; init_method="
                         f"{init_method!r} is not supported")
    seconds = _seconds(default_pg_timeout if timeout is None else timeout)
    MPI = mpi()  # noqa: N806
    comm, request = MPI.COMM_WORLD.Idup()
    group = _Group(comm, "mpi", seconds)
    wait_for(request, seconds, "init_process_group", group)
    for what, given, env in (("world_size", world_size, "WORLD_SIZE"), ("rank", rank, "RANK")):
        actual = group.size if what == "world_size" else group.rank
        source = what
        if given is None or given == -1:
            given, source = _env_int(env), f"the environment variable {env}"
        if given != -1 and given != actual:
            group.comm.Free()
            raise ValueError(f"init_process_group: {source}={given} but mpiexec started this process with "
                             f"{what}={actual}")
    _default = group


def _group(group: Any = None) -> _Group:
    if group is not None and group is not _default:
        raise NotImplementedError("minidl.distributed: only the default group (group=None) is supported yet")
    if _default is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _default


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not undone)."""
    return _default is not None


def destroy_process_group(group: Any = None) -> None:
    """Leave the default process group (MPI itself stays initialised until the process exits)."""
    global _default
    g = _group(group)
    g.comm.Free()
    _default = None


def get_rank(group: Any = None) -> int:
    """This process's rank in the group, 0 .. world_size - 1."""
    return _group(group).rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return _group(group).size


def get_backend(group: Any = None) -> str:
    """The group's backend name (``"mpi"``)."""
    return _group(group).backend
