"""Inputs for every kernel of the backend contract, at a small and a large size, for the asv suite.

The inputs themselves are rows of the one kernel table, ``minidl/testing/kernel_cases.py`` (its
``size="small"`` and ``size="large"`` rows; ``tests/test_kernel_catalogue.py`` checks every kernel has
both). This module only adapts them to the benchmarks: a case is
``make(size, rng, dtype, xp) -> (args, kwargs, flops)`` with the arrays already on ``xp`` (numpy or
cupy), and ``flops`` the floating point operation count (None where it is not well defined) for GFLOP/s
tracking.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.backends.base import KERNELS
from minidl.testing.kernel_cases import bench_case

# MINIDL_BENCH_SIZES=small limits the suite to the small inputs (CI's smoke run).
SIZES = tuple(os.environ.get("MINIDL_BENCH_SIZES", "small,large").split(","))
Case = Callable[[str, np.random.Generator, Any, Any], tuple[tuple, dict, float | None]]


def _adapter(kernel: str) -> Case:
    def make(size: str, rng: np.random.Generator, dtype: Any, xp: Any) -> tuple[tuple, dict, float | None]:
        case = bench_case(kernel, size)
        args = tuple(xp.asarray(a) if isinstance(a, np.ndarray) else a for a in case.args(rng, dtype))
        return args, {}, case.flops

    make.__name__ = kernel
    return make


CASES: dict[str, Case] = {kernel: _adapter(kernel) for kernel in KERNELS}
