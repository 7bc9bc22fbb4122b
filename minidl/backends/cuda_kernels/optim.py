"""The optimizer kernels, in place (twins of ``kernels/optim.cu``): one thread per element.

SGD:
    g <- (-grad if maximize else grad) + weight_decay * p
    with momentum:  b <- g on the first step, else momentum * b + (1 - dampening) * g
                    g <- g + momentum * b (nesterov) or b
    p <- p - lr * g

Adam / AdamW:
    maximize: g <- -g
    Adam:  g <- g + weight_decay * p          AdamW: p <- p - lr * weight_decay * p
    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
    AMSGrad: vmax <- max(vmax, v), used in place of v below
    p <- p - lr * (m / bc1) / (sqrt(v / bc2) + eps),   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
"""

from __future__ import annotations

import math

from numba import cuda

from minidl.backends.cuda_kernels._common import ELEMENT_THREADS, blocks_for, placeholder


@cuda.jit
def sgd_update_kernel(p, grad, buf, lr, momentum, dampening, weight_decay, has_buf, first, nesterov, maximize):
    for k in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        g = -grad[k] if maximize else grad[k]
        g += weight_decay * p[k]
        if has_buf:
            b = g if first else momentum * buf[k] + (1.0 - dampening) * g
            buf[k] = b
            g = g + momentum * b if nesterov else b
        p[k] -= lr * g


def sgd_update(p, grad, buf, lr, momentum, dampening, weight_decay, first, nesterov, maximize) -> None:
    """Update the flat arrays p (and the momentum buffer ``buf``, None without momentum) in place."""
    has_buf = buf is not None
    sgd_update_kernel[blocks_for(p.size), ELEMENT_THREADS](
        p, grad, buf if has_buf else placeholder(p.dtype), lr, momentum, dampening, weight_decay, has_buf,
        bool(first), bool(nesterov), bool(maximize))


@cuda.jit
def adam_update_kernel(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled, amsgrad, maximize):
    for k in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        grad = -g[k] if maximize else g[k]
        param = p[k]
        if decoupled:
            param -= lr * weight_decay * param
        else:
            grad += weight_decay * param
        m_k = beta1 * m[k] + (1.0 - beta1) * grad
        v_k = beta2 * v[k] + (1.0 - beta2) * grad * grad
        m[k] = m_k
        v[k] = v_k
        denom_v = v_k
        if amsgrad:
            denom_v = max(vmax[k], v_k)
            vmax[k] = denom_v
        p[k] = param - lr * (m_k / bc1) / (math.sqrt(denom_v / bc2) + eps)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decoupled, vmax=None, maximize=False) -> None:
    """Update the flat, contiguous arrays p, m, v (and vmax for AMSGrad) in place from the gradient g
    (step counts from 1)."""
    bc1, bc2 = 1.0 - beta1**step, 1.0 - beta2**step
    amsgrad = vmax is not None
    adam_update_kernel[blocks_for(p.size), ELEMENT_THREADS](
        p, g, m, v, vmax if amsgrad else placeholder(p.dtype), lr, beta1, beta2, eps, weight_decay, bc1, bc2,
        bool(decoupled), amsgrad, bool(maximize))
