"""Fused Adam / AdamW update, in place (twin of ``kernels/adam.cu``): one thread per element.

    Adam:  g <- g + weight_decay * p          AdamW: p <- p - lr * weight_decay * p
    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
    p <- p - lr * (m / bc1) / (sqrt(v / bc2) + eps),   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for


@cuda.jit
def adam_update_kernel(p, g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled):
    for k in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        grad = g[k]
        param = p[k]
        if decoupled:
            param -= lr * weight_decay * param
        else:
            grad += weight_decay * param
        m_k = beta1 * m[k] + (1.0 - beta1) * grad
        v_k = beta2 * v[k] + (1.0 - beta2) * grad * grad
        m[k] = m_k
        v[k] = v_k
        p[k] = param - lr * (m_k / bc1) / (math.sqrt(v_k / bc2) + eps)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decoupled) -> None:
    """Update the flat, contiguous arrays p, m, v in place from the gradient g (step counts from 1)."""
    bc1, bc2 = 1.0 - beta1**step, 1.0 - beta2**step
    adam_update_kernel[blocks_for(p.size), ELEMENT_THREADS](
        p, g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, bool(decoupled))
