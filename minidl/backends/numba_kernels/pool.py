"""2-d max pooling as direct loops over each (H, W) plane.

For output pixel (p, q) the window covers rows h = p*sh - ph + i*dh (i < kh) and columns w = q*sw - pw + j*dw
(j < kw), dh and dw the dilation; positions outside the input are padding and never win (so ceil_mode's
windows hanging over the bottom or right edge need nothing more than the larger y the caller allocates):

    y[p, q]   = max over the window,   idx[p, q] = h*W + w of its first maximum
    backward:   gx[idx[p, q]] += gy[p, q]

NumPy's reference makes one strided pass over the whole input per window offset (i, j) and keeps the
index up to date with arithmetic on whole arrays; here each window is read once, in cache, and the
backward is a plain scatter loop instead of ``np.add.at``. Planes (n, c) are independent: the
``_parallel`` versions split them across threads, and no two threads ever write the same plane.

(Average pooling keeps the NumPy reference: with runtime window sizes the loop overhead per window
ate the gain; measured in docs/benchmarks.md.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def maxpool_forward_planes(x: np.ndarray, y: np.ndarray, idx: np.ndarray, kh: int, kw: int, sh: int, sw: int,
                           ph: int, pw: int, dh: int, dw: int, start: int, stop: int) -> None:
    """y[k], idx[k] (OH, OW) from x[k] (H, W) for the planes k in [start, stop).

    Like the reference, the window is scanned from its top-left corner *including* padding (worth -inf):
    a strictly larger value moves the index, so the first maximum wins ties, and a NaN propagates into y
    without moving the index."""
    H, W = x.shape[1], x.shape[2]
    OH, OW = y.shape[1], y.shape[2]
    ninf = -np.inf
    for k in range(start, stop):
        for p in range(OH):
            h0 = p * sh - ph
            for q in range(OW):
                w0 = q * sw - pw
                best = x[k, h0, w0] if 0 <= h0 < H and 0 <= w0 < W else ninf
                at = h0 * W + w0
                for i in range(kh):
                    h = h0 + i * dh
                    if h < 0 or h >= H:
                        continue
                    for j in range(kw):
                        w = w0 + j * dw
                        if w < 0 or w >= W:
                            continue
                        v = x[k, h, w]
                        if v > best:
                            best, at = v, h * W + w
                        elif v != v:  # NaN
                            best = v
                y[k, p, q] = best
                idx[k, p, q] = at


@njit(parallel=True, cache=True)
def maxpool_forward_parallel(x: np.ndarray, y: np.ndarray, idx: np.ndarray, kh: int, kw: int, sh: int, sw: int,
                             ph: int, pw: int, dh: int, dw: int, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        maxpool_forward_planes(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True)
def maxpool2x2_forward_planes(x: np.ndarray, y: np.ndarray, idx: np.ndarray, start: int, stop: int) -> None:
    """maxpool_forward_planes for the most common pooling, 2x2 windows with stride 2 and no padding.

    With the window size known to the compiler, the four comparisons become branch-free selects: random
    data makes ``if v > best`` a coin flip that a branch predictor gets wrong half the time, which costs
    more than everything else here (the generic kernel is several times slower for that reason alone).
    A window with a NaN is redone by the generic scan, so the result matches it exactly."""
    W = x.shape[2]
    for k in range(start, stop):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                h, w = 2 * p, 2 * q
                a, b, c, d = x[k, h, w], x[k, h, w + 1], x[k, h + 1, w], x[k, h + 1, w + 1]
                best, at = a, h * W + w
                if b > best:
                    best, at = b, h * W + w + 1
                if c > best:
                    best, at = c, (h + 1) * W + w
                if d > best:
                    best, at = d, (h + 1) * W + w + 1
                s = a + b + c + d
                if s != s:  # a NaN (or inf - inf) in the window: scan it like the generic kernel
                    maxpool_forward_planes(x[k:k + 1, h:h + 2, w:w + 2], y[k:k + 1, p:p + 1, q:q + 1],
                                           idx[k:k + 1, p:p + 1, q:q + 1], 2, 2, 2, 2, 0, 0, 1, 1, 0, 1)
                    best, at = y[k, p, q], (h + idx[k, p, q] // 2) * W + w + idx[k, p, q] % 2
                y[k, p, q] = best
                idx[k, p, q] = at


@njit(parallel=True, cache=True)
def maxpool2x2_forward_parallel(x: np.ndarray, y: np.ndarray, idx: np.ndarray, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        maxpool2x2_forward_planes(x, y, idx, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True)
def maxpool_backward_planes(gy: np.ndarray, idx: np.ndarray, gx: np.ndarray, start: int, stop: int) -> None:
    """gx[k] (H*W,) = 0 plus gy[k, t] at idx[k, t] for every output t, for the planes k in [start, stop)."""
    HW = gx.shape[1]
    for k in range(start, stop):
        g = gx[k]
        g[:] = 0
        for t in range(gy.shape[1]):
            at = idx[k, t]
            if 0 <= at < HW:  # a window made only of padding points outside the plane: nothing to add
                g[at] += gy[k, t]


@njit(parallel=True, cache=True)
def maxpool_backward_parallel(gy: np.ndarray, idx: np.ndarray, gx: np.ndarray, chunks: int) -> None:
    n = gx.shape[0]
    for c in prange(chunks):
        maxpool_backward_planes(gy, idx, gx, c * n // chunks, (c + 1) * n // chunks)
