"""``python -m minidl.distributed.run -n 4 train.py --epochs 2``: start a data-parallel job (torchrun's role).

The launcher wraps the ``mpiexec`` installed next to this Python (the ``dist`` extra's MPICH; never another
MPI's launcher: Open MPI's ``mpiexec`` cannot start an MPICH program). Every rank runs
``python minidl/distributed/bootstrap.py train.py ...``, which sets the variables a PyTorch script reads and
``init_process_group`` takes as its defaults:

=================  ==========================================================
``RANK``           this process's rank, 0 .. WORLD_SIZE - 1 (MPI's ``PMI_RANK``)
``WORLD_SIZE``     the number of processes (``-n``)
``LOCAL_RANK``     the rank among the processes on this machine (pick a GPU)
``LOCAL_WORLD_SIZE`` the number of processes on this machine
``MASTER_ADDR``    the first host of ``--hostfile`` (``127.0.0.1`` without one)
``MASTER_PORT``    ``--master-port`` (29500); MPI does not need it, PyTorch scripts read it
=================  ==========================================================

**Faults.** An uncaught exception (or ``sys.exit(code)`` with a non-zero code) on one rank ends that rank
with its exit code at once, without ``MPI_Finalize``; ``mpiexec`` then stops the other ranks and the
launcher returns that code, so a job never hangs on a rank that failed. SIGINT and SIGTERM sent to the
launcher are forwarded to ``mpiexec``, which forwards them to every rank; the launcher returns
``128 + signal`` when the job ended that way.

**Several machines.** ``--hostfile FILE`` is read in MPICH's (Hydra's) host-file format: one host per line,
optionally ``:N`` for how many processes it takes, ``#`` starts a comment (the launcher parses the file and
passes the hosts to ``mpiexec -hosts node1:4,node2:4``; Hydra's extra per-host options are refused)::

    # hosts.txt: 4 processes on node1, then 4 on node2
    node1:4
    node2:4

Ranks are placed in file order, filling each host's ``N`` before the next. Every host needs the same
Python environment at the same path and password-less ``ssh`` from the first host (Hydra's default
bootstrap); ``MASTER_ADDR`` is set to the file's first host.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

__all__ = ["main", "mpiexec_command", "read_hostfile"]

_HOST_LINE = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+)(?::(?P<n>\d+))?$")


def mpiexec_path() -> Path:
    """The ``mpiexec`` next to ``sys.executable``, or a FileNotFoundError naming the extra to install."""
    path = Path(sys.executable).parent / "mpiexec"
    if not path.exists():
        raise FileNotFoundError(f"minidl.distributed.run: no mpiexec next to {sys.executable}: "
                                f'pip install "minidl[dist]" (mpi4py + the mpich wheel)')
    return path


def read_hostfile(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """The ``(host, processes)`` pairs of an MPICH host file (``processes`` is 1 when a line has no ``:N``)."""
    hosts = []
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _HOST_LINE.match(line)
        if match is None or (match["n"] is not None and int(match["n"]) < 1):
            raise ValueError(f"minidl.distributed.run: {path}, line {number}: {raw.strip()!r} is not 'host' or "
                             f"'host:N' with N >= 1 (MPICH host-file format)")
        hosts.append((match["host"], int(match["n"] or 1)))
    if not hosts:
        raise ValueError(f"minidl.distributed.run: the host file {path} names no host")
    return hosts


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m minidl.distributed.run",
                                description="Start N processes of a training script over MPI (torchrun's role).")
    p.add_argument("-n", "--nproc", "--nproc-per-node", "--nproc_per_node", dest="nproc", type=int, default=1,
                   help="number of processes in all (mpiexec -n; default 1)")
    p.add_argument("--hostfile", help="MPICH host file: one 'host' or 'host:N' per line")
    p.add_argument("--master-addr", "--master_addr", dest="master_addr",
                   help="MASTER_ADDR for the ranks (default: the host file's first host, else 127.0.0.1)")
    p.add_argument("--master-port", "--master_port", dest="master_port", type=int, default=29500)
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    p.add_argument("target", help="the training script (or module with -m)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    ns = p.parse_args(argv)
    if ns.nproc < 1:
        p.error(f"-n must be at least 1, got {ns.nproc}")
    return ns


def mpiexec_command(ns: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``mpiexec`` command line and the environment the ranks start with."""
    cmd = [str(mpiexec_path()), "-n", str(ns.nproc)]
    master = "127.0.0.1"
    if ns.hostfile:
        hosts = read_hostfile(ns.hostfile)
        master = hosts[0][0]
        cmd += ["-hosts", ",".join(f"{host}:{n}" for host, n in hosts)]
    env = {**os.environ, "MASTER_ADDR": ns.master_addr or master, "MASTER_PORT": str(ns.master_port)}
    bootstrap = str(Path(__file__).with_name("bootstrap.py"))
    cmd += [sys.executable, bootstrap, *(["-m"] if ns.module else []), ns.target, *ns.args]
    return cmd, env


def main(argv: list[str] | None = None) -> int:
    """Run the job; return its exit code (``128 + signal`` when a signal ended it)."""
    ns = parse_args(sys.argv[1:] if argv is None else argv)
    cmd, env = mpiexec_command(ns)
    # mpiexec in a session of its own: a terminal's Ctrl-C reaches it once, through the launcher below
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    # (a launcher killed with SIGKILL cannot forward anything: then stop the job with `kill -TERM <mpiexec pid>`)

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
