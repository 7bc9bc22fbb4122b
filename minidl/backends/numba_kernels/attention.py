"""The softmax part of scaled dot-product attention, fused; the two matrix products on each side stay
in BLAS. For one row of scores s (one query against the S keys):

    forward:   p_j = exp(scale s_j - m) / sum_k exp(scale s_k - m)   over the allowed keys j
               (j <= i for the causal query i; 0 elsewhere, and a row with no allowed key is all 0)
    backward:  gs_j = scale p_j (gp_j - sum_k gp_k p_k)            (gp = dL/dp)

The reference makes about seven whole-array passes with temporaries over the (..., L, S) scores (scale,
the causal mask with np.where, max, exp, sum, divide); here each row is scaled, masked and normalised
while it sits in cache, in place.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minidl.backends.numba_kernels.fastexp import fast_exp, row_max


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def softmax_rows_inplace(s: np.ndarray, scale: float, causal: bool, L: int, start: int, stop: int) -> None:
    """s[r] (S,) <- the attention probabilities of row r, for r in [start, stop); row r is query r % L."""
    S = s.shape[1]
    sc = s.dtype.type(scale)
    for r in range(start, stop):
        row = s[r]
        n = min(S, r % L + 1) if causal else S  # keys 0..n-1 are allowed
        for j in range(n):
            row[j] *= sc
        row[n:] = 0
        m = row_max(row[:n]) if n > 0 else s.dtype.type(-np.inf)  # (a float64 -inf would make m, and exp, float64)
        if m == -np.inf:  # no allowed key (or all masked with -inf): the row is all 0
            row[:n] = 0
            continue
        total = s.dtype.type(0)
        for j in range(n):
            e = fast_exp(row[j] - m)
            row[j] = e
            total += e
        inv = 1 / total
        for j in range(n):
            row[j] *= inv


@njit(parallel=True, cache=True)
def softmax_rows_inplace_parallel(s: np.ndarray, scale: float, causal: bool, L: int, chunks: int) -> None:
    n = s.shape[0]
    for c in prange(chunks):
        softmax_rows_inplace(s, scale, causal, L, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def softmax_backward_rows_inplace(gp: np.ndarray, p: np.ndarray, scale: float, start: int, stop: int) -> None:
    """gp[r] <- scale * p[r] * (gp[r] - <gp[r], p[r]>) for the rows r in [start, stop)."""
    S = p.shape[1]
    sc = p.dtype.type(scale)
    for r in range(start, stop):
        g, pr = gp[r], p[r]
        dot = p.dtype.type(0)
        for j in range(S):
            dot += g[j] * pr[j]
        for j in range(S):
            g[j] = sc * pr[j] * (g[j] - dot)


@njit(parallel=True, cache=True)
def softmax_backward_rows_inplace_parallel(gp: np.ndarray, p: np.ndarray, scale: float, chunks: int) -> None:
    n = p.shape[0]
    for c in prange(chunks):
        softmax_backward_rows_inplace(gp, p, scale, c * n // chunks, (c + 1) * n // chunks)
