"""Inputs for every kernel of the backend contract, at a small and a large size.

One entry per name in ``minidl.backends.KERNELS`` (``tests/test_kernel_catalogue.py`` checks there is
one for each), so the asv suite times every kernel on every backend. A case is
``make(size, rng, dtype, xp) -> (args, kwargs, flops)`` where ``flops`` is the floating point
operation count (None where it is not well defined) for GFLOP/s tracking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SIZES = ("small", "large")
Case = Callable[[str, np.random.Generator, Any, Any], tuple[tuple, dict, float | None]]


def _randn(xp: Any, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> Any:
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def _matmul(size, rng, dtype, xp):
    n = 64 if size == "small" else 512
    a, b = _randn(xp, rng, (n, n), dtype), _randn(xp, rng, (n, n), dtype)
    return (a, b), {}, 2.0 * n**3


def _rows(size, rng, dtype, xp):
    shape = (64, 128) if size == "small" else (4096, 1024)
    return _randn(xp, rng, shape, dtype), shape


def _softmax(size, rng, dtype, xp):
    x, shape = _rows(size, rng, dtype, xp)
    return (x, -1), {}, None


def _logsumexp(size, rng, dtype, xp):
    x, shape = _rows(size, rng, dtype, xp)
    return (x, (1,), False), {}, None


def _index_add(size, rng, dtype, xp):
    n, d, k = (100, 16, 256) if size == "small" else (10000, 128, 65536)
    index = xp.asarray(rng.integers(0, n, size=k))
    return ((n, d), index, _randn(xp, rng, (k, d), dtype)), {}, None


def _take_along_axis_add(size, rng, dtype, xp):
    n, c = (64, 10) if size == "small" else (4096, 1000)
    idx = xp.asarray(rng.integers(0, c, size=(n, 1)))
    return ((n, c), idx, _randn(xp, rng, (n, 1), dtype), 1), {}, None


def _optimizer_arrays(size, rng, dtype, xp, n_state):
    n = 10_000 if size == "small" else 1_000_000
    arrays = [_randn(xp, rng, (n,), dtype) for _ in range(2)]  # param, grad
    arrays += [xp.asarray(np.abs(rng.standard_normal(n)).astype(dtype)) for _ in range(n_state)]  # >= 0 state
    return n, arrays


def _sgd_update(size, rng, dtype, xp):
    n, (p, g, buf) = _optimizer_arrays(size, rng, dtype, xp, 1)
    return (p, g, buf, 0.01, 0.9, 0.0, 1e-4, True, False), {}, 6.0 * n


def _adam_update(size, rng, dtype, xp):
    n, (p, g, m, v) = _optimizer_arrays(size, rng, dtype, xp, 2)
    return (p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-2, 10, True), {}, 12.0 * n


def _rmsprop_update(size, rng, dtype, xp):
    n, (p, g, s, buf) = _optimizer_arrays(size, rng, dtype, xp, 2)
    return (p, g, s, 1e-3, 0.99, 1e-8, 0.0, 0.9), {"momentum_buffer": buf}, 10.0 * n


def _adagrad_update(size, rng, dtype, xp):
    n, (p, g, s) = _optimizer_arrays(size, rng, dtype, xp, 1)
    return (p, g, s, 10, 1e-2, 0.0, 0.0, 1e-10), {}, 7.0 * n


CASES: dict[str, Case] = {
    "matmul": _matmul,
    "softmax": _softmax,
    "log_softmax": _softmax,
    "logsumexp": _logsumexp,
    "index_add": _index_add,
    "take_along_axis_add": _take_along_axis_add,
    "sgd_update": _sgd_update,
    "adam_update": _adam_update,
    "rmsprop_update": _rmsprop_update,
    "adagrad_update": _adagrad_update,
}
