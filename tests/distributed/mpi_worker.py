"""Run by tests/distributed/test_distributed.py under ``mpiexec -n N``: ``python mpi_worker.py CHECK...``.

Every rank runs the same checks and raises on the first wrong value (mpiexec then exits non-zero);
rank 0 prints ``ok <check>`` for each check passed.
"""

import sys

import numpy as np

import minidl
import minidl.distributed as dist
import minidl.nn as nn
from minidl.backends import available
from minidl.nn.parallel import DistributedDataParallel as DDP


def close(t, expected, what):
    np.testing.assert_allclose(np.asarray(t.array), np.asarray(expected), rtol=1e-12, atol=0, err_msg=what)


def check_collectives(backend):
    r, n = dist.get_rank(), dist.get_world_size()
    with minidl.use_backend(backend):
        ranks = np.arange(n, dtype=np.float64)
        for async_op in (False, True):
            for op, expected in [(dist.ReduceOp.SUM, ranks.sum() + n), (dist.ReduceOp.AVG, ranks.mean() + 1),
                                 (dist.ReduceOp.MAX, n), (dist.ReduceOp.MIN, 1.0),
                                 (dist.ReduceOp.PRODUCT, np.prod(ranks + 1))]:
                t = minidl.full((2, 3), float(r + 1), dtype=minidl.float64)
                assert t.backend.name == backend
                work = dist.all_reduce(t, op=op, async_op=async_op)
                if async_op:
                    assert isinstance(work, dist.Work)
                    work.wait()
                    assert work.is_completed()
                else:
                    assert work is None
                close(t, np.full((2, 3), expected), f"all_reduce {op} async={async_op}")
        i = minidl.tensor(np.arange(4) * (r + 1))  # integer SUM
        dist.all_reduce(i)
        assert i.array.dtype == np.int64 and i.array.tolist() == (np.arange(4) * (n * (n + 1) // 2)).tolist()
        base = minidl.tensor(np.arange(6.0).reshape(2, 3) + r)  # a non-contiguous view: written back in place
        view = base.transpose(0, 1)
        dist.all_reduce(view)
        close(view, (np.arange(6.0).reshape(2, 3) * n + ranks.sum()).T, "all_reduce of a transposed view")

        t = minidl.full((3,), float(r), dtype=minidl.float32)
        dist.broadcast(t, src=n - 1)
        assert t.array.dtype == np.float32 and (t.array == n - 1).all()
        t = minidl.full((3,), float(r))
        dist.broadcast(t, src=0, async_op=True).wait()
        close(t, np.zeros(3), "async broadcast")

        mine = minidl.tensor(np.array([r, 10 * r], dtype=np.float64))
        out = [minidl.zeros(2, dtype=minidl.float64) for _ in range(n)]
        dist.all_gather(out, mine)
        close(minidl.stack(out), [[k, 10 * k] for k in range(n)], "all_gather")
        out = [minidl.zeros(2, dtype=minidl.float64) for _ in range(n)]
        dist.all_gather(out, mine, async_op=True).wait()
        close(minidl.stack(out), [[k, 10 * k] for k in range(n)], "async all_gather")
        big = minidl.zeros(2 * n, dtype=minidl.float64)
        dist.all_gather_into_tensor(big, mine)
        close(big, np.array([[k, 10 * k] for k in range(n)]).ravel(), "all_gather_into_tensor")

        dst = n - 1
        gl = [minidl.zeros(2, dtype=minidl.float64) for _ in range(n)] if r == dst else None
        dist.gather(mine, gl, dst=dst)
        if r == dst:
            close(minidl.stack(gl), [[k, 10 * k] for k in range(n)], "gather")

        t = minidl.zeros(2, dtype=minidl.float64)
        sl = [minidl.tensor(np.array([k, -k], dtype=np.float64)) for k in range(n)] if r == 0 else None
        dist.scatter(t, sl, src=0)
        close(t, [r, -r], "scatter")
        t = minidl.zeros(2, dtype=minidl.float64)
        dist.scatter(t, sl, src=0, async_op=True).wait()
        close(t, [r, -r], "async scatter")

        t = minidl.full((2,), float(r + 1), dtype=minidl.float64)
        dist.reduce(t, dst=0, op=dist.ReduceOp.SUM)
        close(t, np.full(2, ranks.sum() + n if r == 0 else r + 1), "reduce")

        # rank r's part k holds 10r + k
        inputs = [minidl.full((2,), float(10 * r + k), dtype=minidl.float64) for k in range(n)]
        out = minidl.zeros(2, dtype=minidl.float64)
        dist.reduce_scatter(out, inputs, op=dist.ReduceOp.SUM)
        close(out, np.full(2, 10 * ranks.sum() + n * r), "reduce_scatter")
        out = minidl.zeros(2, dtype=minidl.float64)
        dist.reduce_scatter_tensor(out, minidl.cat(inputs), op=dist.ReduceOp.AVG, async_op=True).wait()
        close(out, np.full(2, 10 * ranks.mean() + r), "async reduce_scatter_tensor AVG")

        dist.barrier()
        dist.barrier(async_op=True).wait()


def make_model(seed):
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.Tanh(), nn.Linear(3, 1)).double()


def check_ddp(accumulate):
    r, n = dist.get_rank(), dist.get_world_size()
    B, steps = 12, 20
    g = np.random.default_rng(1)
    X, Y = g.normal(size=(steps, B, 4)), g.normal(size=(steps, B, 1))
    ref = make_model(100)  # rank 0's initial values
    ddp = DDP(make_model(100 + r), bucket_cap_mb=200 / 2**20)  # ~200-byte buckets: several all-reduces
    assert len(ddp._buckets) > 1
    launched_with_pending = []  # gradients still to come when each bucket's all-reduce started
    all_reduce = dist.all_reduce

    def recording_all_reduce(*args, **kwargs):
        launched_with_pending.append(ddp._pending)
        return all_reduce(*args, **kwargs)

    dist.all_reduce = recording_all_reduce
    for (_, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
        close(b, a.array, "parameters broadcast from rank 0 at wrap time")
    opt_ref = minidl.optim.SGD(ref.parameters(), lr=0.1)
    opt = minidl.optim.SGD(ddp.parameters(), lr=0.1)
    lo, hi = r * B // n, (r + 1) * B // n  # B/n rows per rank (B divisible by 2 and 3)
    for s in range(steps):
        opt_ref.zero_grad()
        ((ref(minidl.tensor(X[s])) - minidl.tensor(Y[s])) ** 2).mean().backward()
        opt_ref.step()
        opt.zero_grad()
        x, y = X[s, lo:hi], Y[s, lo:hi]
        if accumulate:  # two micro-batches: the first under no_sync, the second averages the sum
            m = (hi - lo) // 2
            with ddp.no_sync():
                ((ddp(minidl.tensor(x[:m])) - minidl.tensor(y[:m])) ** 2).sum().mul(1 / (hi - lo)).backward()
            ((ddp(minidl.tensor(x[m:])) - minidl.tensor(y[m:])) ** 2).sum().mul(1 / (hi - lo)).backward()
        else:
            ((ddp(minidl.tensor(x)) - minidl.tensor(y)) ** 2).mean().backward()
        opt.step()
    dist.all_reduce = all_reduce
    # buckets overlap backward: all but the last bucket start while earlier layers' gradients are to come
    assert max(launched_with_pending) > 0 and launched_with_pending.count(0) == steps
    for (name, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
        np.testing.assert_allclose(b.array, a.array, rtol=1e-10, atol=1e-12, err_msg=f"{name} after {steps} steps")
    assert np.abs(a.array - make_model(100)[-1].bias.array).max() > 1e-3  # training moved the parameters


def check_collectives_on_cpu_backends():
    backends = [b for b in ("numpy", "numba") if b in available()]
    for b in backends:
        check_collectives(b)
    if dist.get_rank() == 0:
        print(f"collectives ran on {backends}", flush=True)


CHECKS = {"collectives": check_collectives_on_cpu_backends,
          "ddp": lambda: check_ddp(False), "ddp_no_sync": lambda: check_ddp(True)}

if __name__ == "__main__":
    dist.init_process_group(backend="mpi")
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    for name in sys.argv[1:]:
        CHECKS[name]()
        if dist.get_rank() == 0:
            print(f"ok {name} on {dist.get_world_size()} ranks", flush=True)
    dist.destroy_process_group()
    assert not dist.is_initialized()
