"""Fused SGD update, in place (twin of ``kernels/sgd.cu``): one thread per element.

    g <- (-grad if maximize else grad) + weight_decay * p
    with momentum:  b <- g on the first step, else momentum * b + (1 - dampening) * g
                    g <- g + momentum * b (nesterov) or b
    p <- p - lr * g
"""

from __future__ import annotations

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
