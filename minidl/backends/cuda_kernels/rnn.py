"""The element-wise part of LSTM and GRU cells (twin of ``kernels/rnn.cu``; PyTorch's gate order).

LSTM, z (B, 4H) = [i, f, g, o] pre-activations:
    c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g),   h = sigmoid(o) * tanh(c),   acts = the activated gates
GRU, a = x W_ih^T + b_ih and b = h W_hh^T + b_hh, both (B, 3H) = [r, z, n]:
    r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r b_n),   h' = (1 - z) n + z h
    acts (B, 4H) = [r, z, n, b_n]
The backward formulas are in the CUDA C file's header. One thread per (batch, hidden unit).
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for


@cuda.jit(device=True)
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@cuda.jit
def lstm_cell_forward_kernel(z, c_prev, h, c, acts):
    B, H = c_prev.shape
    for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b = k // H
        j = k - b * H
        i = sigmoid(z[b, j])
        f = sigmoid(z[b, H + j])
        g = math.tanh(z[b, 2 * H + j])
        o = sigmoid(z[b, 3 * H + j])
        c_new = f * c_prev[b, j] + i * g
        c[b, j] = c_new
        h[b, j] = o * math.tanh(c_new)
        acts[b, j] = i
        acts[b, H + j] = f
        acts[b, 2 * H + j] = g
        acts[b, 3 * H + j] = o


@cuda.jit
def lstm_cell_backward_kernel(gh, gc, acts, c_prev, c, gz, gc_prev):
    B, H = c_prev.shape
    for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b = k // H
        j = k - b * H
        i = acts[b, j]
        f = acts[b, H + j]
        g = acts[b, 2 * H + j]
        o = acts[b, 3 * H + j]
        tc = math.tanh(c[b, j])
        gc_tot = gc[b, j] + gh[b, j] * o * (1.0 - tc * tc)
        gz[b, j] = gc_tot * g * i * (1.0 - i)
        gz[b, H + j] = gc_tot * c_prev[b, j] * f * (1.0 - f)
        gz[b, 2 * H + j] = gc_tot * i * (1.0 - g * g)
        gz[b, 3 * H + j] = gh[b, j] * tc * o * (1.0 - o)
        gc_prev[b, j] = gc_tot * f


@cuda.jit
def gru_cell_forward_kernel(a, bh, h_prev, h, acts):
    B, H = h_prev.shape
    for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b = k // H
        j = k - b * H
        r = sigmoid(a[b, j] + bh[b, j])
        z = sigmoid(a[b, H + j] + bh[b, H + j])
        n = math.tanh(a[b, 2 * H + j] + r * bh[b, 2 * H + j])
        h[b, j] = (1.0 - z) * n + z * h_prev[b, j]
        acts[b, j] = r
        acts[b, H + j] = z
        acts[b, 2 * H + j] = n
        acts[b, 3 * H + j] = bh[b, 2 * H + j]


@cuda.jit
def gru_cell_backward_kernel(gh_new, acts, h_prev, ga, gb, gh_prev):
    B, H = h_prev.shape
    for k in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b = k // H
        j = k - b * H
        r = acts[b, j]
        z = acts[b, H + j]
        n = acts[b, 2 * H + j]
        b_n = acts[b, 3 * H + j]
        g = gh_new[b, j]
        gn_pre = g * (1.0 - z) * (1.0 - n * n)
        gz_pre = g * (h_prev[b, j] - n) * z * (1.0 - z)
        gr_pre = gn_pre * b_n * r * (1.0 - r)
        ga[b, j] = gr_pre
        ga[b, H + j] = gz_pre
        ga[b, 2 * H + j] = gn_pre
        gb[b, j] = gr_pre
        gb[b, H + j] = gz_pre
        gb[b, 2 * H + j] = gn_pre * r
        gh_prev[b, j] = g * z


def _launch(kernel, n_units: int, *args) -> None:
    kernel[blocks_for(n_units), ELEMENT_THREADS](*args)


def lstm_cell_forward(z, c_prev, h, c, acts) -> None:
    _launch(lstm_cell_forward_kernel, c_prev.size, z, c_prev, h, c, acts)


def lstm_cell_backward(gh, gc, acts, c_prev, c, gz, gc_prev) -> None:
    _launch(lstm_cell_backward_kernel, c_prev.size, gh, gc, acts, c_prev, c, gz, gc_prev)


def gru_cell_forward(a, bh, h_prev, h, acts) -> None:
    _launch(gru_cell_forward_kernel, h_prev.size, a, bh, h_prev, h, acts)


def gru_cell_backward(gh_new, acts, h_prev, ga, gb, gh_prev) -> None:
    _launch(gru_cell_backward_kernel, h_prev.size, gh_new, acts, h_prev, ga, gb, gh_prev)
