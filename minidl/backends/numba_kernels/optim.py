"""SGD and Adam updates, fused: one pass over a parameter and its state instead of one NumPy pass per operation.

Each kernel updates flat arrays in place for the elements k in [start, stop), with PyTorch's rules. With
g = sign * grad + weight_decay * p (sign = -1 when maximizing; weight_decay = 0 for AdamW):

    SGD:   p -= lr g                                              (no momentum)
           b = mu b + (1 - dampening) g   (b = g on the first step)
           p -= lr (g + mu b)  if nesterov  else  p -= lr b
    Adam:  p *= decay  (AdamW: 1 - lr * weight_decay, else 1)
           m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   AMSGrad: vmax = max(vmax, v), used for v
           p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

The NumPy reference makes ~10 passes over memory (and temporaries) for Adam; here each element is read and
written once. Three things keep these loops vectorised (3-5x faster than the same loop without them):
- the loops run over views from index 0: ``range(start, stop)`` indices could be negative for all the
  compiler knows, and the wraparound test that numba adds for negative indices blocks vectorisation;
- one loop per variant (momentum or not, nesterov or not, AMSGrad or not): a flag tested *inside* a loop
  that stores conditionally keeps LLVM from vectorising it; maximize is the multiplier ``sign`` instead;
- every scalar arrives cast to the arrays' dtype, (1 - beta1) and the like included: a Python
  ``1 - beta1`` inside the loop would be a float64 and drag each float32 operation to float64.
The scalars travel in one small array ``coef`` of that dtype: numba's dispatcher types an array argument
in a fraction of a microsecond but each NumPy float32 scalar in over one (most parameters are small).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_FASTMATH = {"contract"}  # fused multiply-adds; nothing that changes inf/nan behaviour


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def sgd(p: np.ndarray, grad: np.ndarray, buf: np.ndarray, coef: np.ndarray, use_momentum: bool, nesterov: bool,
        start: int, stop: int) -> None:
    """SGD step; coef = [lr, sign, weight_decay, momentum, g_scale]. With momentum
    ``b = momentum * buf + g_scale * g`` (g_scale = 1 - dampening, or 1 on the first step, when buf holds zeros)."""
    lr, sign, weight_decay, momentum, g_scale = coef[0], coef[1], coef[2], coef[3], coef[4]
    p, grad, buf = p[start:stop], grad[start:stop], buf[start:stop] if use_momentum else buf
    if not use_momentum:
        for k in range(p.shape[0]):
            p[k] -= lr * (sign * grad[k] + weight_decay * p[k])
    elif nesterov:
        for k in range(p.shape[0]):
            g = sign * grad[k] + weight_decay * p[k]
            b = momentum * buf[k] + g_scale * g
            buf[k] = b
            p[k] -= lr * (g + momentum * b)
    else:
        for k in range(p.shape[0]):
            b = momentum * buf[k] + g_scale * (sign * grad[k] + weight_decay * p[k])
            buf[k] = b
            p[k] -= lr * b


@njit(parallel=True, cache=True)
def sgd_parallel(p: np.ndarray, grad: np.ndarray, buf: np.ndarray, coef: np.ndarray, use_momentum: bool,
                 nesterov: bool, chunks: int) -> None:
    n = p.shape[0]
    for c in prange(chunks):
        sgd(p, grad, buf, coef, use_momentum, nesterov, c * n // chunks, (c + 1) * n // chunks)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def adam(p: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray, coef: np.ndarray,
         amsgrad: bool, start: int, stop: int) -> None:
    """Adam/AdamW/AMSGrad step; coef = [step_size, beta1, 1 - beta1, beta2, 1 - beta2, eps, inv_sqrt_bc2, sign,
    weight_decay, decay] with ``step_size = lr / (1 - b1^t)`` and ``inv_sqrt_bc2 = 1 / sqrt(1 - b2^t)``."""
    step_size, beta1, one_minus_b1, beta2, one_minus_b2 = coef[0], coef[1], coef[2], coef[3], coef[4]
    eps, inv_sqrt_bc2, sign, weight_decay, decay = coef[5], coef[6], coef[7], coef[8], coef[9]
    p, grad, m, v, vmax = p[start:stop], grad[start:stop], m[start:stop], v[start:stop], vmax[start:stop]
    if not amsgrad:
        for k in range(p.shape[0]):
            pk = p[k] * decay
            g = sign * grad[k] + weight_decay * pk
            mk = beta1 * m[k] + one_minus_b1 * g
            vk = beta2 * v[k] + one_minus_b2 * (g * g)
            m[k] = mk
            v[k] = vk
            p[k] = pk - step_size * mk / (np.sqrt(vk) * inv_sqrt_bc2 + eps)
    else:
        for k in range(p.shape[0]):
            pk = p[k] * decay
            g = sign * grad[k] + weight_decay * pk
            mk = beta1 * m[k] + one_minus_b1 * g
            vk = beta2 * v[k] + one_minus_b2 * (g * g)
            m[k] = mk
            v[k] = vk
            vk = np.maximum(vmax[k], vk)  # the denominator never shrinks (and a NaN wins, as in NumPy)
            vmax[k] = vk
            p[k] = pk - step_size * mk / (np.sqrt(vk) * inv_sqrt_bc2 + eps)


@njit(parallel=True, cache=True)
def adam_parallel(p: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray, coef: np.ndarray,
                  amsgrad: bool, chunks: int) -> None:
    n = p.shape[0]
    for c in prange(chunks):
        adam(p, grad, m, v, vmax, coef, amsgrad, c * n // chunks, (c + 1) * n // chunks)
