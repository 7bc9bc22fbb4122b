"""Layer norm and batch norm, forward and backward, in one or two passes per row (layer norm) or channel
(batch norm) instead of NumPy's chain of whole-array operations and temporaries.

Over the m values of one row (layer norm) or one channel (batch norm, all of N and the spatial axes):

    mean = sum(x) / m,   var = sum((x - mean)^2) / m   (two passes: no cancellation),   rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd,   y = xhat * w + b
    backward, with g = gy * w:
    gx = rstd * (g - mean(g) - xhat * mean(g * xhat)),   gw = sum(gy * xhat),   gb = sum(gy)

(gw, gb sum over the rows for layer norm, over each channel's values for batch norm.) The sums accumulate
in float64 even for float32 data: a channel can hold tens of thousands of values.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_FASTMATH = {"reassoc", "contract"}  # vectorised sums and fused multiply-adds; inf/nan behave as usual


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def layer_norm_forward_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, y: np.ndarray,
                            mean: np.ndarray, rstd: np.ndarray, start: int, stop: int) -> None:
    """y[i], mean[i], rstd[i] for the rows i in [start, stop) (w = ones, b = zeros when the layer has none)."""
    d = x.shape[1]
    for i in range(start, stop):
        row, out = x[i], y[i]
        s = 0.0
        for j in range(d):
            s += row[j]
        mu = s / d
        s = 0.0
        for j in range(d):
            s += (row[j] - mu) ** 2
        r = 1 / np.sqrt(s / d + eps)
        mean[i], rstd[i] = mu, r
        mu_, r_ = x.dtype.type(mu), x.dtype.type(r)  # the per-element work stays in x's dtype
        for j in range(d):
            out[j] = (row[j] - mu_) * r_ * w[j] + b[j]


@njit(parallel=True, cache=True)
def layer_norm_forward_parallel(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, y: np.ndarray,
                                mean: np.ndarray, rstd: np.ndarray, chunks: int) -> None:
    n = x.shape[0]
    for c in prange(chunks):
        layer_norm_forward_rows(x, w, b, eps, y, mean, rstd, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def layer_norm_backward_rows(gy: np.ndarray, x: np.ndarray, w: np.ndarray, mean: np.ndarray, rstd: np.ndarray,
                             gx: np.ndarray, gw: np.ndarray, gb: np.ndarray, start: int, stop: int) -> None:
    """gx[i] for the rows i in [start, stop); gw, gb (d,) float64 get this block's sums added."""
    d = x.shape[1]
    xhat = np.empty(d, dtype=x.dtype)
    for i in range(start, stop):
        row, g_row, out = x[i], gy[i], gx[i]
        mu, r = mean[i], rstd[i]
        sg = sgx = 0.0
        for j in range(d):
            xh = (row[j] - mu) * r
            xhat[j] = xh
            g = g_row[j] * w[j]
            sg += g
            sgx += g * xh
            gw[j] += g_row[j] * xh
            gb[j] += g_row[j]
        a, c = x.dtype.type(sg / d), x.dtype.type(sgx / d)
        for j in range(d):
            out[j] = r * (g_row[j] * w[j] - a - xhat[j] * c)


@njit(parallel=True, cache=True)
def layer_norm_backward_parallel(gy: np.ndarray, x: np.ndarray, w: np.ndarray, mean: np.ndarray, rstd: np.ndarray,
                                 gx: np.ndarray, gw: np.ndarray, gb: np.ndarray, chunks: int) -> None:
    """Each block of rows sums its own gw, gb; the blocks' sums are added at the end (no two threads write
    the same memory)."""
    n, d = x.shape
    gw_parts, gb_parts = np.zeros((chunks, d)), np.zeros((chunks, d))
    for c in prange(chunks):
        layer_norm_backward_rows(gy, x, w, mean, rstd, gx, gw_parts[c], gb_parts[c], c * n // chunks,
                                 (c + 1) * n // chunks)
    for c in range(chunks):
        gw += gw_parts[c]
        gb += gb_parts[c]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def batch_norm_forward_channels(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, y: np.ndarray,
                                mean: np.ndarray, var: np.ndarray, start: int, stop: int) -> None:
    """y[:, c], mean[c], var[c] (biased) for the channels c in [start, stop); x, y are (N, C, S)."""
    N, S = x.shape[0], x.shape[2]
    m = N * S
    for c in range(start, stop):
        s = 0.0
        for n in range(N):
            xs = x[n, c]
            for k in range(S):
                s += xs[k]
        mu = s / m
        s = 0.0
        for n in range(N):
            xs = x[n, c]
            for k in range(S):
                s += (xs[k] - mu) ** 2
        v = s / m
        mean[c], var[c] = mu, v
        mu_, scale, shift = x.dtype.type(mu), x.dtype.type(w[c] / np.sqrt(v + eps)), x.dtype.type(b[c])
        for n in range(N):
            xs, ys = x[n, c], y[n, c]
            for k in range(S):
                ys[k] = (xs[k] - mu_) * scale + shift


@njit(parallel=True, cache=True)
def batch_norm_forward_parallel(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, y: np.ndarray,
                                mean: np.ndarray, var: np.ndarray, chunks: int) -> None:
    n = x.shape[1]
    for c in prange(chunks):
        batch_norm_forward_channels(x, w, b, eps, y, mean, var, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def batch_norm_backward_channels(gy: np.ndarray, x: np.ndarray, w: np.ndarray, mean: np.ndarray, rstd: np.ndarray,
                                 gx: np.ndarray, gw: np.ndarray, gb: np.ndarray, start: int, stop: int) -> None:
    """gx[:, c], gw[c], gb[c] for the channels c in [start, stop); gy, x, gx are (N, C, S)."""
    N, S = x.shape[0], x.shape[2]
    m = N * S
    for c in range(start, stop):
        mu, r = mean[c], rstd[c]
        sg = sgx = 0.0
        for n in range(N):
            xs, gs = x[n, c], gy[n, c]
            for k in range(S):
                sg += gs[k]
                sgx += gs[k] * (xs[k] - mu)
        sgx *= r  # sum(gy * xhat)
        gb[c], gw[c] = sg, sgx
        # gx = w r (gy - gb/m - xhat gw/m) = a gy + bb (x - mean) + e
        scale = w[c] * r
        a, bb, e = x.dtype.type(scale), x.dtype.type(-scale * r * sgx / m), x.dtype.type(-scale * sg / m)
        mu_ = x.dtype.type(mu)
        for n in range(N):
            xs, gs, out = x[n, c], gy[n, c], gx[n, c]
            for k in range(S):
                out[k] = a * gs[k] + bb * (xs[k] - mu_) + e


@njit(parallel=True, cache=True)
def batch_norm_backward_parallel(gy: np.ndarray, x: np.ndarray, w: np.ndarray, mean: np.ndarray, rstd: np.ndarray,
                                 gx: np.ndarray, gw: np.ndarray, gb: np.ndarray, chunks: int) -> None:
    n = x.shape[1]
    for c in prange(chunks):
        batch_norm_backward_channels(gy, x, w, mean, rstd, gx, gw, gb, c * n // chunks, (c + 1) * n // chunks)
