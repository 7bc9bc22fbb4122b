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
def _forward_one(x: np.ndarray, wo: np.ndarray, off: np.ndarray, acc: np.ndarray) -> None:
    """acc[t] += sum_r wo[r] x[off[r] + t]: one output plane, four taps per pass."""
    L, K = acc.shape[0], wo.shape[0]
    r, K4 = 0, K - K % 4
    while r < K4:  # views that start at each shift (loops from 0 vectorise best)
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


@njit(cache=True, fastmath=_FASTMATH)
def _forward_four(x: np.ndarray, w4: np.ndarray, off: np.ndarray, acc: np.ndarray) -> None:
    """_forward_one for four output planes of one group at once (w4 (4, K), acc (4, L)): each value of the
    four shifted views is loaded once for 16 multiply-adds instead of 4."""
    L, K = acc.shape[1], w4.shape[1]
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    r, K4 = 0, K - K % 4
    while r < K4:
        xa, xb = x[off[r]:off[r] + L], x[off[r + 1]:off[r + 1] + L]
        xc, xd = x[off[r + 2]:off[r + 2] + L], x[off[r + 3]:off[r + 3] + L]
        p0, p1, p2, p3 = w4[0, r], w4[0, r + 1], w4[0, r + 2], w4[0, r + 3]
        q0, q1, q2, q3 = w4[1, r], w4[1, r + 1], w4[1, r + 2], w4[1, r + 3]
        s0, s1, s2, s3 = w4[2, r], w4[2, r + 1], w4[2, r + 2], w4[2, r + 3]
        u0, u1, u2, u3 = w4[3, r], w4[3, r + 1], w4[3, r + 2], w4[3, r + 3]
        for t in range(L):
            va, vb, vc, vd = xa[t], xb[t], xc[t], xd[t]
            a0[t] += p0 * va + p1 * vb + p2 * vc + p3 * vd
            a1[t] += q0 * va + q1 * vb + q2 * vc + q3 * vd
            a2[t] += s0 * va + s1 * vb + s2 * vc + s3 * vd
            a3[t] += u0 * va + u1 * vb + u2 * vc + u3 * vd
        r += 4
    for r in range(K4, K):
        xa, p0, q0, s0, u0 = x[off[r]:off[r] + L], w4[0, r], w4[1, r], w4[2, r], w4[3, r]
        for t in range(L):
            va = xa[t]
            a0[t] += p0 * va
            a1[t] += q0 * va
            a2[t] += s0 * va
            a3[t] += u0 * va


@njit(cache=True)
def _block(k: int, stop: int, per_group: int) -> int:
    """How many units from k on (at most 4, before ``stop``) share the group of k: unit k is output plane
    o = k % O here, or output channel o = k for the weight gradient; per_group = O/groups divides O."""
    nb = 1
    while nb < 4 and k + nb < stop and (k + nb) // per_group == k // per_group:
        nb += 1
    return nb


