"""Scaled dot-product attention with an online ("flash") softmax (twin of ``kernels/attention.cu``).

q (BH, Tq, D), k and v (BH, Tk, D); with ``causal`` query i sees keys j <= i. The (Tq, Tk) score matrix
is never stored:

    s_ij = scale * q_i . k_j,   lse_i = log sum_j exp(s_ij),   p_ij = exp(s_ij - lse_i),   out_i = sum_j p_ij v_j
    backward (delta_i = dO_i . out_i):  dv_j = sum_i p_ij dO_i,   ds_ij = p_ij (dO_i . v_j - delta_i)
                                        dq_i = scale sum_j ds_ij k_j,   dk_j = scale sum_i ds_ij q_i

Forward: one thread per query row, ATTN_THREADS rows per block. The block loads the keys and values
in tiles of BK rows into shared memory; each thread scores its row against the tile and folds the
scores into a running max ``m``, sum ``l`` and accumulator ``acc``:

    m' = max(m, max_j s_j),  acc <- acc * exp(m - m') + sum_j exp(s_j - m') v_j,  l likewise,  m <- m'

Backward: one kernel with one thread per query (dq), one with one thread per key (dk, dv): every
output has a single writer, so no atomics and the result is deterministic.
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ACCUMULATOR, ELEMENT_THREADS, SIMULATED, blocks_for

#: query (or key) rows per block
ATTN_THREADS = 8 if SIMULATED else 64
#: rows of k and v (or q and dO) per shared-memory tile
BK = 4 if SIMULATED else 16
#: the largest head dimension the per-thread register arrays hold
MAX_D = 128


@cuda.jit
def attention_forward_kernel(q, k, v, out, lse, scale, causal):
    k_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    v_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    qi = cuda.local.array(MAX_D, ACCUMULATOR)
    acc = cuda.local.array(MAX_D, ACCUMULATOR)
    s = cuda.local.array(BK, ACCUMULATOR)
    bh = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    i = cuda.blockIdx.x * ATTN_THREADS + tid  # this thread's query row
    Tq, D = q.shape[1], q.shape[2]
    Tk = k.shape[1]
    active = i < Tq
    for d in range(D):
        qi[d] = q[bh, i, d] * scale if active else 0.0
        acc[d] = 0.0
    m = -math.inf
    l = 0.0
    last_query = min(Tq, (cuda.blockIdx.x + 1) * ATTN_THREADS) - 1
    k_end = min(Tk, last_query + 1) if causal else Tk
    for start in range(0, k_end, BK):
        n = min(BK, k_end - start)
        cuda.syncthreads()  # the previous tile is no longer read
        for e in range(tid, n * D, ATTN_THREADS):
            k_tile[e // D, e % D] = k[bh, start + e // D, e % D]
            v_tile[e // D, e % D] = v[bh, start + e // D, e % D]
        cuda.syncthreads()
        if not active:
            continue
        tile_max = -math.inf
        for j in range(n):
            dot = 0.0
            for d in range(D):
                dot += qi[d] * k_tile[j, d]
            s[j] = -math.inf if (causal and start + j > i) else dot
            tile_max = max(tile_max, s[j])
        if tile_max == -math.inf:
            continue  # every key of this tile is masked for row i
        m_new = max(m, tile_max)
        correction = math.exp(m - m_new)
        l *= correction
        for d in range(D):
            acc[d] *= correction
        for j in range(n):
            p = math.exp(s[j] - m_new)
            l += p
            for d in range(D):
                acc[d] += p * v_tile[j, d]
        m = m_new
    if active:
        for d in range(D):
            out[bh, i, d] = acc[d] / l
        lse[bh, i] = m + math.log(l)


@cuda.jit
def attention_backward_delta_kernel(out, gout, delta):
    BH, T, D = out.shape
    for r in range(cuda.grid(1), BH * T, cuda.gridsize(1)):
        bh = r // T
        i = r - bh * T
        acc = 0.0
        for d in range(D):
            acc += out[bh, i, d] * gout[bh, i, d]
        delta[bh, i] = acc


@cuda.jit
def attention_backward_dq_kernel(q, k, v, gout, lse, delta, gq, scale, causal):
    k_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    v_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    qi = cuda.local.array(MAX_D, ACCUMULATOR)
    gi = cuda.local.array(MAX_D, ACCUMULATOR)
    acc = cuda.local.array(MAX_D, ACCUMULATOR)
    bh = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    i = cuda.blockIdx.x * ATTN_THREADS + tid
    Tq, D = q.shape[1], q.shape[2]
    Tk = k.shape[1]
    active = i < Tq
    for d in range(D):
        qi[d] = q[bh, i, d] * scale if active else 0.0
        gi[d] = gout[bh, i, d] if active else 0.0
        acc[d] = 0.0
    lse_i = lse[bh, i] if active else 0.0
    delta_i = delta[bh, i] if active else 0.0
    last_query = min(Tq, (cuda.blockIdx.x + 1) * ATTN_THREADS) - 1
    k_end = min(Tk, last_query + 1) if causal else Tk
    for start in range(0, k_end, BK):
        n = min(BK, k_end - start)
        cuda.syncthreads()
        for e in range(tid, n * D, ATTN_THREADS):
            k_tile[e // D, e % D] = k[bh, start + e // D, e % D]
            v_tile[e // D, e % D] = v[bh, start + e // D, e % D]
        cuda.syncthreads()
        if not active:
            continue
        for j in range(n):
            if causal and start + j > i:
                break
            dot = 0.0
            gv = 0.0
            for d in range(D):
                dot += qi[d] * k_tile[j, d]
                gv += gi[d] * v_tile[j, d]
            ds = math.exp(dot - lse_i) * (gv - delta_i)
            for d in range(D):
                acc[d] += ds * k_tile[j, d]
    if active:
        for d in range(D):
            gq[bh, i, d] = acc[d] * scale


@cuda.jit
def attention_backward_dkdv_kernel(q, k, v, gout, lse, delta, gk, gv, scale, causal):
    q_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    g_tile = cuda.shared.array((BK, MAX_D), ACCUMULATOR)
    kj = cuda.local.array(MAX_D, ACCUMULATOR)
    vj = cuda.local.array(MAX_D, ACCUMULATOR)
    dk = cuda.local.array(MAX_D, ACCUMULATOR)
    dv = cuda.local.array(MAX_D, ACCUMULATOR)
    bh = cuda.blockIdx.y
    tid = cuda.threadIdx.x
    j = cuda.blockIdx.x * ATTN_THREADS + tid  # this thread's key row
    Tq, D = q.shape[1], q.shape[2]
    Tk = k.shape[1]
    active = j < Tk
    for d in range(D):
        kj[d] = k[bh, j, d] if active else 0.0
        vj[d] = v[bh, j, d] if active else 0.0
        dk[d] = 0.0
        dv[d] = 0.0
    q_start = cuda.blockIdx.x * ATTN_THREADS if causal else 0  # earlier queries see none of these keys
    for start in range(q_start, Tq, BK):
        n = min(BK, Tq - start)
        cuda.syncthreads()
        for e in range(tid, n * D, ATTN_THREADS):
            q_tile[e // D, e % D] = q[bh, start + e // D, e % D] * scale
            g_tile[e // D, e % D] = gout[bh, start + e // D, e % D]
        cuda.syncthreads()
        if not active:
            continue
        for r in range(n):
            i = start + r
            if causal and j > i:
                continue
            dot = 0.0
            gvd = 0.0
            for d in range(D):
                dot += q_tile[r, d] * kj[d]
                gvd += g_tile[r, d] * vj[d]
            p = math.exp(dot - lse[bh, i])
            ds = p * (gvd - delta[bh, i])
            for d in range(D):
                dv[d] += p * g_tile[r, d]
                dk[d] += ds * q_tile[r, d]  # q_tile holds scale * q
    if active:
        for d in range(D):
            gk[bh, j, d] = dk[d]
            gv[bh, j, d] = dv[d]


def attention_forward(q, k, v, out, lse, scale: float, causal: bool) -> None:
    """out (BH, Tq, D) and lse (BH, Tq) from q (BH, Tq, D), k and v (BH, Tk, D)."""
    grid = (blocks_for(q.shape[1], ATTN_THREADS), q.shape[0])
    attention_forward_kernel[grid, ATTN_THREADS](q, k, v, out, lse, scale, causal)


def attention_backward(q, k, v, out, lse, gout, gq, gk, gv, delta, scale: float, causal: bool) -> None:
    """gq, gk, gv from the forward's out and lse and the gradient gout; ``delta`` (BH, Tq) is scratch."""
    attention_backward_delta_kernel[blocks_for(delta.size), ELEMENT_THREADS](out, gout, delta)
    grid_q = (blocks_for(q.shape[1], ATTN_THREADS), q.shape[0])
    attention_backward_dq_kernel[grid_q, ATTN_THREADS](q, k, v, gout, lse, delta, gq, scale, causal)
    grid_k = (blocks_for(k.shape[1], ATTN_THREADS), k.shape[0])
    attention_backward_dkdv_kernel[grid_k, ATTN_THREADS](q, k, v, gout, lse, delta, gk, gv, scale, causal)
