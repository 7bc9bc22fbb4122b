"""LSTM and GRU cells, one time step, fused: the gate nonlinearities and the state update in one pass
per batch row (the gate matmuls stay in BLAS, outside). PyTorch's gate order.

LSTM, z = [z_i, z_f, z_g, z_o] (B, 4H):
    i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g),  c = f c_prev + i g,  h = o tanh(c)
    backward: gc' = gc + gh o (1 - tanh(c)^2)
              gz = [gc' g i(1-i),  gc' c_prev f(1-f),  gc' i (1-g^2),  gh tanh(c) o(1-o)],  gc_prev = gc' f
GRU, a = x W_ih^T + b_ih, b = h_prev W_hh^T + b_hh, both [r, z, n] (B, 3H):
    r = sigmoid(a_r + b_r),  z = sigmoid(a_z + b_z),  n = tanh(a_n + r b_n),  h = n + z (h_prev - n)
    backward: gn = gh (1-z)(1-n^2),  gz = gh (h_prev - n) z(1-z),  gr = gn b_n r(1-r)
              ga = [gr, gz, gn],  gb = [gr, gz, gn r],  gh_prev (through z h_prev only) = gh z

float32 uses the vectorised sigmoid/tanh of ``fastexp`` (relative error ~1e-6); NumPy's reference makes a
dozen whole-array passes with temporaries for each step, and an RNN runs this once per time step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from minidl.backends.numba_kernels.fastexp import fast_sigmoid, fast_tanh

_FASTMATH = {"contract"}


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def lstm_forward_rows(z: np.ndarray, c_prev: np.ndarray, h: np.ndarray, c: np.ndarray, acts: np.ndarray,
                      start: int, stop: int) -> None:
    """h[b], c[b], acts[b] for the batch rows b in [start, stop)."""
    H = c_prev.shape[1]
    for b in range(start, stop):
        zb, ab, cp, cb, hb = z[b], acts[b], c_prev[b], c[b], h[b]
        for j in range(H):
            i, f = fast_sigmoid(zb[j]), fast_sigmoid(zb[H + j])
            g, o = fast_tanh(zb[2 * H + j]), fast_sigmoid(zb[3 * H + j])
            ab[j], ab[H + j], ab[2 * H + j], ab[3 * H + j] = i, f, g, o
            cj = f * cp[j] + i * g
            cb[j] = cj
            hb[j] = o * fast_tanh(cj)


@njit(parallel=True, cache=True)
def lstm_forward_parallel(z: np.ndarray, c_prev: np.ndarray, h: np.ndarray, c: np.ndarray, acts: np.ndarray,
                          chunks: int) -> None:
    n = z.shape[0]
    for k in prange(chunks):
        lstm_forward_rows(z, c_prev, h, c, acts, k * n // chunks, (k + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def lstm_backward_rows(gh: np.ndarray, gc: np.ndarray, acts: np.ndarray, c_prev: np.ndarray, c: np.ndarray,
                       gz: np.ndarray, gc_prev: np.ndarray, start: int, stop: int) -> None:
    """gz[b], gc_prev[b] for the batch rows b in [start, stop)."""
    H = c.shape[1]
    one = c.dtype.type(1)
    for b in range(start, stop):
        ab, gzb, ghb, gcb, cp, cb, gcp = acts[b], gz[b], gh[b], gc[b], c_prev[b], c[b], gc_prev[b]
        for j in range(H):
            i, f, g, o = ab[j], ab[H + j], ab[2 * H + j], ab[3 * H + j]
            tc = fast_tanh(cb[j])
            gct = gcb[j] + ghb[j] * o * (one - tc * tc)  # c reaches the loss directly and through h
            gzb[j] = gct * g * i * (one - i)
            gzb[H + j] = gct * cp[j] * f * (one - f)
            gzb[2 * H + j] = gct * i * (one - g * g)
            gzb[3 * H + j] = ghb[j] * tc * o * (one - o)
            gcp[j] = gct * f


@njit(parallel=True, cache=True)
def lstm_backward_parallel(gh: np.ndarray, gc: np.ndarray, acts: np.ndarray, c_prev: np.ndarray, c: np.ndarray,
                           gz: np.ndarray, gc_prev: np.ndarray, chunks: int) -> None:
    n = c.shape[0]
    for k in prange(chunks):
        lstm_backward_rows(gh, gc, acts, c_prev, c, gz, gc_prev, k * n // chunks, (k + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def gru_forward_rows(a: np.ndarray, bh: np.ndarray, h_prev: np.ndarray, h: np.ndarray, acts: np.ndarray,
                     start: int, stop: int) -> None:
    """h[k], acts[k] = [r, z, n, b_n] for the batch rows k in [start, stop)."""
    H = h_prev.shape[1]
    for k in range(start, stop):
        ak, bk, actk, hp, hk = a[k], bh[k], acts[k], h_prev[k], h[k]
        for j in range(H):
            r = fast_sigmoid(ak[j] + bk[j])
            z = fast_sigmoid(ak[H + j] + bk[H + j])
            b_n = bk[2 * H + j]
            n = fast_tanh(ak[2 * H + j] + r * b_n)
            actk[j], actk[H + j], actk[2 * H + j], actk[3 * H + j] = r, z, n, b_n
            hk[j] = n + z * (hp[j] - n)


@njit(parallel=True, cache=True)
def gru_forward_parallel(a: np.ndarray, bh: np.ndarray, h_prev: np.ndarray, h: np.ndarray, acts: np.ndarray,
                         chunks: int) -> None:
    n = a.shape[0]
    for k in prange(chunks):
        gru_forward_rows(a, bh, h_prev, h, acts, k * n // chunks, (k + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def gru_backward_rows(gh: np.ndarray, acts: np.ndarray, h_prev: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                      gh_prev: np.ndarray, start: int, stop: int) -> None:
    """ga[k], gb[k], gh_prev[k] for the batch rows k in [start, stop)."""
    H = h_prev.shape[1]
    one = h_prev.dtype.type(1)
    for k in range(start, stop):
        actk, ghk, hp, gak, gbk, ghp = acts[k], gh[k], h_prev[k], ga[k], gb[k], gh_prev[k]
        for j in range(H):
            r, z, n, b_n = actk[j], actk[H + j], actk[2 * H + j], actk[3 * H + j]
            gn = ghk[j] * (one - z) * (one - n * n)
            gz = ghk[j] * (hp[j] - n) * z * (one - z)
            gr = gn * b_n * r * (one - r)
            gak[j], gak[H + j], gak[2 * H + j] = gr, gz, gn
            gbk[j], gbk[H + j], gbk[2 * H + j] = gr, gz, gn * r
            ghp[j] = ghk[j] * z


@njit(parallel=True, cache=True)
def gru_backward_parallel(gh: np.ndarray, acts: np.ndarray, h_prev: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                          gh_prev: np.ndarray, chunks: int) -> None:
    n = gh.shape[0]
    for k in prange(chunks):
        gru_backward_rows(gh, acts, h_prev, ga, gb, gh_prev, k * n // chunks, (k + 1) * n // chunks)
