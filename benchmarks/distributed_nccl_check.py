"""The nccl backend on a real GPU (the ``nccl`` stage of benchmarks/gpu_check.sh):

    mpiexec -n 1 python benchmarks/distributed_nccl_check.py      # one rank per GPU; one GPU: -n 1

Checks, on cupy tensors, every collective's values against NumPy, a DistributedDataParallel step against
the same model without DDP, and times a 64 MB all_reduce; rank 0 prints one JSON line and exits non-zero
on the first wrong value. Never run here (no GPU): its logic is tested by tests/distributed/nccl_worker.py
under a stand-in CuPy.
"""

from __future__ import annotations

import datetime
import json
import time

import numpy as np


def main() -> None:
    import cupy

    import minidl
    import minidl.distributed as dist
    import minidl.nn as nn
    from minidl.nn.parallel import DistributedDataParallel

    dist.init_process_group("nccl", timeout=datetime.timedelta(seconds=60))
    r, n = dist.get_rank(), dist.get_world_size()
    report: dict = {"ranks": n, "device": int(cupy.cuda.runtime.getDevice())}
    with minidl.use_backend("cupy"):
        for dtype in (minidl.float32, minidl.float64):
            for op, want in [(dist.ReduceOp.SUM, n * (n + 1) / 2), (dist.ReduceOp.AVG, (n + 1) / 2),
                             (dist.ReduceOp.MAX, n), (dist.ReduceOp.MIN, 1)]:
                t = minidl.full((1000,), float(r + 1), dtype=dtype)
                dist.all_reduce(t, op=op)
                assert np.allclose(t.numpy(), want), (op, dtype, t.numpy()[:3])
        t = minidl.full((5,), float(r))
        dist.broadcast(t, src=n - 1)
        assert np.allclose(t.numpy(), n - 1)
        big = minidl.zeros(3 * n)
        dist.all_gather_into_tensor(big, minidl.full((3,), float(r)))
        assert np.allclose(big.numpy(), np.repeat(np.arange(n), 3))
        out = minidl.zeros(2)
        dist.reduce_scatter_tensor(out, minidl.ones(2 * n))
        assert np.allclose(out.numpy(), n)
        dist.barrier()

        minidl.manual_seed(0)
        ref = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
        minidl.manual_seed(0)
        ddp = DistributedDataParallel(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)),
                                      bucket_cap_mb=0.001)
        x = minidl.tensor(np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32))
        (ref(x) ** 2).mean().backward()  # every rank the same batch: the average is the local gradient
        (ddp(x) ** 2).mean().backward()
        for (name, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
            assert np.allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6), name

        t = minidl.ones(16 * 2**20)  # 64 MB of float32
        dist.all_reduce(t)
        cupy.cuda.get_current_stream().synchronize()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            dist.all_reduce(t)
            cupy.cuda.get_current_stream().synchronize()
            times.append(time.perf_counter() - start)
        report["allreduce_64MB_ms"] = round(float(np.median(times)) * 1e3, 3)
    dist.destroy_process_group()
    if r == 0:
        print(json.dumps({"nccl_check": "ok", **report}), flush=True)


if __name__ == "__main__":
    main()
