"""Fused softmax + cross-entropy over rows (twin of ``kernels/losses.cu``).

    lse_i  = log sum_j exp(x_ij)                 (as m + log sum exp(x - m), m = max_j x_ij)
    loss_i = lse_i - x_{i, t_i}                  (0 where t_i == ignore_index)
    gx_ij  = (exp(x_ij - lse_i) - [j == t_i]) * gloss_i

The forward keeps only ``lse`` (one number per row) for the backward, never the softmax matrix.
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ACCUMULATOR, THREADS, block_max, block_sum, blocks_for


@cuda.jit
def xent_forward_kernel(x, target, loss, lse, ignore_index):
    i = cuda.blockIdx.x  # one block per row
    tid = cuda.threadIdx.x
    scratch = cuda.shared.array(THREADS, ACCUMULATOR)
    d = x.shape[1]
    m = -math.inf
    for j in range(tid, d, THREADS):
        m = max(m, x[i, j])
    m = block_max(m, scratch)
    s = 0.0
    for j in range(tid, d, THREADS):
        s += math.exp(x[i, j] - m)
    s = block_sum(s, scratch)
    if tid == 0:
        row_lse = m + math.log(s)
        lse[i] = row_lse
        t = target[i]
        loss[i] = 0.0 if t == ignore_index else row_lse - x[i, t]


@cuda.jit
def xent_backward_kernel(x, target, lse, gloss, gx, ignore_index):
    n, d = x.shape
    for k in range(cuda.grid(1), n * d, cuda.gridsize(1)):  # one thread per element, grid-stride
        i = k // d
        j = k - i * d
        t = target[i]
        if t == ignore_index:
            gx[i, j] = 0.0
        else:
            p = math.exp(x[i, j] - lse[i])
            gx[i, j] = (p - (1.0 if j == t else 0.0)) * gloss[i]


def xent_forward(x, target, loss, lse, ignore_index: int) -> None:
    """Per-row losses and log-sum-exps of the logits ``x`` (n, C) for int64 targets (n,)."""
    xent_forward_kernel[x.shape[0], THREADS](x, target, loss, lse, ignore_index)


def xent_backward(x, target, lse, gloss, gx, ignore_index: int) -> None:
    """Write d(sum_i gloss_i * loss_i)/dx into ``gx``."""
    xent_backward_kernel[blocks_for(x.size), THREADS](x, target, lse, gloss, gx, ignore_index)
