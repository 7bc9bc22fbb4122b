"""Started by tests/distributed/test_launcher.py through ``python -m minidl.distributed.run``:
``launched.py MODE OUTDIR``. Each rank writes ``OUTDIR/rank<R>.txt`` (its variables, then its pid) before
doing what MODE says. Modes ``hang`` and ``kill`` are run under plain ``mpiexec`` (the library's timeout)."""

import datetime
import os
import signal
import sys
import time
from pathlib import Path

import minidl.distributed as dist

mode, outdir = sys.argv[1], Path(sys.argv[2])
keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# rank and world size checked against RANK / WORLD_SIZE; "hang" needs a short timeout
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=3) if mode == "hang" else None)
rank = dist.get_rank()
record = {k: os.environ.get(k) for k in keys} | {"get_rank": str(rank), "get_world_size": str(dist.get_world_size()),
                                                  "pid": str(os.getpid()), "argv": " ".join(sys.argv[3:])}
(outdir / f"rank{rank}.txt").write_text("\n".join(f"{k}={v}" for k, v in record.items()))
dist.barrier()
if mode == "raise" and rank == 1:
    raise ValueError("rank 1 fails on purpose")
if mode == "exit3" and rank == 1:
    sys.exit(3)
if mode == "hang" and rank == 1:
    time.sleep(120)  # alive but absent: rank 0's barrier below must time out
if mode == "kill" and rank == 1:
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "sleep":
    time.sleep(120)
if mode != "ok":
    dist.barrier()  # rank 0 waits here for the rank that failed: mpiexec must stop it
dist.destroy_process_group()
