"""minidl keeps freed arrays in glibc's heap (``minidl.backends.allocator``): a step that allocates
and frees the same large arrays stops paying a page fault per 4 KiB of them."""

import subprocess
import sys

import pytest

from minidl.backends.allocator import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="the tuning applies to glibc only")

# Twenty "steps", each holding ten 4 MiB activations at once and then freeing them all, as a training
# step does; print whether the tuning is on and how many page faults the steps after the first took.
_CHILD = """
import resource
import numpy as np
import minidl
from minidl.backends.allocator import malloc_tuning_applied
def step():
    activations = [np.ones(1 << 20, dtype=np.float32) for _ in range(10)]
    del activations
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(malloc_tuning_applied(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run_child(tuning: str) -> tuple[bool, int]:
    env = {"MINIDL_MALLOC_TUNING": tuning, "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


def test_freed_arrays_are_reused_without_page_faults():
    applied, faults = _run_child("1")
    assert applied
    assert faults < 1000, f"{faults} page faults in 20 steps that reuse the same 40 MiB"


def test_the_tuning_can_be_turned_off():
    applied, faults = _run_child("0")
    assert not applied
    # glibc's defaults hand most of the 40 MiB back to the kernel after every step: ~10,000 faults a step
    assert faults > 20 * 1000, f"only {faults} page faults: glibc's defaults should fault the freed pages in again"
