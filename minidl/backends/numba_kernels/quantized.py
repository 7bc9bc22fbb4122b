"""The int8 product of quantized layers: ``acc[m, n] = sum_k (a[m, k] - z) * b[n, k]`` in int32.

a (M, K) is uint8 (or int8) activations, b (N, K) int8 weights. The zero point comes out of the sum:
``acc = a @ b^T - z * (row sums of b)``, so the loop multiplies raw bytes. Each product fits in int16
(255 * 128 = 32640 < 2^15), which is what lets LLVM use the CPU's 16-bit multiply-add instructions; the sums
are int32 (``np.int32(...)`` keeps them there: Numba would widen them to int64, half the lanes).

Four rows of a share each load of a row of b (b, 692 KB for the MNIST CNN's first Linear, is then read
from cache a quarter as often). NumPy's integer matmul has no BLAS behind it (~20x slower than this); the
float32 BLAS product of the same shapes takes about as long as this loop on one core.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _one_row(a: np.ndarray, b: np.ndarray, zsum: np.ndarray, out: np.ndarray, m: int) -> None:
    for n in range(b.shape[0]):
        s = np.int32(0)
        for k in range(a.shape[1]):
            s = np.int32(s + np.int16(a[m, k]) * np.int16(b[n, k]))
        out[m, n] = s - zsum[n]


@njit(cache=True)
def int8_matmul_rows(a: np.ndarray, b: np.ndarray, zsum: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    """out[m] = a[m] @ b^T - zsum for rows start..stop-1, four rows at a time."""
    m = start
    while m + 4 <= stop:
        for n in range(b.shape[0]):
            s0, s1, s2, s3 = np.int32(0), np.int32(0), np.int32(0), np.int32(0)
            for k in range(a.shape[1]):
                w = np.int16(b[n, k])
                s0 = np.int32(s0 + np.int16(a[m, k]) * w)
                s1 = np.int32(s1 + np.int16(a[m + 1, k]) * w)
                s2 = np.int32(s2 + np.int16(a[m + 2, k]) * w)
                s3 = np.int32(s3 + np.int16(a[m + 3, k]) * w)
            z = zsum[n]
            out[m, n], out[m + 1, n], out[m + 2, n], out[m + 3, n] = s0 - z, s1 - z, s2 - z, s3 - z
        m += 4
    for r in range(m, stop):
        _one_row(a, b, zsum, out, r)


@njit(parallel=True, cache=True)
def int8_matmul_rows_parallel(a: np.ndarray, b: np.ndarray, zsum: np.ndarray, out: np.ndarray, chunks: int) -> None:
    blocks = (a.shape[0] + 3) // 4  # split on multiples of 4 rows
    for c in prange(chunks):
        start, stop = 4 * (c * blocks // chunks), min(a.shape[0], 4 * ((c + 1) * blocks // chunks))
        int8_matmul_rows(a, b, zsum, out, start, stop)
