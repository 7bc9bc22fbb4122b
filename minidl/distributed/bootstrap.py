"""What every rank started by ``python -m minidl.distributed.run`` runs first:
``python .../minidl/distributed/bootstrap.py [-m] TARGET ARGS...`` (run as a file, so that nothing of
minidl is imported before MPI is up: an import error in the user's script is then a failed rank too).

It initialises MPI (importing ``mpi4py.MPI``), turns the variables MPICH's ``mpiexec`` gives each process
(``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``, ``MPI_LOCALNRANKS``) into PyTorch's (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``), then runs the script as ``__main__``, as
``python train.py`` would.

A rank that fails (an uncaught exception, ``sys.exit`` with a non-zero code) leaves with ``os._exit`` after
printing its traceback: ``MPI_Finalize`` is skipped, since it would wait for ranks still inside a
collective, and ``mpiexec`` sees a failed MPI process and stops the others at once. (MPI is initialised
first because ``mpiexec`` does not stop the job for a process that failed before ``MPI_Init``.)
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Mapping

__all__ = ["main", "rank_environment"]

_FROM_MPI = {"RANK": "PMI_RANK", "WORLD_SIZE": "PMI_SIZE", "LOCAL_RANK": "MPI_LOCALRANKID",
             "LOCAL_WORLD_SIZE": "MPI_LOCALNRANKS"}


def rank_environment(env: Mapping[str, str]) -> dict[str, str]:
    """PyTorch's rank variables from the ones MPICH's ``mpiexec`` sets."""
    missing = [mpi for mpi in _FROM_MPI.values() if mpi not in env]
    if missing:
        raise RuntimeError(f"minidl.distributed.bootstrap: {', '.join(missing)} not set: this module runs under "
                           f"the mpiexec of the dist extra; start jobs with python -m minidl.distributed.run")
    return {ours: env[mpi] for ours, mpi in _FROM_MPI.items()}


def _leave(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str]) -> None:
    module = bool(argv) and argv[0] == "-m"
    if module:
        argv = argv[1:]
    if not argv:
        raise SystemExit("usage: python bootstrap.py [-m] TARGET [ARGS...]")
    os.environ.update(rank_environment(os.environ))
    target = argv[0]
    sys.argv = list(argv)
    # sys.path[0] is this file's folder (minidl/distributed): make it what `python -m pkg.train` or
    # `python train.py` would have, before anything else is imported
    sys.path[0] = os.getcwd() if module else os.path.dirname(os.path.abspath(target))
    try:
        from mpi4py import MPI  # noqa: F401  (MPI_Init: from here on, a failed rank stops the job)

        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        _leave(e.code if isinstance(e.code, int) else 1)
    except KeyboardInterrupt:
        traceback.print_exc()
        _leave(130)
    except BaseException:
        print(f"minidl.distributed.run: rank {os.environ['RANK']} failed:", file=sys.stderr)
        traceback.print_exc()
        _leave(1)


if __name__ == "__main__":
    main(sys.argv[1:])
