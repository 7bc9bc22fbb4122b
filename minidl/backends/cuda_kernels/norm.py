"""Layer normalisation over the last axis (twin of ``kernels/norm.cu``).

Forward, per row: mu = mean(x), rstd = 1 / sqrt(mean((x - mu)^2) + eps), y = (x - mu) * rstd * w + b.
Backward, with xhat = (x - mu) * rstd and g = gy * w:
    gx = rstd * (g - mean(g) - xhat * mean(g * xhat))       (one block per row)
    gw = sum_rows gy * xhat,   gb = sum_rows gy             (one thread per column)
``w`` and ``b`` may be None (no affine part); the kernels then get a placeholder array and a flag.
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ACCUMULATOR, THREADS, block_sum, blocks_for, placeholder


@cuda.jit
def layer_norm_forward_kernel(x, w, b, has_w, has_b, y, mean, rstd, eps):
    i = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    scratch = cuda.shared.array(THREADS, ACCUMULATOR)
    d = x.shape[1]
    s = 0.0
    for j in range(tid, d, THREADS):
        s += x[i, j]
    mu = block_sum(s, scratch) / d
    ss = 0.0  # two passes: var of (x - mu) keeps the digits that E[x^2] - mu^2 loses
    for j in range(tid, d, THREADS):
        ss += (x[i, j] - mu) * (x[i, j] - mu)
    r = 1.0 / math.sqrt(block_sum(ss, scratch) / d + eps)
    for j in range(tid, d, THREADS):
        v = (x[i, j] - mu) * r
        if has_w:
            v *= w[j]
        if has_b:
            v += b[j]
        y[i, j] = v
    if tid == 0:
        mean[i] = mu
        rstd[i] = r


@cuda.jit
def layer_norm_backward_input_kernel(gy, x, w, has_w, mean, rstd, gx):
    i = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    scratch = cuda.shared.array(THREADS, ACCUMULATOR)
    d = x.shape[1]
    mu, r = mean[i], rstd[i]
    sum_g = 0.0
    sum_gx = 0.0
    for j in range(tid, d, THREADS):
        g = gy[i, j] * w[j] if has_w else gy[i, j]
        sum_g += g
        sum_gx += g * (x[i, j] - mu) * r
    mean_g = block_sum(sum_g, scratch) / d
    mean_gx = block_sum(sum_gx, scratch) / d
    for j in range(tid, d, THREADS):
        g = gy[i, j] * w[j] if has_w else gy[i, j]
        gx[i, j] = r * (g - mean_g - (x[i, j] - mu) * r * mean_gx)


@cuda.jit
def layer_norm_backward_params_kernel(gy, x, mean, rstd, gw, gb):
    n, d = x.shape
    for j in range(cuda.grid(1), d, cuda.gridsize(1)):  # one thread per column
        acc_w = 0.0
        acc_b = 0.0
        for i in range(n):
            acc_w += gy[i, j] * (x[i, j] - mean[i]) * rstd[i]
            acc_b += gy[i, j]
        gw[j] = acc_w
        gb[j] = acc_b


def layer_norm_forward(x, w, b, y, mean, rstd, eps: float) -> None:
    none = placeholder(x.dtype)
    layer_norm_forward_kernel[x.shape[0], THREADS](
        x, none if w is None else w, none if b is None else b, w is not None, b is not None, y, mean, rstd, eps)


def layer_norm_backward(gy, x, w, mean, rstd, gx, gw, gb) -> None:
    """gx always; gw and gb (the column sums) when they are not None."""
    has_w = w is not None
    layer_norm_backward_input_kernel[x.shape[0], THREADS](
        gy, x, w if has_w else placeholder(x.dtype), has_w, mean, rstd, gx)
    if gw is not None:
        layer_norm_backward_params_kernel[blocks_for(x.shape[1]), THREADS](gy, x, mean, rstd, gw, gb)
