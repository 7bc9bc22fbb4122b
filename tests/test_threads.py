"""The thread-count choice (``minidl.threads``): a pure function of the cores and the load, and its effect.

No timings: the tests check the count chosen for given cores and load, and that the pools really get it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from minidl.threads import choose_num_threads


@pytest.mark.parametrize(("cpus", "load", "expected"), [
    (2, 0.0, 2),    # idle machine: a thread per core
    (2, 0.4, 2),    # a little load rounds away
    (2, 0.6, 1),    # more than half a core busy: that core is not ours
    (2, 1.0, 1),
    (2, 1.6, 1),
    (2, 3.0, 1),    # more runnable jobs than cores: never fewer than one thread
    (2, 40.0, 1),
    (1, 0.0, 1),
    (16, 4.2, 12),
    (16, 0.0, 16),  # never more threads than cores
])
def test_threads_are_the_idle_cores(cpus, load, expected):
    assert choose_num_threads(cpus, load) == expected


def test_no_load_average_uses_every_core():
    assert choose_num_threads(4, None) == 4


def test_the_load_is_shared_over_the_whole_machine():
    # 8 of 64 cores are ours; a load of 32 keeps half of every core busy, so 4 of ours
    assert choose_num_threads(8, 32.0, machine_cpus=64) == 4
    assert choose_num_threads(8, 32.0) == 1  # the same load counted on our 8 cores alone


@pytest.mark.parametrize("override", ["1", "3", " 8 "])
def test_the_override_wins_whatever_the_load(override):
    assert choose_num_threads(2, 0.0, override=override) == int(override)
    assert choose_num_threads(2, 9.0, override=override) == int(override)


def test_an_empty_override_is_no_override():
    assert choose_num_threads(2, 0.0, override="") == 2


@pytest.mark.parametrize("override", ["0", "-1", "two", "1.5"])
def test_a_bad_override_names_the_variable(override):
    with pytest.raises(ValueError, match="MINIDL_NUM_THREADS"):
        choose_num_threads(2, 0.0, override=override)


def test_configure_threads_sizes_the_pools_loaded_before_and_after_it():
    """``python -m minidl.examples`` imports NumPy before it can choose: its BLAS pool is resized, Numba's
    (loaded after) reads the environment. Checked in a fresh process that starts with 2-thread pools."""
    pytest.importorskip("numba")
    code = ("import json, minidl, minidl.threads as t; n = t.configure_threads(); import numba; "
            "print(json.dumps([n, t.thread_counts(), numba.config.THREADING_LAYER]))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS") and k != "NUMBA_THREADING_LAYER"}
    env.update(MINIDL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    chosen, counts, layer = json.loads(done.stdout.strip().splitlines()[-1])
    assert chosen == 1
    assert counts == {"blas": 1, "numba": 1}
    assert layer == "workqueue"
