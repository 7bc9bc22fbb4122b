"""Vectorisable float32 ``exp``, ``sigmoid`` and ``tanh`` for the kernels' inner loops.

Numba calls the C library's scalar ``expf`` for ``np.exp`` inside a loop, which LLVM cannot vectorise
(NumPy's own ``np.exp`` is SIMD, but needs whole-array temporaries). This is the textbook way vector math
libraries do it, written as plain arithmetic so that LLVM vectorises any loop that calls it:

    exp(z) = 2^t with t = z * log2(e);  t = n + f with n = round(t), |f| <= 1/2
    2^f   ~ polynomial of degree 5 (fitted for the least relative error on |f| <= 1/2: 8e-8)
    2^n   = the float32 whose exponent bits are n + 127 (an integer shift, read back as a float)

Relative error below 5e-6 (~1e-6 for |z| < 10; beyond, rounding t to float32 costs a little), enough
for float32: the op tests check float32 to 1e-4. Below 2^-126 (z < -87.3) the result is 0 (not a
denormal), so exp(-inf) = 0 exactly, as masked attention scores need. z must stay below 88 (softmax,
sigmoid and tanh only ever ask for z <= 0): there is no overflow test. NaN stays NaN. float64 keeps
``np.exp`` / ``np.tanh``: ``fast_exp``, ``fast_sigmoid`` and ``fast_tanh`` pick the version from the
argument's type when the calling kernel is compiled.

Three rules for the loops that call these (each worth ~3-10x, all measured here):
- compile them with ``error_model="numpy"``: numba's default checks every division for zero, to raise
  ZeroDivisionError like Python, and that test keeps the loop from being vectorised;
- don't call Python's ``max``/``min`` on floats inside them: they are lowered with branches LLVM does not
  vectorise; write the comparison as a select (``a if a > b else b``);
- keep float64 constants out of float32 code: ``m = -np.inf`` (a float64) makes m, then ``x - m``, then
  the exp float64, the slow path; write ``x.dtype.type(-np.inf)``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_LOG2E = np.float32(1.4426950408889634)


@intrinsic
def int_bits_as_float32(typingctx, bits):
    """The float32 whose 32 bits are those of the int32 ``bits`` (C's ``*(float *)&bits``)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(cache=True)
def exp_f32(z):
    """exp(z) for float32 z, as a polynomial (see the module docstring)."""
    t0 = z * _LOG2E
    t = t0 if t0 > np.float32(-126.0) else np.float32(-126.0)  # a select, not max(): see above
    n = np.floor(t + np.float32(0.5))
    f = t - n
    p = np.float32(1.3278163714658831e-3)  # 2^f on [-1/2, 1/2], degree 5, relative error 8e-8
    p = p * f + np.float32(9.675555807915803e-3)
    p = p * f + np.float32(5.5507080488083636e-2)
    p = p * f + np.float32(0.2402211936377208)
    p = p * f + np.float32(0.693146970253145)
    p = p * f + np.float32(1.0000000717655524)
    e = p * int_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    e = e if t0 >= np.float32(-126.0) else np.float32(0.0)  # underflow (exp(-inf) included) gives 0
    return e if z == z else z  # NaN in, NaN out


@njit(cache=True)
def sigmoid_f32(x):
    """1 / (1 + exp(-x)) as (1 or e) / (1 + e) with e = exp(-|x|) <= 1: never overflows, and e / (1 + e)
    keeps its relative accuracy for very negative x, where 1 - 1 / (1 + e) would cancel."""
    e = exp_f32(-abs(x))
    return (np.float32(1.0) if x >= 0 else e) / (np.float32(1.0) + e)


@njit(cache=True)
def tanh_f32(x):
    """tanh(x): (1 - e) / (1 + e) with e = exp(-2|x|) for |x| >= 0.625; for smaller |x| (where 1 - e would
    cancel) Cephes' odd polynomial x + x^3 P(x^2), relative error ~1e-7. Both are computed and one is
    selected, so a loop calling this stays vectorised."""
    z = x * x
    p = np.float32(-5.70498872745e-3)
    p = p * z + np.float32(2.06390887954e-2)
    p = p * z - np.float32(5.37397155531e-2)
    p = p * z + np.float32(1.33314422036e-1)
    p = p * z - np.float32(3.33332819422e-1)
    small = p * z * x + x
    e = exp_f32(np.float32(-2.0) * abs(x))
    big = (np.float32(1.0) - e) / (np.float32(1.0) + e)
    big = big if x >= 0 else -big
    return small if abs(x) < np.float32(0.625) else big


# ---- dtype dispatch: the float32 polynomials above, NumPy's functions for float64 ----
def fast_exp(x):
    """exp(x): ``exp_f32`` for float32, ``np.exp`` otherwise (usable inside @njit code only)."""
    return np.exp(x)


def fast_sigmoid(x):
    """1 / (1 + exp(-x)): ``sigmoid_f32`` for float32, the same formula with ``np.exp`` otherwise."""
    return 1 / (1 + np.exp(-x))


def fast_tanh(x):
    """tanh(x): ``tanh_f32`` for float32, ``np.tanh`` otherwise."""
    return np.tanh(x)


@overload(fast_exp)
def _fast_exp(x):
    if x == types.float32:
        return lambda x: exp_f32(x)
    return lambda x: np.exp(x)


@overload(fast_sigmoid)
def _fast_sigmoid(x):
    if x == types.float32:
        return lambda x: sigmoid_f32(x)

    def sigmoid(x):
        e = np.exp(-abs(x))
        return (1.0 if x >= 0 else e) / (1.0 + e)

    return sigmoid


@overload(fast_tanh)
def _fast_tanh(x):
    if x == types.float32:
        return lambda x: tanh_f32(x)
    return lambda x: np.tanh(x)


@intrinsic
def int_bits_as_float(typingctx, bits):
    """The float whose bits are those of the integer ``bits``: int32 -> float32, int64 -> float64."""
    if bits == types.int32:
        return types.float32(types.int32), lambda context, builder, sig, args: builder.bitcast(args[0], ir.FloatType())
    if bits == types.int64:
        return types.float64(types.int64), lambda context, builder, sig, args: builder.bitcast(args[0],
                                                                                                ir.DoubleType())
    return None


def row_max(x):
    """max(x) of a non-empty, contiguous 1-d float array, as an *integer* maximum (usable inside @njit code).

    ``m = x[j] if x[j] > m else m`` is a chain of dependent float comparisons that LLVM will not vectorise
    (it would have to assume there is no NaN). Integers have no NaN: read each float's bits as an integer
    and flip the low bits of the negative ones, and the integers are in the floats' order
    (-inf < -1 < -0 < 0 < 1 < inf < NaN). Their maximum vectorises (~4x); flipping back gives the float.
    A NaN wins, as in np.max (unless its sign bit is set: then it loses)."""
    return x.max()


@njit(cache=True)
def _max_of_float_bits(bits, low):
    """row_max on the integer view ``bits`` of the floats; ``low`` has every bit but the sign bit set."""
    key = bits.dtype.type  # (numba widens int32 arithmetic to int64: cast back, or the loop runs on int64)
    k = key(bits[0] if bits[0] >= 0 else bits[0] ^ low)
    for j in range(1, bits.shape[0]):
        v = bits[j]
        v = key(v if v >= 0 else v ^ low)
        k = v if v > k else k
    return int_bits_as_float(key(k if k >= 0 else k ^ low))


@overload(row_max)
def _row_max(x):
    if x.dtype == types.float32:
        return lambda x: _max_of_float_bits(x.view(np.int32), np.int32(0x7FFFFFFF))
    return lambda x: _max_of_float_bits(x.view(np.int64), np.int64(0x7FFFFFFFFFFFFFFF))
