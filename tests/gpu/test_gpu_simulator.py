"""Every Numba-CUDA kernel, run in Numba's CUDA simulator against the NumPy reference.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is first imported, and the rest of the test
session imports numba for real: so the self-test runs in a fresh interpreter.
"""

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba", reason="the numba-cuda kernels need numba (pip install 'minidl[cuda]')")


def test_numba_cuda_kernels_in_the_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "NUMBA_DISABLE_JIT": "0"}
    run = subprocess.run([sys.executable, "-m", "minidl.testing.gpu_selftest"], env=env,
                         capture_output=True, text=True, timeout=600)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("selftest numba-cuda:") and last.endswith(" 0 failed"), report
    assert " 0 passed" not in last, report
