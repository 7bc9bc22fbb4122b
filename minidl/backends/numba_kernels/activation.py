"""erf and GELU in one pass over memory (NumPy's reference makes ~15 passes with temporaries for GELU).

    erf(x)       ~ x P(x^2) / Q(x^2), x clamped to [-4, 4]   (float32: the reference's rational approximation,
                                                              Eigen's; float64: math.erf)
    gelu(x)      = x Phi(x),            Phi(x) = (1 + erf(x / sqrt 2)) / 2
    gelu'(x)     = Phi(x) + x phi(x),   phi(x) = e^(-x^2/2) / sqrt(2 pi)
    tanh form:     y = x (1 + t) / 2,   t = tanh(u),  u = sqrt(2/pi) (x + 0.044715 x^3)
                   y' = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2

Each kernel works on flat arrays over the elements [start, stop), with a ``_parallel`` twin that splits them
into chunks (the optimizer kernels' layout). float32 stays float32 throughout: the constants are float32
scalars (typed from ``x.dtype.type``), ``fast_exp``/``fast_tanh`` are vectorised, and the rational erf is a
dozen multiply-adds and a division that LLVM vectorises. float64 calls the C library's erf/exp/tanh.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from minidl.backends.numba_kernels.fastexp import fast_exp, fast_tanh
from minidl.backends.numpy_backend import _ERF32_P, _ERF32_Q

_OPTS = dict(cache=True, fastmath={"contract"}, error_model="numpy")
P0, P1, P2, P3, P4, P5, P6 = (np.float32(c) for c in _ERF32_P)
Q0, Q1, Q2, Q3, Q4 = (np.float32(c) for c in _ERF32_Q)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@njit(inline="always", error_model="numpy")
def erf32(x):
    """erf of a float32 scalar by the reference's rational approximation (no branch: clamps are selects;
    a NaN would be clamped to 4, so it is selected back at the end)."""
    c = x if x < np.float32(4.0) else np.float32(4.0)
    c = c if c > np.float32(-4.0) else np.float32(-4.0)
    x2 = c * c
    p = (((((P0 * x2 + P1) * x2 + P2) * x2 + P3) * x2 + P4) * x2 + P5) * x2 + P6
    q = (((Q0 * x2 + Q1) * x2 + Q2) * x2 + Q3) * x2 + Q4
    return c * p / q if x == x else x


def fast_erf(x):
    """erf(x): ``erf32`` for float32, ``math.erf`` otherwise (usable inside @njit code only)."""
    return math.erf(x)


@overload(fast_erf)
def _fast_erf(x):
    return (lambda x: erf32(x)) if x == types.float32 else (lambda x: math.erf(x))


@njit(**_OPTS)
def erf(x: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
    """out[k] = erf(x[k]) for k in [start, stop)."""
    x, out = x[start:stop], out[start:stop]
    for k in range(x.shape[0]):
        out[k] = fast_erf(x[k])


@njit(parallel=True, cache=True)
def erf_parallel(x: np.ndarray, out: np.ndarray, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        erf(x, out, c * n // chunks, (c + 1) * n // chunks)


@njit(**_OPTS)
def gelu_forward(x: np.ndarray, y: np.ndarray, tanh_form: bool, start: int, stop: int) -> None:
    """y[k] = gelu(x[k]) (the erf form, or the tanh form) for k in [start, stop)."""
    x, y = x[start:stop], y[start:stop]
    t = x.dtype.type
    half, one, c1, c3 = t(0.5), t(1.0), t(_SQRT_2_OVER_PI), t(_SQRT_2_OVER_PI * 0.044715)
    inv_sqrt2 = t(_INV_SQRT2)
    if tanh_form:
        for k in range(x.shape[0]):
            v = x[k]
            y[k] = half * v * (one + fast_tanh(v * (c1 + c3 * v * v)))
    else:
        for k in range(x.shape[0]):
            v = x[k]
            y[k] = half * v * (one + fast_erf(v * inv_sqrt2))


@njit(parallel=True, cache=True)
def gelu_forward_parallel(x: np.ndarray, y: np.ndarray, tanh_form: bool, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        gelu_forward(x, y, tanh_form, c * n // chunks, (c + 1) * n // chunks)


@njit(**_OPTS)
def gelu_backward(gy: np.ndarray, x: np.ndarray, gx: np.ndarray, tanh_form: bool, start: int, stop: int) -> None:
    """gx[k] = gy[k] gelu'(x[k]) for k in [start, stop)."""
    gy, x, gx = gy[start:stop], x[start:stop], gx[start:stop]
    t = x.dtype.type
    half, one, c1, c3 = t(0.5), t(1.0), t(_SQRT_2_OVER_PI), t(_SQRT_2_OVER_PI * 0.044715)
    inv_sqrt2, inv_sqrt_2pi, three = t(_INV_SQRT2), t(_INV_SQRT_2PI), t(3.0)
    if tanh_form:
        for k in range(x.shape[0]):
            v = x[k]
            th = fast_tanh(v * (c1 + c3 * v * v))
            gx[k] = gy[k] * (half * (one + th) + half * v * (one - th * th) * (c1 + three * c3 * v * v))
    else:
        for k in range(x.shape[0]):
            v = x[k]
            cdf = half * (one + fast_erf(v * inv_sqrt2))
            gx[k] = gy[k] * (cdf + v * inv_sqrt_2pi * fast_exp(-half * v * v))


@njit(parallel=True, cache=True)
def gelu_backward_parallel(gy: np.ndarray, x: np.ndarray, gx: np.ndarray, tanh_form: bool, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        gelu_backward(gy, x, gx, tanh_form, c * n // chunks, (c + 1) * n // chunks)
