"""Row-wise softmax and log-softmax, fused: per row, one pass for the max, one for the
exponentials and their sum, one to scale (numpy makes four full-array passes with temporaries).

    softmax(x)_i     = exp(x_i - m) / s,         m = max_j x_j,  s = sum_j exp(x_j - m)
    log_softmax(x)_i = x_i - m - log(s)

float32 rows use the vectorised ``fast_exp`` (x_i - m <= 0 always); float64 rows use np.exp.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minidl.backends.numba_kernels.fastexp import fast_exp, row_max


@njit(parallel=True, fastmath={"reassoc", "contract"}, error_model="numpy", cache=True)
def _softmax_rows_f32(x: np.ndarray, log: bool) -> np.ndarray:
    n, d = x.shape
    out = np.empty_like(x)
    for r in prange(n):
        row, o = x[r], out[r]
        m = row_max(row)
        s = np.float32(0.0)
        for j in range(d):  # one vectorised loop: exponentials, stored, and their sum
            e = fast_exp(row[j] - m)
            o[j] = e
            s += e
        if log:
            shift = m + np.float32(np.log(s))
            for j in range(d):
                o[j] = row[j] - shift
        else:
            inv = np.float32(1.0) / s
            for j in range(d):
                o[j] *= inv
    return out


@njit(parallel=True, cache=True)
def _softmax_rows_f64(x: np.ndarray, log: bool) -> np.ndarray:
    n, d = x.shape
    out = np.empty_like(x)
    for r in prange(n):
        row, o = x[r], out[r]
        m = row.max()
        s = 0.0
        for j in range(d):
            s += np.exp(row[j] - m)
        if log:
            shift = m + np.log(s)
            for j in range(d):
                o[j] = row[j] - shift
        else:
            for j in range(d):
                o[j] = np.exp(row[j] - m) / s
    return out


def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Softmax of each row of a C-contiguous 2-d array."""
    x = np.ascontiguousarray(x)
    return _softmax_rows_f32(x, False) if x.dtype == np.float32 else _softmax_rows_f64(x, False)


def log_softmax_rows(x: np.ndarray) -> np.ndarray:
    """Log-softmax of each row of a C-contiguous 2-d array."""
    x = np.ascontiguousarray(x)
    return _softmax_rows_f32(x, True) if x.dtype == np.float32 else _softmax_rows_f64(x, True)
