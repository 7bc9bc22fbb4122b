"""Softmax cross-entropy, forward and backward, fused: one pass per row, the softmax never stored.

For logits x (N, C) and integer targets t (N,), per row i (rows with t_i == ignore_index give 0):

    m_i = max_j x_ij,   s_i = sum_j exp(x_ij - m_i),   lse_i = m_i + log s_i
    loss_i = (m_i - x[i, t_i]) + log s_i                       (not lse_i - x[i, t_i]: exact for large lse)
    dL/dx_ij = (exp(x_ij - lse_i) - [j == t_i]) * gloss_i       (the softmax, rebuilt from lse)

The reference makes ~5 whole-array passes with temporaries for each; here each row is read once or twice
while it sits in cache. float32 rows use the vectorised polynomial exp of ``fastexp`` (relative error ~1e-6).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minidl.backends.numba_kernels.fastexp import fast_exp, row_max


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def xent_forward_rows(x: np.ndarray, target: np.ndarray, ignore_index: int, loss: np.ndarray, lse: np.ndarray,
                      start: int, stop: int) -> None:
    """loss[i], lse[i] for the rows i in [start, stop)."""
    C = x.shape[1]
    for i in range(start, stop):
        row = x[i]
        m = row_max(row)
        s = x.dtype.type(0)
        for j in range(C):
            s += fast_exp(row[j] - m)
        log_s = np.log(s)
        lse[i] = m + log_s
        t = target[i]
        if t == ignore_index:
            loss[i] = 0
        elif t < 0 or t >= C:
            raise IndexError("softmax_cross_entropy: a target is out of range")
        else:
            loss[i] = (m - row[t]) + log_s


@njit(parallel=True, cache=True)
def xent_forward_parallel(x: np.ndarray, target: np.ndarray, ignore_index: int, loss: np.ndarray, lse: np.ndarray,
                          chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        xent_forward_rows(x, target, ignore_index, loss, lse, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def xent_backward_rows(x: np.ndarray, target: np.ndarray, lse: np.ndarray, gloss: np.ndarray, ignore_index: int,
                       gx: np.ndarray, start: int, stop: int) -> None:
    """gx[i] for the rows i in [start, stop)."""
    C = x.shape[1]
    for i in range(start, stop):
        t, out = target[i], gx[i]
        if t == ignore_index:
            out[:] = 0
            continue
        if t < 0 or t >= C:
            raise IndexError("softmax_cross_entropy_backward: a target is out of range")
        row, shift, g = x[i], lse[i], gloss[i]
        for j in range(C):
            out[j] = fast_exp(row[j] - shift) * g  # the softmax of the row, times the loss gradient
        out[t] -= g


@njit(parallel=True, cache=True)
def xent_backward_parallel(x: np.ndarray, target: np.ndarray, lse: np.ndarray, gloss: np.ndarray, ignore_index: int,
                           gx: np.ndarray, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        xent_backward_rows(x, target, lse, gloss, ignore_index, gx, c * n // chunks, (c + 1) * n // chunks)
