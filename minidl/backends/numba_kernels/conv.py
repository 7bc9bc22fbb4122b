"""Convolution kernels: col2im as a loop, and a direct stride-1 convolution that forms no im2col matrix.

col2im, the adjoint of im2col (which stays NumPy's strided copy, as fast as a loop): for one plane with
zero padding (ph, pw), stride (sh, sw) and dilation (dh, dw),

    x[n, c, h, w] += cols[n, c, i, j, p, q]   for every (i, j, p, q), h = p*sh + i*dh - ph, w = q*sw + j*dw - pw

NumPy's reference makes kh*kw strided passes over a padded copy; here each row cols[n, c, i, j, p, :] is
added straight into its place, skipping the columns that fall into the padding. Planes are independent,
so the ``_parallel`` version splits them across threads and no two threads add into the same plane.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _inside(off: int, stride: int, n_out: int, n_in: int) -> tuple[int, int]:
    """The range [lo, hi) of output positions q with 0 <= q*stride + off < n_in."""
    lo = max(0, (-off + stride - 1) // stride)
    hi = min(n_out, (n_in - 1 - off) // stride + 1) if n_in - 1 - off >= 0 else 0
    return lo, max(lo, hi)


@njit(cache=True)
def col2im_planes(cols: np.ndarray, x: np.ndarray, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int,
                  start: int, stop: int) -> None:
    """Add every entry of cols[k] (kh, kw, OH, OW) into its place in x[k] (H, W), zeroed first."""
    H, W = x.shape[1], x.shape[2]
    kh, kw, OH, OW = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
    for k in range(start, stop):
        x[k] = 0
        for i in range(kh):
            for j in range(kw):
                off = j * dw - pw
                lo, hi = _inside(off, sw, OW, W)
                for p in range(OH):
                    h = p * sh + i * dh - ph
                    if h < 0 or h >= H:
                        continue
                    row, src = x[k, h], cols[k, i, j, p]
                    for q in range(lo, hi):
                        row[q * sw + off] += src[q]


@njit(parallel=True, cache=True)
def col2im_parallel(cols: np.ndarray, x: np.ndarray, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int,
                    chunks: int) -> None:
    """col2im_planes over all planes, in ``chunks`` blocks of planes (each plane is written by one thread)."""
    n = x.shape[0]
    for c in prange(chunks):
        col2im_planes(cols, x, sh, sw, ph, pw, dh, dw, c * n // chunks, (c + 1) * n // chunks)


# ---------------------------------------------------------------------------------------------------------
# Direct stride-1 convolution: a sum over the kernel taps (c, i, j) of shifted copies of the input plane.
#
# Flatten a zero-padded sample xpad (C, Hp, Wp) row by row. Output pixel (p, q) reads xpad[c, p + i*dh, q + j*dw],
# the flat position (p*Wp + q) + off[c, i, j] with off = c*Hp*Wp + i*dh*Wp + j*dw: for a fixed tap, *every*
# output pixel reads at the same offset from its own flat position. Computing the outputs on a (OH, Wp) grid (the
# columns q >= OW are junk, dropped at the end) turns each tap into one long contiguous loop
#     acc[t] += w[o, c, i, j] * xpad_flat[off[c, i, j] + t],    t < L = (OH - 1)*Wp + OW,
# which LLVM vectorises fully (rows of OW ~ 26 pixels are too short for that), and no im2col matrix is formed.
# Taps go four at a time, so acc is loaded and stored once per four multiply-adds.
# The input gradient is the same loop run on gy with the flipped kernel (see NumbaBackend.conv2d_backward_input);
# the weight gradient is the same sums read the other way: dot products of gy with the shifted planes.
# ---------------------------------------------------------------------------------------------------------
_FASTMATH = {"reassoc", "contract"}  # lets LLVM vectorise sums and fuse multiply-adds; keeps inf/nan semantics


@njit(cache=True)
def tap_offsets(Cg: int, kh: int, kw: int, Hp: int, Wp: int, dh: int, dw: int) -> np.ndarray:
    """off[(c*kh + i)*kw + j] = c*Hp*Wp + i*dh*Wp + j*dw: where tap (c, i, j) reads in a flattened sample."""
    off = np.empty(Cg * kh * kw, dtype=np.int64)
    for c in range(Cg):
        for i in range(kh):
            for j in range(kw):
                off[(c * kh + i) * kw + j] = c * Hp * Wp + i * dh * Wp + j * dw
    return off


@njit(cache=True, fastmath=_FASTMATH)
def conv_forward_planes(xpad: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, dh: int, dw: int,
                        groups: int, start: int, stop: int) -> None:
    """y[n, o] = bias[o] + sum_{c, i, j} w[o, c, i, j] xpad[n, g*Cg + c, p + i*dh, q + j*dw] for the output
    planes k = n*O + o in [start, stop); xpad (N, C, Hp, Wp) is already zero padded; stride 1."""
    N, C, Hp, Wp = xpad.shape
    O, Cg, kh, kw = w.shape
    OH, OW = y.shape[2], y.shape[3]
    L, K = (OH - 1) * Wp + OW, Cg * kh * kw
    off = tap_offsets(Cg, kh, kw, Hp, Wp, dh, dw)
    xf, wf = xpad.reshape(N, C * Hp * Wp), w.reshape(O, K)
    acc = np.empty(L, dtype=y.dtype)
    for k in range(start, stop):
        n, o = k // O, k % O
        x, wo = xf[n, (o // (O // groups)) * Cg * Hp * Wp:], wf[o]  # this group's channels of sample n
        acc[:] = bias[o]
        r, K4 = 0, K - K % 4
        while r < K4:  # four taps per pass: views that start at each shift (loops from 0 vectorise best)
            a, b, c, d = wo[r], wo[r + 1], wo[r + 2], wo[r + 3]
            xa, xb = x[off[r]:off[r] + L], x[off[r + 1]:off[r + 1] + L]
            xc, xd = x[off[r + 2]:off[r + 2] + L], x[off[r + 3]:off[r + 3] + L]
            for t in range(L):
                acc[t] += a * xa[t] + b * xb[t] + c * xc[t] + d * xd[t]
            r += 4
        for r in range(K4, K):
            a, xa = wo[r], x[off[r]:off[r] + L]
            for t in range(L):
                acc[t] += a * xa[t]
        out = y[n, o]
        for p in range(OH):  # keep the OW real columns of each Wp-wide row
            row, src = out[p], acc[p * Wp:p * Wp + OW]
            for q in range(OW):
                row[q] = src[q]


@njit(parallel=True, cache=True)
def conv_forward_parallel(xpad: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, dh: int, dw: int,
                          groups: int, chunks: int) -> None:
    n = y.shape[0] * y.shape[1]
    for c in prange(chunks):
        conv_forward_planes(xpad, w, bias, y, dh, dw, groups, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH)
def conv_backward_weight_planes(xpad: np.ndarray, gyw: np.ndarray, gw: np.ndarray, dh: int, dw: int, groups: int,
                                start: int, stop: int) -> None:
    """gw[o, c, i, j] = sum_n <gy[n, o], xpad[n, g*Cg + c] shifted by (i*dh, j*dw)> for o in [start, stop).
    gyw is gy with its rows widened to Wp by zeros, so the junk columns of the shifted planes count for nothing."""
    N, C, Hp, Wp = xpad.shape
    O, Cg, kh, kw = gw.shape
    OH, OW = gyw.shape[2], Wp - (kw - 1) * dw
    L, K = (OH - 1) * Wp + OW, Cg * kh * kw
    off = tap_offsets(Cg, kh, kw, Hp, Wp, dh, dw)
    gf, xf, gwf = gyw.reshape(N, O, OH * Wp), xpad.reshape(N, C * Hp * Wp), gw.reshape(O, K)
    for o in range(start, stop):
        go = gwf[o]
        go[:] = 0
        for n in range(N):
            g, x = gf[n, o], xf[n, (o // (O // groups)) * Cg * Hp * Wp:]
            r, K4 = 0, K - K % 4
            while r < K4:  # four dot products per pass over g
                xa, xb = x[off[r]:off[r] + L], x[off[r + 1]:off[r + 1] + L]
                xc, xd = x[off[r + 2]:off[r + 2] + L], x[off[r + 3]:off[r + 3] + L]
                sa = sb = sc = sd = gw.dtype.type(0)
                for t in range(L):
                    sa += g[t] * xa[t]
                    sb += g[t] * xb[t]
                    sc += g[t] * xc[t]
                    sd += g[t] * xd[t]
                go[r] += sa
                go[r + 1] += sb
                go[r + 2] += sc
                go[r + 3] += sd
                r += 4
            for r in range(K4, K):
                xa, sa = x[off[r]:off[r] + L], gw.dtype.type(0)
                for t in range(L):
                    sa += g[t] * xa[t]
                go[r] += sa


@njit(parallel=True, cache=True)
def conv_backward_weight_parallel(xpad: np.ndarray, gyw: np.ndarray, gw: np.ndarray, dh: int, dw: int, groups: int,
                                  chunks: int) -> None:
    n = gw.shape[0]
    for c in prange(chunks):
        conv_backward_weight_planes(xpad, gyw, gw, dh, dw, groups, c * n // chunks, (c + 1) * n // chunks)
