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

import datetime
import enum
import importlib.util
import os
from typing import Any

from minidl.distributed import debug, nccl
from minidl.distributed.work import DistBackendError, ReduceOp, Work, _Group, _seconds, mpi, wait_for

__all__ = ["Backend", "DistBackendError", "ReduceOp", "Work", "default_pg_timeout", "destroy_process_group",
           "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
           "is_mpi_available", "is_nccl_available"]

default_pg_timeout = datetime.timedelta(minutes=5)  # PyTorch's is 30 min (gloo); a hung job should fail sooner


class Backend(enum.StrEnum):
    """The names ``init_process_group`` accepts (``Backend.MPI == "mpi"``)."""

    MPI = "mpi"
    NCCL = "nccl"


_default: _Group | None = None


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
    """Whether CuPy with NCCL is installed (the ``nccl`` backend; a GPU is needed to use it)."""
    return nccl.is_available()


def is_available() -> bool:
    """Whether ``minidl.distributed`` can run here: some backend's package is installed."""
    return is_mpi_available()


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
    if name not in ("mpi", "cpu:mpi", "nccl", "cuda:nccl"):
        raise ValueError(f'init_process_group: unknown backend {backend!r}; minidl has "mpi" and "nccl"')
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: the mpi backend takes its ranks from mpiexec; init_method="
                         f"{init_method!r} is not supported")
    seconds = _seconds(default_pg_timeout if timeout is None else timeout)
    MPI = mpi()  # noqa: N806
    comm, request = MPI.COMM_WORLD.Idup()
    group = _Group(comm, "nccl" if "nccl" in name else "mpi", seconds)
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
    group.debug = debug.enabled()
    if group.backend == "nccl":  # MPI carries NCCL's unique id (minidl/distributed/nccl.py)
        group.nccl = nccl.create(group, device_id)
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
    if g.nccl is not None:
        g.nccl.destroy()
    g.comm.Free()
    _default = None


def get_rank(group: Any = None) -> int:
    """This process's rank in the group, 0 .. world_size - 1."""
    return _group(group).rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return _group(group).size


def get_backend(group: Any = None) -> str:
    """The group's backend name (``"mpi"`` or ``"nccl"``)."""
    return _group(group).backend
