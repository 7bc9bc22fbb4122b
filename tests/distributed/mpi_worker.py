"""Run by tests/distributed/test_distributed.py under ``mpiexec -n N``: ``python mpi_worker.py CHECK...``.

Every rank runs the same checks and raises on the first wrong value (mpiexec then exits non-zero);
rank 0 prints ``ok <check>`` for each check passed.
"""

import os
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


def check_ddp_adam(dtype, rtol, atol):
    """DDP with Adam over an uneven split where n does not divide B (10 rows: 5/5 on 2 ranks, 3/3/4 on 3)
    equals one process with the whole batch after 20 steps. Each rank's loss is its squared-error sum
    times n/B, so DDP's average over the ranks is the whole batch's mean loss."""
    r, n = dist.get_rank(), dist.get_world_size()
    B, steps = 10, 20
    g = np.random.default_rng(2)
    X, Y = g.normal(size=(steps, B, 4)).astype(dtype), g.normal(size=(steps, B, 1)).astype(dtype)

    def model(seed):
        return make_model(seed).to(minidl.float32) if dtype == np.float32 else make_model(seed)

    ref = model(100)
    ddp = DDP(model(100 + r), bucket_cap_mb=100 / 2**20)  # ~100-byte buckets: several all-reduces
    assert ref[0].weight.array.dtype == dtype
    assert len(ddp._buckets) > 1, len(ddp._buckets)
    opt_ref = minidl.optim.Adam(ref.parameters(), lr=0.01)
    opt = minidl.optim.Adam(ddp.parameters(), lr=0.01)
    lo, hi = r * B // n, (r + 1) * B // n
    for s in range(steps):
        opt_ref.zero_grad()
        ((ref(minidl.tensor(X[s])) - minidl.tensor(Y[s])) ** 2).mean().backward()
        opt_ref.step()
        opt.zero_grad()
        ((ddp(minidl.tensor(X[s, lo:hi])) - minidl.tensor(Y[s, lo:hi])) ** 2).sum().mul(n / B).backward()
        opt.step()
    worst = 0.0
    for (name, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
        assert b.array.dtype == dtype
        np.testing.assert_allclose(b.array, a.array, rtol=rtol, atol=atol, err_msg=f"{name} after {steps} steps")
        worst = max(worst, float(np.abs(b.array.astype(np.float64) - a.array).max()))
    moved = np.abs(ref[-1].weight.array - model(100)[-1].weight.array).max()
    assert moved > 0.05, moved  # 20 Adam steps of lr 0.01 moved the parameters
    if r == 0:
        print(f"adam {np.dtype(dtype).name}: largest |DDP - one process| = {worst:.2e} (parameters moved "
              f"up to {moved:.2f})", flush=True)


class OneIdle(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.idle = nn.Linear(3, 1), nn.Linear(3, 1)

    def forward(self, x):
        return self.used(x)


def check_unused_error():
    """Without find_unused_parameters, a parameter left out of the loss: the next forward names it."""
    ddp = DDP(OneIdle().double())
    x = minidl.tensor(np.ones((2, 3)))
    ddp(x).sum().backward()
    try:
        ddp(x)
    except RuntimeError as e:
        msg = str(e)
        assert "find_unused_parameters=True" in msg and f"did not receive grad for rank {dist.get_rank()}" in msg, msg
        assert "idle.weight, idle.bias" in msg and "used." not in msg and "indices" in msg, msg
    else:
        raise AssertionError("an unfinished reduction was not reported")


class Branches(nn.Module):
    """rank-dependent use: ``a`` everywhere, ``b`` on the last rank only, ``c`` nowhere."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 3), nn.Linear(3, 1), nn.Linear(3, 1)

    def forward(self, x, use_b):
        h = self.a(x).tanh()
        out = h.sum(1, keepdims=True)
        return out + self.b(h) if use_b else out


def check_find_unused():
    r, n = dist.get_rank(), dist.get_world_size()
    B, steps = 6 * n, 4
    g = np.random.default_rng(2)
    X = g.normal(size=(steps, B, 4))
    minidl.manual_seed(5)
    ref = Branches().double()
    ddp = DDP(Branches().double(), find_unused_parameters=True, bucket_cap_mb=100 / 2**20)
    ddp.module.load_state_dict(ref.state_dict())
    opt_ref = minidl.optim.SGD(ref.parameters(), lr=0.1)
    opt = minidl.optim.SGD(ddp.parameters(), lr=0.1)
    per = B // n
    for s in range(steps):
        opt_ref.zero_grad()  # the reference: the average over the ranks of their losses, in one process
        sum((ref(minidl.tensor(X[s, k * per:(k + 1) * per]), k == n - 1) ** 2).mean() for k in range(n)).mul(
            1 / n).backward()
        opt_ref.step()
        opt.zero_grad()
        (ddp(minidl.tensor(X[s, r * per:(r + 1) * per]), r == n - 1) ** 2).mean().backward()
        assert ddp.module.c.weight.grad is None and ddp.module.c.bias.grad is None  # unused on every rank
        assert ddp.module.b.weight.grad is not None  # used on the last rank only: every rank gets the average
        opt.step()
    for (name, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
        np.testing.assert_allclose(b.array, a.array, rtol=1e-10, atol=1e-12, err_msg=f"{name} after {steps} steps")
    assert np.abs(ddp.module.b.weight.array - Branches().double().b.weight.array).max() > 0  # b trained


def check_broadcast_buffers():
    r = dist.get_rank()
    for broadcast in (True, False):
        minidl.manual_seed(0)
        ddp = DDP(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double(), broadcast_buffers=broadcast)
        bn = ddp.module[1]
        if r == 1:
            bn.running_mean.array[...] = 100.0  # drifted on rank 1: rank 0's values come back before forward
        before = bn.running_mean.array.copy()
        x = minidl.tensor(np.random.default_rng(r).normal(size=(4, 2)))
        with minidl.no_grad():
            batch_mean = ddp.module[0](x).array.mean(0)
        ddp(x)
        start = np.zeros(3) if broadcast else before  # rank 0's running_mean is zeros
        close(bn.running_mean, 0.9 * start + 0.1 * batch_mean, f"running_mean, broadcast_buffers={broadcast}")


def check_sync_batchnorm():
    """SyncBatchNorm on n ranks with uneven shards (10 rows over 3 ranks: 3/3/4) equals BatchNorm on one
    process with the whole batch: outputs, gradients, running statistics, parameters after 5 SGD steps."""
    r, n = dist.get_rank(), dist.get_world_size()
    B, steps = 10, 5
    g = np.random.default_rng(3)
    X, Y = g.normal(size=(steps, B, 2, 5, 5)) * 3 + 1, g.normal(size=(steps, B, 2))

    def model():
        minidl.manual_seed(11)
        return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=None if n == 3 else 0.3), nn.ReLU(),
                             nn.Flatten(), nn.Linear(27, 2)).double()

    ref = model()
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(model())
    assert type(sync[1]).__name__ == "SyncBatchNorm" and sync[1].momentum == ref[1].momentum
    ddp = DDP(sync)
    opt_ref = minidl.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    opt = minidl.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    lo, hi = r * B // n, (r + 1) * B // n
    for s in range(steps):
        opt_ref.zero_grad()
        out_ref = ref(minidl.tensor(X[s]))
        ((out_ref - minidl.tensor(Y[s])) ** 2).sum().mul(1 / B).backward()
        opt.zero_grad()
        out = ddp(minidl.tensor(X[s, lo:hi]))
        close(out, out_ref.array[lo:hi], f"SyncBatchNorm forward, step {s}")
        # each rank's loss weighted n/B: DDP's average over the ranks is then the whole batch's loss
        ((out - minidl.tensor(Y[s, lo:hi])) ** 2).sum().mul(n / B).backward()
        for (name, a), (_, b) in zip(ref.named_parameters(), ddp.module.named_parameters()):
            np.testing.assert_allclose(b.grad.array, a.grad.array, rtol=1e-9, atol=1e-12,
                                       err_msg=f"gradient of {name}, step {s}")
        opt_ref.step()
        opt.step()
    for (name, a), (_, b) in zip(ref.state_dict().items(), ddp.module.state_dict().items()):
        np.testing.assert_allclose(b.array, a.array, rtol=1e-9, atol=1e-12, err_msg=f"{name} after {steps} steps")
    assert int(ddp.module[1].num_batches_tracked.item()) == steps
    ddp.eval()
    close(ddp(minidl.tensor(X[0, lo:hi])), ref.eval()(minidl.tensor(X[0])).array[lo:hi], "eval forward")


def fit_setup(n):
    """A small classifier, float64, 64 samples in global batches of 16 (16/n per rank), SGD with momentum."""
    from minidl.data import DataLoader, DistributedSampler, TensorDataset
    from minidl.data.collate import stack_samples

    g = np.random.default_rng(4)
    X = g.normal(size=(64, 4))
    Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    data = TensorDataset(minidl.tensor(X, dtype=minidl.float64), minidl.tensor(Y))
    # numpy batches: fit casts them to the model's float64 (the default collate makes float32 Tensors)
    loader = DataLoader(data, batch_size=16 // n, sampler=DistributedSampler(data, shuffle=True, seed=3),
                        collate_fn=stack_samples)
    minidl.manual_seed(7)
    ddp = DDP(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double())
    opt = minidl.optim.SGD(ddp.parameters(), lr=0.2, momentum=0.9)
    return data, loader, ddp, opt


class Seen(minidl.train.callbacks.Callback):
    """Each rank's own loss sum and sample count per epoch."""

    def __init__(self):
        self.sums = []

    def on_epoch_begin(self, state):
        self.sums.append([0.0, 0])

    def on_batch_end(self, state, batch, logs):
        self.sums[-1][0] += logs["loss"] * logs["size"]
        self.sums[-1][1] += logs["size"]


def check_fit(outdir):
    """fit under DDP: the same logs on every rank, equal to the loss over all ranks' samples; progress,
    checkpoints and CSV rows written by rank 0 only; evaluate on shards = evaluate on the whole set."""
    from minidl.data import DataLoader, DistributedSampler
    from minidl.data.collate import stack_samples
    from minidl.train import ModelCheckpoint, evaluate, fit
    from minidl.train.callbacks import CSVLogger

    r, n = dist.get_rank(), dist.get_world_size()
    data, loader, ddp, opt = fit_setup(n)
    seen = Seen()
    callbacks = [seen, ModelCheckpoint(f"{outdir}/ckpt-{{epoch}}.npz", monitor="loss"), CSVLogger(f"{outdir}/log.csv")]
    history = fit(ddp, nn.CrossEntropyLoss(), opt, loader, epochs=3, callbacks=callbacks, verbose=True)
    assert loader.sampler.epoch == 2  # fit called set_epoch: a new order every epoch
    sums = minidl.tensor(np.array(seen.sums, dtype=np.float64))
    dist.all_reduce(sums)
    np.testing.assert_allclose(history["loss"], sums.array[:, 0] / sums.array[:, 1], rtol=1e-12)
    assert sums.array[0, 1] == 64  # every sample once per epoch, over the ranks
    everyone = [minidl.zeros(6, dtype=minidl.float64) for _ in range(n)]
    dist.all_gather(everyone, minidl.tensor(np.array(history["loss"] + history["accuracy"])))
    for t in everyone:
        close(t, everyone[0].array, "fit's logs are the same on every rank")
    shards = DataLoader(data, batch_size=5, sampler=DistributedSampler(data, shuffle=False), collate_fn=stack_samples)
    whole = evaluate(ddp, nn.CrossEntropyLoss(), DataLoader(data, batch_size=5, collate_fn=stack_samples))
    sharded = evaluate(ddp, nn.CrossEntropyLoss(), shards)
    assert abs(whole["loss"] - sharded["loss"]) < 1e-12 and whole["accuracy"] == sharded["accuracy"]
    if r == 0:
        minidl.save(ddp.state_dict(), f"{outdir}/final.npz")
        print("history", history["loss"], flush=True)


def check_fit_resume(outdir):
    """On this world size, resume the run check_fit saved after epoch 2 (on another world size, the same
    global batch): the parameters after epoch 3 equal the uninterrupted run's."""
    from minidl.train import fit, load_checkpoint

    data, loader, ddp, opt = fit_setup(dist.get_world_size())
    ckpt = load_checkpoint(f"{outdir}/ckpt-2.npz", ddp, opt, loader=loader)
    assert ckpt["epoch"] == 2
    fit(ddp, nn.CrossEntropyLoss(), opt, loader, epochs=3, initial_epoch=ckpt["epoch"], verbose=False)
    final = minidl.load(f"{outdir}/final.npz")
    for name, t in ddp.state_dict().items():
        np.testing.assert_allclose(t.array, final[name].array, rtol=1e-10, atol=1e-12, err_msg=name)


class CountingComm:
    """Stands in for the group's communicator and records the non-blocking MPI calls made through it."""

    def __init__(self, comm):
        self.comm, self.calls = comm, []

    def __getattr__(self, name):
        if name.startswith("I"):
            self.calls.append(name)
        return getattr(self.comm, name)


def expect_error(fn, *parts):
    try:
        fn()
    except RuntimeError as e:
        for part in parts:
            assert part in str(e), (part, str(e))
        return
    raise AssertionError(f"no error; expected one naming {parts}")


def check_debug(on):
    """MINIDL_DISTRIBUTED_DEBUG: one Iallgather before each collective when on, none when off; ranks that
    disagree on shape, dtype or collective all raise, naming both sides."""
    r, n = dist.get_rank(), dist.get_world_size()
    g = sys.modules["minidl.distributed.group"]._default
    assert g.debug is on
    g.comm = counting = CountingComm(g.comm)
    t = minidl.full((2, 3), float(r + 1), dtype=minidl.float64)
    dist.all_reduce(t)
    close(t, np.full((2, 3), n * (n + 1) / 2), "all_reduce")
    dist.broadcast(t, src=0)
    dist.barrier()
    assert counting.calls == (["Iallgather", "Iallreduce", "Iallgather", "Ibcast", "Iallgather", "Ibarrier"] if on
                              else ["Iallreduce", "Ibcast", "Ibarrier"]), counting.calls
    g.comm = counting.comm
    if not on:
        return
    odd = minidl.zeros(3, dtype=minidl.float64)  # rank 0 passes (2, 3), the others (3,)
    other = 1 if r == 0 else 0
    expect_error(lambda: dist.all_reduce(t if r == 0 else odd), "all_reduce", f"this rank ({r})", f"rank {other}",
                 "shape (2, 3) float64", "shape (3,) float64")
    x = minidl.zeros(3, dtype=minidl.float32 if r == 1 else minidl.float64)  # rank 1 passes float32
    other = 0 if r == 1 else 1
    expect_error(lambda: dist.broadcast(x, src=0), "broadcast", f"rank {other}", "shape (3,) float32",
                 "shape (3,) float64")
    # rank 0 calls all_reduce, the others broadcast
    expect_error(lambda: dist.all_reduce(odd) if r == 0 else dist.broadcast(odd), "all_reduce with shape (3,)",
                 "broadcast with shape (3,)")
    dist.all_reduce(odd)  # the group still works after the errors: no data collective was started
    close(odd, np.zeros(3), "all_reduce after the debug errors")


def check_collectives_on_cpu_backends():
    backends = [b for b in ("numpy", "numba") if b in available()]
    for b in backends:
        check_collectives(b)
    if dist.get_rank() == 0:
        print(f"collectives ran on {backends}", flush=True)


CHECKS = {"collectives": check_collectives_on_cpu_backends,
          "ddp": lambda: check_ddp(False),
          "ddp_adam64": lambda: check_ddp_adam(np.float64, 1e-10, 1e-12),
          "ddp_adam32": lambda: check_ddp_adam(np.float32, 1e-5, 1e-6),
          "ddp_no_sync": lambda: check_ddp(True), "unused_error": check_unused_error,
          "find_unused": check_find_unused, "broadcast_buffers": check_broadcast_buffers,
          "sync_bn": check_sync_batchnorm, "debug_on": lambda: check_debug(True),
          "debug_off": lambda: check_debug(False), "fit": lambda: check_fit(os.environ["WORKER_DIR"]),
          "fit_resume": lambda: check_fit_resume(os.environ["WORKER_DIR"])}

if __name__ == "__main__":
    dist.init_process_group(backend="mpi")
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    for name in sys.argv[1:]:
        CHECKS[name]()
        if dist.get_rank() == 0:
            print(f"ok {name} on {dist.get_world_size()} ranks", flush=True)
    dist.destroy_process_group()
    assert not dist.is_initialized()
