"""``python -m minidl.examples mnist_cnn --distributed 2``: two processes with half the batch each train as one
process with the whole batch (same global batches: DistributedSampler's shards of the same permutation)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minidl.distributed as dist
from minidl.examples import mnist_cnn

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--limit", "400", "--epochs", "1", "--batch-size", "20"]


def test_mnist_cnn_on_two_processes_reaches_the_one_process_accuracy(user_mnist, capsys):
    if not (Path(sys.executable).parent / "mpiexec").exists() or not dist.is_mpi_available():
        pytest.skip('no mpiexec next to python: pip install "minidl[dist]"')
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "NUMBA_THREADING_LAYER": "workqueue"}
    proc = subprocess.run([sys.executable, "-m", "minidl.examples", "mnist_cnn", *ARGS, "--distributed", "2"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert out.count("Epoch 1/1: 20 steps") == 1 and out.count("test accuracy") == 1  # rank 0 prints, once
    assert "DistributedDataParallel(" in out
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    single = mnist_cnn.main(ARGS)["test_accuracy"]
    capsys.readouterr()
    assert single > 0.5  # 10% is chance
    assert abs(accuracy - single) < 0.01, (accuracy, single)  # the same steps up to rounding (equal at 4 digits here)