@njit(cache=True, fastmath=_FASTMATH)
def conv_forward_planes(xpad: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, dh: int, dw: int,
                        groups: int, start: int, stop: int) -> None:
    """y[n, o] = bias[o] + sum_{c, i, j} w[o, c, i, j] xpad[n, g*Cg + c, p + i*dh, q + j*dw] for the output
    planes k = n*O + o in [start, stop); xpad (N, C, Hp, Wp) is already zero padded; stride 1. Four planes
    of one sample and group go together where they can."""
    N, C, Hp, Wp = xpad.shape
    O, Cg, kh, kw = w.shape
    OH, OW = y.shape[2], y.shape[3]
    L, K, Og = (OH - 1) * Wp + OW, Cg * kh * kw, O // groups
    off = tap_offsets(Cg, kh, kw, Hp, Wp, dh, dw)
    xf, wf = xpad.reshape(N, C * Hp * Wp), w.reshape(O, K)
    acc = np.empty((4, L), dtype=y.dtype)
    k = start
    while k < stop:
        n, o = k // O, k % O
        nb = _block(o, o + min(stop - k, O - o), Og)  # planes o .. o+nb-1 of sample n, one group
        x = xf[n, (o // Og) * Cg * Hp * Wp:]  # this group's channels of sample n
        for m in range(nb):
            acc[m] = bias[o + m]
        if nb == 4:
            _forward_four(x, wf[o:o + 4], off, acc)
        else:
            for m in range(nb):
                _forward_one(x, wf[o + m], off, acc[m])
        for m in range(nb):
            out, src = y[n, o + m], acc[m]
            for p in range(OH):  # keep the OW real columns of each Wp-wide row
                row, s = out[p], src[p * Wp:p * Wp + OW]
                for q in range(OW):
                    row[q] = s[q]
        k += nb


@njit(parallel=True, cache=True)
def conv_forward_parallel(xpad: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, dh: int, dw: int,
                          groups: int, chunks: int) -> None:
    n = y.shape[0] * y.shape[1]
    for c in prange(chunks):
        conv_forward_planes(xpad, w, bias, y, dh, dw, groups, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH)
def _weight_one(g: np.ndarray, x: np.ndarray, off: np.ndarray, go: np.ndarray, L: int) -> None:
    """go[r] += <g[:L], x[off[r]:off[r] + L]> for every tap r, four dot products per pass over g."""
    K = go.shape[0]
    zero = go.dtype.type(0)
    r, K4 = 0, K - K % 4
    while r < K4:
        xa, xb = x[off[r]:off[r] + L], x[off[r + 1]:off[r + 1] + L]
        xc, xd = x[off[r + 2]:off[r + 2] + L], x[off[r + 3]:off[r + 3] + L]
        sa = sb = sc = sd = zero
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
        xa, sa = x[off[r]:off[r] + L], zero
        for t in range(L):
            sa += g[t] * xa[t]
        go[r] += sa


@njit(cache=True, fastmath=_FASTMATH)
def _weight_four(g4: np.ndarray, x: np.ndarray, off: np.ndarray, go4: np.ndarray, L: int) -> None:
    """_weight_one for four output channels of one group at once (g4 (4, >= L), go4 (4, K)): 16 dot products
    per pass, each loaded value used four times. (Whole rows are passed, and L apart: a [:, :L] slice would
    not be contiguous, and the loops would not vectorise.)"""
    K = go4.shape[1]
    zero = go4.dtype.type(0)
    g0, g1, g2, g3 = g4[0], g4[1], g4[2], g4[3]
    r, K4 = 0, K - K % 4
    while r < K4:
        xa, xb = x[off[r]:off[r] + L], x[off[r + 1]:off[r + 1] + L]
        xc, xd = x[off[r + 2]:off[r + 2] + L], x[off[r + 3]:off[r + 3] + L]
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
        s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
        for t in range(L):
            va, vb, vc, vd = xa[t], xb[t], xc[t], xd[t]
            e0, e1, e2, e3 = g0[t], g1[t], g2[t], g3[t]
            s00 += e0 * va
            s01 += e0 * vb
            s02 += e0 * vc
            s03 += e0 * vd
            s10 += e1 * va
            s11 += e1 * vb
            s12 += e1 * vc
            s13 += e1 * vd
            s20 += e2 * va
            s21 += e2 * vb
            s22 += e2 * vc
            s23 += e2 * vd
            s30 += e3 * va
            s31 += e3 * vb
            s32 += e3 * vc
            s33 += e3 * vd
        go4[0, r] += s00
        go4[0, r + 1] += s01
        go4[0, r + 2] += s02
        go4[0, r + 3] += s03
        go4[1, r] += s10
        go4[1, r + 1] += s11
        go4[1, r + 2] += s12
        go4[1, r + 3] += s13
        go4[2, r] += s20
        go4[2, r + 1] += s21
        go4[2, r + 2] += s22
        go4[2, r + 3] += s23
        go4[3, r] += s30
        go4[3, r + 1] += s31
        go4[3, r + 2] += s32
        go4[3, r + 3] += s33
        r += 4
    for r in range(K4, K):
        xa, s0, s1, s2, s3 = x[off[r]:off[r] + L], zero, zero, zero, zero
        for t in range(L):
            va = xa[t]
            s0 += g0[t] * va
            s1 += g1[t] * va
            s2 += g2[t] * va
            s3 += g3[t] * va
        go4[0, r] += s0
        go4[1, r] += s1
        go4[2, r] += s2
        go4[3, r] += s3


@njit(cache=True, fastmath=_FASTMATH)
def conv_backward_weight_planes(xpad: np.ndarray, gyw: np.ndarray, gw: np.ndarray, dh: int, dw: int, groups: int,
                                start: int, stop: int) -> None:
    """gw[o, c, i, j] = sum_n <gy[n, o], xpad[n, g*Cg + c] shifted by (i*dh, j*dw)> for o in [start, stop).
    gyw is gy with its rows widened to Wp by zeros, so the junk columns of the shifted planes count for nothing.
    Four output channels of one group go together where they can."""
    N, C, Hp, Wp = xpad.shape
    O, Cg, kh, kw = gw.shape
    OH, OW = gyw.shape[2], Wp - (kw - 1) * dw
    L, K, Og = (OH - 1) * Wp + OW, Cg * kh * kw, O // groups
    off = tap_offsets(Cg, kh, kw, Hp, Wp, dh, dw)
    gf, xf, gwf = gyw.reshape(N, O, OH * Wp), xpad.reshape(N, C * Hp * Wp), gw.reshape(O, K)
    o = start
    while o < stop:
        nb = _block(o, stop, Og)
        gwf[o:o + nb] = 0
        for n in range(N):
            x = xf[n, (o // Og) * Cg * Hp * Wp:]
            if nb == 4:
                _weight_four(gf[n, o:o + 4], x, off, gwf[o:o + 4], L)
            else:
                for m in range(nb):
                    _weight_one(gf[n, o + m], x, off, gwf[o + m], L)
        o += nb


@njit(parallel=True, cache=True)
def conv_backward_weight_parallel(xpad: np.ndarray, gyw: np.ndarray, gw: np.ndarray, dh: int, dw: int, groups: int,
                                  chunks: int) -> None:
    n = gw.shape[0]
    for c in prange(chunks):
        conv_backward_weight_planes(xpad, gyw, gw, dh, dw, groups, c * n // chunks, (c + 1) * n // chunks)
