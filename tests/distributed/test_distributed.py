"""minidl.distributed over real MPI processes (the venv's mpiexec), DistributedDataParallel against one
process with the whole batch, and DistributedSampler's shards (in-process)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import minidl.distributed as dist
from minidl.backends import available
from minidl.utils.data import DistributedSampler

MPIEXEC = Path(sys.executable).parent / "mpiexec"  # never another launcher: Open MPI's aborts an MPICH program
WORKER = Path(__file__).with_name("mpi_worker.py")


def run_ranks(n: int, *checks: str, **env_vars: str) -> str:
    if not MPIEXEC.exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue",
           **env_vars}
    proc = subprocess.run([str(MPIEXEC), "-n", str(n), sys.executable, str(WORKER), *checks], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc.stdout


@pytest.mark.parametrize("n", [2, 3])
def test_collectives_on_every_cpu_backend_and_ddp_match_one_process(n):
    """all_reduce (SUM/AVG/MAX/MIN/PRODUCT), broadcast, all_gather(_into_tensor), gather, scatter, reduce,
    reduce_scatter(_tensor), barrier, sync and async_op, on the numpy and numba backends; then
    DistributedDataParallel with B/n rows per rank equals one process with batch B after 20 SGD steps
    (float64), with and without no_sync accumulation; all but the last bucket start during backward;
    find_unused_parameters with a branch used on the last rank only and one used nowhere equals one process
    (the unused one keeps grad None); SyncBatchNorm with B/n rows per rank (uneven on 3 ranks) equals
    BatchNorm with batch B (outputs, gradients, running statistics, 5 SGD-momentum steps); without
    find_unused_parameters an idle parameter is named by the next forward."""
    checks = ("collectives", "ddp", "ddp_no_sync", "find_unused", "sync_bn", "unused_error")
    out = run_ranks(n, *checks)
    for check in checks:
        assert f"ok {check} on {n} ranks" in out
    backends = [b for b in ("numpy", "numba") if b in available()]
    assert f"collectives ran on {backends}" in out


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_with_adam_on_an_uneven_split_matches_one_process(n):
    """DDP with Adam, 10 rows per step over n ranks (5/5; 3/3/4 on 3 ranks, each rank's loss weighted n/B),
    equals one process with the whole batch after 20 steps: float64 within rtol 1e-10 (measured 1.1e-16),
    float32 within rtol 1e-5 + atol 1e-6 (measured 3e-8 on parameters of ~0.1-0.5: the ranks' partial sums
    round differently from the one-process sum, and Adam's division by sqrt(v) carries that into each
    step)."""
    out = run_ranks(n, "ddp_adam64", "ddp_adam32")
    assert f"ok ddp_adam64 on {n} ranks" in out and f"ok ddp_adam32 on {n} ranks" in out


@pytest.mark.parametrize("n", [2, 3])
def test_nccl_backend_calls_match_cupys_signatures_on_the_current_stream(n):
    """The nccl backend under a stand-in cupy (tests/distributed/nccl_worker.py): unique id broadcast over MPI,
    every NCCL call checked against cupy's wrapper signature and the current stream, and done over MPI so
    the collectives' results are checked as well; GPU-tensor, contiguity, dtype and gather errors."""
    if not MPIEXEC.exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    proc = subprocess.run([str(MPIEXEC), "-n", str(n), sys.executable, str(WORKER.with_name("nccl_worker.py"))],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert f"ok nccl on {n} ranks: 19 calls checked" in proc.stdout


@pytest.mark.parametrize("n", [2, 3])
def test_debug_mode_checks_shapes_and_dtypes_first_and_costs_nothing_when_off(n):
    """MINIDL_DISTRIBUTED_DEBUG=1: a shape, dtype or collective that differs on one rank makes every rank
    raise, naming the collective, its own shape/dtype and the other rank's; the group works afterwards.
    The MPI calls are counted: one Iallgather before each collective when on, none when off."""
    assert f"ok debug_on on {n} ranks" in run_ranks(n, "debug_on", MINIDL_DISTRIBUTED_DEBUG="1")
    assert f"ok debug_off on {n} ranks" in run_ranks(n, "debug_off", MINIDL_DISTRIBUTED_DEBUG="0")


def test_broadcast_buffers_sends_rank0_running_stats_before_forward():
    """A BatchNorm running_mean drifted on rank 1 is replaced by rank 0's before forward (and kept when
    broadcast_buffers=False)."""
    assert "ok broadcast_buffers on 2 ranks" in run_ranks(2, "broadcast_buffers")


def test_fit_under_ddp_and_resume_on_another_world_size(tmp_path):
    """fit on 2 ranks (global batch 16 = 2 x 8, DistributedSampler): logs averaged over the ranks and equal on
    both, progress, checkpoints and CSV rows from rank 0 only; then the checkpoint of epoch 2 resumed on 1
    rank with batch 16 gives the uninterrupted run's parameters after epoch 3 (float64, rtol 1e-10)."""
    out = run_ranks(2, "fit", WORKER_DIR=str(tmp_path))
    assert "ok fit on 2 ranks" in out and out.count("Epoch 1/3") == 1 and out.count("Epoch 3/3") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1.npz", "ckpt-2.npz", "ckpt-3.npz", "final.npz",
                                                           "log.csv"]
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "epoch,loss,accuracy,lr"
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 4
    assert "ok fit_resume on 1 ranks" in run_ranks(1, "fit_resume", WORKER_DIR=str(tmp_path))


def test_calls_before_init_process_group_name_it():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        from minidl import nn
        from minidl.nn.parallel import DistributedDataParallel

        DistributedDataParallel(nn.Linear(2, 2))


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"minidl\[dist\]"):
        dist.init_process_group(backend="mpi")
    assert not dist.is_initialized()


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (2, 3, False)])
def test_distributed_sampler_shards_are_disjoint_and_cover_the_data(n, replicas, drop_last):
    for epoch in (0, 1):
        shards = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=True, seed=7,
                                   drop_last=drop_last)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(shards[-1]) == len(s)
        assert len({len(sh) for sh in shards}) == 1  # equal shards: every rank runs the same number of steps
        flat = [i for sh in shards for i in sh]
        if drop_last:
            assert len(set(flat)) == len(flat) == n // replicas * replicas  # disjoint, the short tail dropped
        else:
            assert set(flat) == set(range(n))  # covers the data
            assert len(flat) - len(set(flat)) == len(flat) - n  # only the padding repeats
    orders = []
    for epoch in (0, 1):
        s = DistributedSampler(range(10), num_replicas=1, rank=0, seed=7)
        s.set_epoch(epoch)
        orders.append(list(s))
    assert orders[0] != orders[1] and sorted(orders[0]) == list(range(10))
    assert list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)) == [1, 3, 0]
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(range(5), num_replicas=2, rank=2)
