"""Distributed benchmarks over loopback MPI: all-reduce latency/bandwidth by message size (osu-style), and the
step time of the MNIST CNN under DistributedDataParallel on 1 and 2 processes.

    python benchmarks/distributed_bench.py [--ranks 2] [--repeat 7] [--json out.json] [--workloads]

Each configuration runs in its own ``mpiexec -n P`` job (the venv's), one BLAS/Numba thread per rank.

* ``allreduce``: for sizes 8 B .. 64 MB (float32), the median time of ``minidl.distributed.all_reduce`` and
  of mpi4py's blocking ``Allreduce`` on the same buffer (minidl starts ``Iallreduce`` and polls ``Test``),
  with the spread over rounds; bandwidth is the algorithm bandwidth (bytes / time) and the bus bandwidth
  ``2 (p-1)/p x bytes / time``, what each link carries in a ring all-reduce (NCCL's convention).
* ``ddp``: one training step (forward, backward with bucketed all-reduce, Adam) of the MNIST CNN at a
  global batch of 64 (64/P per rank), and the same step under ``no_sync()`` (no communication): their
  difference is the communication left exposed after overlap.
* ``--workloads``: training throughput (samples/s) of W1 (MNIST CNN, batch 64, Adam) and W5 (MLP
  784-512-512-10, batch 128, SGD) under DDP on 1 process and on P processes, one thread each: *strong*
  scaling keeps the global batch (B/P rows per rank), *weak* scaling keeps B rows per rank (global batch
  P x B). Scaling efficiency = throughput on P processes / (P x throughput on 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SIZES = [8 * 4**k for k in range(13)]  # 8 B, 32 B, ..., 32 MB (64 MB and above left out)
SIZES = [s for s in SIZES if s <= 64 * 2**20]


def worker_allreduce(repeat: int) -> list[dict]:
    import minidl
    import minidl.distributed as dist
    from minidl.distributed.work import mpi

    dist.init_process_group("mpi")
    MPI = mpi()  # noqa: N806
    comm, rows = MPI.COMM_WORLD, []
    for size in SIZES:
        n = max(1, size // 4)
        t = minidl.zeros(n, dtype=minidl.float32, backend="numpy")
        buf = t.array
        iters = max(3, min(1000, int(2e7 // max(size, 1))))
        timings = {"minidl": [], "mpi4py": []}
        for _ in range(repeat):
            for name in ("minidl", "mpi4py"):
                comm.Barrier()
                start = time.perf_counter()
                for _ in range(iters):
                    if name == "minidl":
                        dist.all_reduce(t)
                    else:
                        comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)
                elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX) / iters
                timings[name].append(elapsed)
        rows.append({"bytes": n * 4, **{f"{k}_s": sorted(v) for k, v in timings.items()}})
    dist.destroy_process_group()
    return rows


def worker_ddp(repeat: int, steps: int) -> dict:
    import minidl
    import minidl.distributed as dist
    import minidl.nn as nn
    from minidl.examples.mnist_cnn import build_model
    from minidl.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    p = dist.get_world_size()
    per = 64 // p
    rng = np.random.default_rng(dist.get_rank())
    with minidl.use_backend("numba" if "numba" in minidl.available_backends() else "numpy"):
        model = DistributedDataParallel(build_model(), bucket_cap_mb=float(os.environ.get("BUCKET_CAP_MB", 25)))
        x = minidl.tensor(rng.random((per, 1, 28, 28), dtype=np.float32))
        y = minidl.tensor(rng.integers(0, 10, per))
    opt = minidl.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(sync: bool) -> None:
        opt.zero_grad()
        if sync:
            loss_fn(model(x), y).backward()
        else:
            with model.no_sync():
                loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step(True)
    times = {"sync": [], "no_sync": []}
    for _ in range(repeat):
        for mode in ("sync", "no_sync"):
            dist.barrier()
            start = time.perf_counter()
            for _ in range(steps):
                step(mode == "sync")
            times[mode].append(time.perf_counter() - start)
    MPI = __import__("mpi4py.MPI", fromlist=["MPI"])  # noqa: N806
    out = {k: sorted(MPI.COMM_WORLD.allreduce(v, op=MPI.MAX) / steps for v in vals) for k, vals in times.items()}
    dist.destroy_process_group()
    return {"ranks": p, "per_rank_batch": per, **{f"{k}_s": v for k, v in out.items()}}


WORKLOAD_BATCH = {"W1": 64, "W5": 128}  # as in benchmarks/workloads.py


def worker_workload(name: str, per_rank: int, repeat: int, steps: int) -> dict:
    """Samples per second of ``name`` under DDP with ``per_rank`` rows on each rank (the slowest rank's time)."""
    import minidl
    import minidl.distributed as dist
    import minidl.nn as nn
    from minidl.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    p = dist.get_world_size()
    rng = np.random.default_rng(dist.get_rank())
    minidl.manual_seed(0)
    with minidl.use_backend("numba" if "numba" in minidl.available_backends() else "numpy"):
        if name == "W1":
            model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
            x = minidl.tensor(rng.standard_normal((per_rank, 1, 28, 28)).astype(np.float32))
        else:
            model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
            x = minidl.tensor(rng.standard_normal((per_rank, 784)).astype(np.float32))
        y = minidl.tensor(rng.integers(0, 10, per_rank))
        model = DistributedDataParallel(model)
    opt = (minidl.optim.Adam(model.parameters(), lr=1e-3) if name == "W1"
           else minidl.optim.SGD(model.parameters(), lr=1e-2))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(repeat):
        dist.barrier()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    MPI = __import__("mpi4py.MPI", fromlist=["MPI"])  # noqa: N806
    step_s = sorted(MPI.COMM_WORLD.allreduce(t, op=MPI.MAX) / steps for t in times)
    dist.destroy_process_group()
    return {"workload": name, "ranks": p, "per_rank_batch": per_rank, "step_s": step_s,
            "samples_per_s": sorted(p * per_rank / t for t in step_s)}


def run_workloads(p: int, repeat: int) -> list[dict]:
    """For W1 and W5: 1 process with batch B, P processes with B/P (strong) and with B each (weak)."""
    rows = []
    for name, batch in WORKLOAD_BATCH.items():
        for ranks, per in ((1, batch), (p, batch // p), (p, batch)):
            rows.append(run(f"workload:{name}:{per}", ranks, repeat))
    return rows


def print_workloads(rows: list[dict]) -> None:
    print("\nDDP training throughput, 1 thread per process (numba backend), samples/s: median [min - max]")
    print(f"{'workload':>8} {'processes':>9} {'batch/rank':>10} {'step':>11} {'samples/s':>10} {'[range]':>17} "
          f"{'efficiency':>10}")
    base = {}
    for r in rows:
        sps = r["samples_per_s"]
        med = float(np.median(sps))
        if r["ranks"] == 1:
            base[r["workload"]] = med
        eff = med / (r["ranks"] * base[r["workload"]])
        print(f"{r['workload']:>8} {r['ranks']:>9} {r['per_rank_batch']:>10} {fmt_time(float(np.median(r['step_s'])))} "
              f"{med:10.0f} [{sps[0]:7.0f} -{sps[-1]:7.0f}] {eff:10.2f}")


def run(kind: str, ranks: int, repeat: int, bucket_cap_mb: float = 25.0) -> object:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "BUCKET_CAP_MB": str(bucket_cap_mb), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1",
           "MINIDL_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, str(HERE), "--worker", kind,
                          "--repeat", str(repeat)], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_time(s: float) -> str:
    return f"{s * 1e6:8.1f} us" if s < 1e-3 else f"{s * 1e3:8.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", default=None)
    ap.add_argument("--bucket-cap-mb", type=float, default=25.0, help="DDP's bucket size for the step timing")
    ap.add_argument("--workloads", action="store_true", help="only the W1/W5 throughput scaling")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.worker.startswith("workload:"):
            _, name, per = args.worker.split(":")
            result = worker_workload(name, int(per), args.repeat, 10)
        elif args.worker == "allreduce":
            result = worker_allreduce(args.repeat)
        else:
            result = worker_ddp(args.repeat, 5)
        if int(os.environ.get("PMI_RANK", "0")) == 0:
            print(json.dumps(result))
        return
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; medians of "
          f"{args.repeat} rounds [min - max]")
    p = args.ranks
    if args.workloads:
        rows = run_workloads(p, args.repeat)
        print_workloads(rows)
        load = os.getloadavg()
        print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"workloads": rows, "ranks": p}, indent=1))
        return
    rows = run("allreduce", p, args.repeat)
    print(f"\nall_reduce of float32 on {p} ranks (loopback, MPICH)")
    print(f"{'bytes':>10} {'minidl':>12} {'[range]':>24} {'mpi4py':>12} {'algbw MB/s':>11} {'busbw MB/s':>11}")
    for r in rows:
        m, raw = r["minidl_s"], r["mpi4py_s"]
        med, med_raw = float(np.median(m)), float(np.median(raw))
        print(f"{r['bytes']:>10} {fmt_time(med)} [{fmt_time(m[0])} -{fmt_time(m[-1])}] {fmt_time(med_raw)} "
              f"{r['bytes'] / med / 1e6:11.1f} {2 * (p - 1) / p * r['bytes'] / med / 1e6:11.1f}")
    ddp = [run("ddp", n, args.repeat, args.bucket_cap_mb) for n in (1, p)]
    print(f"\nMNIST CNN step (forward + backward + Adam), global batch 64, buckets of {args.bucket_cap_mb:g} MB")
    for d in ddp:
        s, ns = d["sync_s"], d["no_sync_s"]
        print(f"{d['ranks']} rank(s) x batch {d['per_rank_batch']:>2}: step {fmt_time(float(np.median(s)))} "
              f"[{fmt_time(s[0])} -{fmt_time(s[-1])}], without all-reduce {fmt_time(float(np.median(ns)))}")
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"allreduce": rows, "ddp": ddp, "ranks": p}, indent=1))


if __name__ == "__main__":
    main()
