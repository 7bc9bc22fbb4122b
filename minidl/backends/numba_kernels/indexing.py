"""Scatter-add of rows: the backward of an embedding lookup and of ``x[index]`` with an integer index.

For indices idx (K,) and values v (K, D), starting from out = zeros(n, D):

    out[idx[k], :] += v[k, :]    for k = 0 .. K-1   (repeated indices accumulate)

NumPy's ``np.add.at`` does this element by element through a generic slow path (~50x slower than a
loop); here it is a plain loop over k with a vectorised row add. Threads split the D columns, not the
rows, so that two threads never add into the same place even when an index repeats.
Negative indices count from the end, as in NumPy; anything else out of range raises IndexError.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def scatter_add_rows(idx: np.ndarray, values: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    """out[idx[k], start:stop] += values[k, start:stop] for every k; out is zeroed here first."""
    n = out.shape[0]
    out[:, start:stop] = 0
    for k in range(idx.shape[0]):
        i = idx[k]
        if i < 0:
            i += n
        if i < 0 or i >= n:
            raise IndexError("index_add: an index is out of range")
        dst, src = out[i, start:stop], values[k, start:stop]
        for j in range(stop - start):
            dst[j] += src[j]


@njit(parallel=True, cache=True)
def scatter_add_rows_parallel(idx: np.ndarray, values: np.ndarray, out: np.ndarray, chunks: int) -> None:
    d = out.shape[1]
    for c in prange(chunks):
        scatter_add_rows(idx, values, out, c * d // chunks, (c + 1) * d // chunks)
