"""The default process group: ``init_process_group`` and friends, ``ReduceOp`` and ``Work``.

The ``mpi`` backend takes rank and world size from the environment MPI's launcher sets (``mpiexec``
starts every rank with them); values passed to ``init_process_group`` are checked against MPI's.
The group talks over a duplicate of ``MPI.COMM_WORLD``, so minidl's messages never meet the user's own
mpi4py traffic.
"""

from __future__ import annotations

import enum
import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Backend", "ReduceOp", "Work", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
           "init_process_group", "is_available", "is_initialized", "is_mpi_available", "is_nccl_available"]

_INSTALL_HINT = ('the "mpi" backend needs mpi4py and an MPI library: pip install "minidl[dist]" '
                 '(mpi4py + the mpich wheel, which also puts mpiexec next to python)')


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

    def __init__(self, request: Any = None, finish: Callable[[], None] | None = None) -> None:
        self._request, self._finish, self._done = request, finish, False

    def is_completed(self) -> bool:
        if not self._done and (self._request is None or self._request.Test()):
            self._complete()
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        if not self._done:
            if self._request is not None:
                self._request.Wait()
            self._complete()
        return True

    def _complete(self) -> None:
        self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        self._done = True


class _Group:
    def __init__(self, comm: Any, backend: str) -> None:
        self.comm, self.backend = comm, backend
        self.rank, self.size = comm.Get_rank(), comm.Get_size()


_default: _Group | None = None


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
    ``world_size`` and ``rank``, when given, must agree with MPI's.

    ``timeout`` is accepted for PyTorch programs but not enforced yet: a rank that dies mid-collective
    leaves the others waiting (issue 19).
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
    if timeout is not None:
        warnings.warn("init_process_group: timeout is not enforced yet by minidl's mpi backend", stacklevel=2)
    MPI = mpi()  # noqa: N806
    group = _Group(MPI.COMM_WORLD.Dup(), "mpi")
    for what, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given is not None and given != -1 and given != actual:
            group.comm.Free()
            raise ValueError(f"init_process_group: {what}={given} but mpiexec started this process with "
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
