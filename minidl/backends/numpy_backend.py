"""The NumPy backend: the readable reference implementation of every kernel.

Every kernel is written with ``self.xp`` so that the same code also runs on CuPy arrays; the GPU
backends subclass this one and override only what they make faster. Kernels are vectorised: no
Python loops over batch elements or pixels.
"""

from __future__ import annotations

from typing import Any

import numpy

from minidl.backends.base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    xp = numpy

    def to_numpy(self, array: Any) -> numpy.ndarray:
        return numpy.asarray(array)

    # ---- linear algebra ----
    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    # ---- softmax family ----
    def softmax(self, x, axis):
        # Subtracting the max changes nothing mathematically and keeps exp() from overflowing.
        e = self.xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def log_softmax(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - self.xp.log(self.xp.exp(shifted).sum(axis=axis, keepdims=True))

    def logsumexp(self, x, axis, keepdims):
        xp = self.xp
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows give -inf, not NaN
        out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        if not keepdims:
            out = out.squeeze(axis=axis) if axis is not None else out.reshape(())
        return out.astype(x.dtype, copy=False)

    # ---- indexing ----
    def index_add(self, shape, index, values):
        out = self.xp.zeros(shape, dtype=values.dtype)
        self.xp.add.at(out, index, values)
        return out

    def take_along_axis_add(self, shape, indices, values, axis):
        xp = self.xp
        out = xp.zeros(shape, dtype=values.dtype)
        axis = axis % len(shape)
        # Build a full index tuple: the given indices on `axis`, a broadcast arange elsewhere.
        grid = []
        for d, n in enumerate(indices.shape):
            if d == axis:
                grid.append(indices)
            else:
                view = [1] * indices.ndim
                view[d] = n
                grid.append(xp.arange(n).reshape(view))
        xp.add.at(out, tuple(grid), values)
        return out

    # ---- optimizers: in place, no graph; at most one scratch array (plus -grad / grad + wd p when asked) ----
    def _effective_grad(self, param, grad, weight_decay, maximize):
        """``±grad + weight_decay * param`` (PyTorch's L2 penalty), leaving the caller's grad untouched."""
        if maximize:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param  # a new array: never write into param.grad
        return grad

    def sgd_update(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize):
        g = self._effective_grad(param, grad, weight_decay, maximize)
        buf = None
        if momentum != 0:
            if momentum_buffer is None:
                buf = g.copy()  # the first step starts the buffer at g (no dampening), like PyTorch
            else:
                buf = momentum_buffer
                buf *= momentum
                buf += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        param -= lr * g
        return buf

    def adam_update(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
                    max_exp_avg_sq=None, maximize=False):
        xp = self.xp
        if decoupled:  # AdamW: shrink the weights directly, outside the adaptive scaling
            if weight_decay != 0:
                param *= 1 - lr * weight_decay
            weight_decay = 0
        g = self._effective_grad(param, grad, weight_decay, maximize)
        tmp = xp.multiply(g, 1 - beta1)
        exp_avg *= beta1
        exp_avg += tmp  # m = b1 m + (1 - b1) g
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        exp_avg_sq *= beta2
        exp_avg_sq += tmp  # v = b2 v + (1 - b2) g^2
        if max_exp_avg_sq is not None:  # AMSGrad: the denominator never shrinks
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denom = xp.sqrt(exp_avg_sq if max_exp_avg_sq is None else max_exp_avg_sq, out=tmp)
        denom /= bias_correction2**0.5
        denom += eps
        xp.divide(exp_avg, denom, out=tmp)
        tmp *= lr / bias_correction1
        param -= tmp

    def rmsprop_update(self, param, grad, square_avg, lr, alpha, eps, weight_decay, momentum, grad_avg=None,
                       momentum_buffer=None, maximize=False):
        xp = self.xp
        g = self._effective_grad(param, grad, weight_decay, maximize)
        tmp = xp.multiply(g, g)
        tmp *= 1 - alpha
        square_avg *= alpha
        square_avg += tmp  # s = a s + (1 - a) g^2
        if grad_avg is not None:  # centered: divide by an estimate of the variance instead
            xp.multiply(g, 1 - alpha, out=tmp)
            grad_avg *= alpha
            grad_avg += tmp
            xp.multiply(grad_avg, grad_avg, out=tmp)
            xp.subtract(square_avg, tmp, out=tmp)
            avg = xp.sqrt(tmp, out=tmp)
        else:
            avg = xp.sqrt(square_avg, out=tmp)
        avg += eps
        xp.divide(g, avg, out=tmp)
        if momentum_buffer is not None and momentum > 0:
            momentum_buffer *= momentum
            momentum_buffer += tmp
            xp.multiply(momentum_buffer, lr, out=tmp)
        else:
            tmp *= lr
        param -= tmp

    def adagrad_update(self, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize=False):
        xp = self.xp
        g = self._effective_grad(param, grad, weight_decay, maximize)
        clr = lr / (1 + (step - 1) * lr_decay)
        tmp = xp.multiply(g, g)
        state_sum += tmp  # s = s + g^2
        std = xp.sqrt(state_sum, out=tmp)
        std += eps
        xp.divide(g, std, out=tmp)
        tmp *= clr
        param -= tmp
