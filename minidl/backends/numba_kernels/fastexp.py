"""A vectorisable float32 ``exp`` for kernels that need many exponentials of values <= 0.

Numba calls the C library's scalar ``expf`` for ``np.exp`` inside a loop, which LLVM cannot
vectorise; NumPy's own ``np.exp`` is SIMD but needs whole-array temporaries. This is the textbook
way vector math libraries do it, written so that LLVM vectorises the loop:

    exp(z) = 2^t with t = z * log2(e);  t = n + f with n = round(t), |f| <= 1/2
    2^f   ~ polynomial of degree 6 (Taylor of exp(f ln 2); error < 2e-7 relative on |f| <= 1/2)
    2^n   = the float32 whose exponent bits are n + 127 (built with an integer shift)

Relative error ~1e-6, enough for float32 softmax; float64 kernels keep ``np.exp``.
Inputs below -87 (where float32 exp underflows) are clamped to 2^-126, harmless in a sum >= 1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_LOG2E = np.float32(1.4426950408889634)


@njit(fastmath=True, cache=True, inline="always")
def exp_nonpositive_f32(z: np.ndarray, out: np.ndarray, bits: np.ndarray) -> None:
    """out[j] = exp(z[j]) for float32 z <= 0; ``bits`` is int32 scratch of the same length."""
    for j in range(z.shape[0]):
        t = max(z[j] * _LOG2E, np.float32(-126.0))
        n = np.floor(t + np.float32(0.5))
        f = t - n
        p = np.float32(1.5403530393381606e-4)
        p = p * f + np.float32(1.3333558146428443e-3)
        p = p * f + np.float32(9.618129107628477e-3)
        p = p * f + np.float32(5.550410866482158e-2)
        p = p * f + np.float32(0.2402265069591007)
        p = p * f + np.float32(0.6931471805599453)
        out[j] = p * f + np.float32(1.0)
        bits[j] = (np.int32(n) + np.int32(127)) << np.int32(23)
    scale = bits.view(np.float32)
    for j in range(z.shape[0]):
        out[j] = out[j] * scale[j] if z[j] == z[j] else z[j]  # a NaN stays NaN (unless the caller has fastmath nnan)


@njit(fastmath=True, cache=True, inline="always")
def exp_into(z: np.ndarray, out: np.ndarray, bits: np.ndarray) -> None:
    """out[j] = exp(z[j]) for z <= 0 (a little above 0 is fine): the polynomial above for float32, np.exp for
    float64 (``bits`` is int32 scratch as long as z). The test on itemsize is a compile-time constant, so each
    compiled version keeps one branch."""
    if z.itemsize == 4:
        exp_nonpositive_f32(z, out, bits)
    else:
        for j in range(z.shape[0]):
            out[j] = np.exp(z[j])


@njit(cache=True)
def row_max(x: np.ndarray):
    """max(x) of a non-empty 1-d array, 16 running maxima at a time (NaN is skipped, unlike np.max).

    ``m = max(m, x[j])`` is a chain of dependent comparisons that LLVM does not vectorise (it would need
    to assume there is no NaN); 16 independent lanes are a shape it turns into vector instructions (~5x)."""
    n = x.shape[0]
    lanes = np.full(16, x[0])
    k = 0
    while k + 16 <= n:
        for j in range(16):
            v = x[k + j]
            lanes[j] = v if v > lanes[j] else lanes[j]
        k += 16
    m = lanes[0]
    for j in range(1, 16):
        m = lanes[j] if lanes[j] > m else m
    for j in range(k, n):
        m = x[j] if x[j] > m else m
    return m
