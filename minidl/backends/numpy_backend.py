"""The NumPy backend: the readable reference implementation of every kernel.

Every kernel is written with ``self.xp`` so that the same code also runs on CuPy arrays; the GPU
backends subclass this one and override only what they make faster. Kernels are vectorised: no
Python loops over batch elements or pixels.

float16 inputs: every kernel that adds many numbers up (softmax, log-softmax, logsumexp, cross-entropy,
batch and layer norm) computes in float32 and rounds its outputs to float16 once, at the end, as
PyTorch does; ``accumulation_dtype`` in ``base.py`` says why. Statistics kept for the backward pass
(``mean``, ``var``, ``rstd``, ``lse``) stay in float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from minidl.backends.base import Backend, accumulation_dtype
from minidl.backends.shapes import conv_out_size, pool_out_size
from minidl.dtypes import LOW_PRECISION

__all__ = ["NumpyBackend", "erf_array", "pool_out_size"]  # erf_array, pool_out_size: also read by minidl.ops


class NumpyBackend(Backend):
    """The reference: one method per kernel of the contract, its docstring the kernel's math.

    The public methods below (other than ``to_numpy``) are exactly the kernels listed in
    ``kernels/README.md``; ``tests/test_kernel_catalogue.py`` keeps the two in step."""

    name = "numpy"
    xp = numpy

    def to_numpy(self, array: Any) -> numpy.ndarray:
        return numpy.asarray(array)

    # ---- linear algebra ----
    def matmul(self, a, b):
        """Batched matrix product of two arrays with ndim >= 2 (numpy broadcasting of batch dims).

        float16/bfloat16: multiplied and summed in float32 (BLAS), rounded once to the inputs' dtype, as
        PyTorch's CPU kernels accumulate (NumPy's own float16 product is slow; its bfloat16 one gives float32)."""
        if a.dtype in LOW_PRECISION:
            return self.xp.matmul(a.astype(numpy.float32), b.astype(numpy.float32)).astype(a.dtype)
        return self.xp.matmul(a, b)

    # ---- softmax family ----
    def erf(self, x):
        """The error function ``2/sqrt(pi) int_0^x e^(-t^2) dt``, elementwise, in ``x``'s dtype.

        float32: a rational approximation (``_erf_float32``, 1.6x faster than SciPy, which computes in
        float64). Otherwise SciPy's C implementation for NumPy arrays when SciPy is installed; without it (or
        for another array module) the readable pure-array version ``_erf_series``, 10x slower."""
        if x.dtype != numpy.float32 and self.xp is numpy:
            try:
                from scipy.special import erf
            except ImportError:
                pass
            else:
                return erf(x).astype(x.dtype, copy=False)
        return erf_array(self.xp, x)

    def gelu_forward(self, x, approximate):
        """GELU ``x Phi(x)`` with ``Phi(x) = (1 + erf(x / sqrt 2)) / 2`` (``approximate="none"``), or GPT-2's
        ``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2`` (``approximate="tanh"``), in ``x``'s dtype."""
        xp = self.xp
        if approximate == "tanh":
            return (0.5 * x * (1 + xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))).astype(x.dtype)
        return (0.5 * x * (1 + self.erf(x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)

    def gelu_backward(self, gy, x, approximate):
        """``gy * gelu'(x)``: ``Phi(x) + x phi(x)`` with ``phi(x) = e^(-x^2/2) / sqrt(2 pi)``; tanh form:
        ``(1 + t)/2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2`` with t the forward's tanh."""
        xp = self.xp
        if approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            t = xp.tanh(c * (x + 0.044715 * x * x * x))
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (c * (1 + 3 * 0.044715 * x * x))
        else:
            cdf = 0.5 * (1 + self.erf(x * (1 / math.sqrt(2))))
            d = cdf + x * (xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
        return (gy * d).astype(x.dtype, copy=False)

    def softmax(self, x, axis):
        """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
        a = _widen(x)  # float16 is computed in float32 (module docstring)
        # Subtracting the max changes nothing mathematically and keeps exp() from overflowing.
        e = self.xp.exp(a - a.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e.astype(x.dtype, copy=False)

    def log_softmax(self, x, axis):
        """``x - logsumexp(x)`` along ``axis``."""
        a = _widen(x)
        shifted = a - a.max(axis=axis, keepdims=True)
        shifted -= self.xp.log(self.xp.exp(shifted).sum(axis=axis, keepdims=True))
        return shifted.astype(x.dtype, copy=False)

    def logsumexp(self, x, axis, keepdims):
        """``log(sum(exp(x)))`` along ``axis`` (an int, a tuple or None), computed stably."""
        xp, dtype = self.xp, x.dtype
        x = _widen(x)
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows give -inf, not NaN
        out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        if not keepdims:
            out = out.squeeze(axis=axis) if axis is not None else out.reshape(())
        return out.astype(dtype, copy=False)

    # ---- indexing ----
    def index_add(self, shape, index, values):
        """Zeros of ``shape`` with ``values`` added at ``x[index]``; repeated indices accumulate."""
        out = self.xp.zeros(shape, dtype=values.dtype)
        self.xp.add.at(out, index, values)
        return out

    def take_along_axis_add(self, shape, indices, values, axis):
        """Zeros of ``shape`` with ``values`` scatter-added where ``take_along_axis`` read them."""
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

    # ---- losses ----
    def softmax_cross_entropy(self, x, target, ignore_index):
        """(loss (N,), lse (N,)): ``lse_i = log sum_j exp(x_ij)`` (stable), ``loss_i = lse_i - x[i, t_i]``
        (0 where ``t_i == ignore_index``). The softmax matrix is never stored: backward rebuilds it from lse."""
        xp, dtype = self.xp, x.dtype
        x = _widen(x)
        m = x.max(axis=1)  # log sum exp(x) = m + log sum exp(x - m): exp never overflows
        log_s = xp.log(xp.exp(x - m[:, None]).sum(axis=1))
        valid = target != ignore_index
        picked = xp.take_along_axis(x, xp.where(valid, target, 0)[:, None], axis=1)[:, 0]
        loss = (m - picked) + log_s  # not lse - picked: exact even where lse is 1e4 in float32
        return xp.where(valid, loss, 0).astype(dtype, copy=False), m + log_s

    def softmax_cross_entropy_backward(self, x, target, lse, gloss, ignore_index):
        """dL/dx (N, C) = ``(exp(x_ij - lse_i) - [j == t_i]) * gloss_i`` (0 on rows where ``t_i == ignore_index``)."""
        xp = self.xp
        valid = target != ignore_index
        gx = xp.exp(_widen(x) - lse[:, None])  # softmax(x), rebuilt from the saved log-sum-exp
        gx[xp.arange(x.shape[0]), xp.where(valid, target, 0)] -= 1  # one target per row: no repeated index
        gx *= xp.where(valid, gloss, 0)[:, None]
        return gx.astype(x.dtype, copy=False)

    # ---- embedding ----
    def embedding_backward(self, indices, grad, num_embeddings, padding_idx):
        """dL/dweight (num_embeddings, D): ``grad`` (*indices.shape, D) scatter-added into the rows named by
        ``indices`` (repeated indices accumulate); the row ``padding_idx`` (if not None) stays 0."""
        xp = self.xp
        dim = grad.shape[-1]
        out = xp.zeros((num_embeddings, dim), dtype=grad.dtype)
        xp.add.at(out, indices.reshape(-1), grad.reshape(-1, dim))  # repeated indices accumulate
        if padding_idx is not None:
            out[padding_idx] = 0
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
        """SGD step; returns the momentum buffer (a new array when ``momentum_buffer`` is None, None without
        momentum). ``g = ±grad + wd p; b = mu b + (1 - dampening) g (b = g at first); p -= lr (g + mu b or b)``."""
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
        """Adam (L2 weight decay) or AdamW (``decoupled``) step number ``step`` (from 1); AMSGrad when
        ``max_exp_avg_sq`` is an array. ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``."""
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

    def foreach_adam_update(self, params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step,
                            decoupled, max_exp_avg_sqs=None, maximize=False):
        """``adam_update`` on every tensor of the lists (one step number for all): the multi-tensor form of
        ``foreach=True`` optimizers. The reference is the loop; a faster backend makes it one kernel."""
        for i, (param, grad, exp_avg, exp_avg_sq) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs,
                                                                   strict=True)):
            self.adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
                             None if max_exp_avg_sqs is None else max_exp_avg_sqs[i], maximize)

    def rmsprop_update(self, param, grad, square_avg, lr, alpha, eps, weight_decay, momentum, grad_avg=None,
                       momentum_buffer=None, maximize=False):
        """RMSprop step; centered when ``grad_avg`` is an array, with momentum when ``momentum_buffer`` is one.
        ``s = a s + (1-a) g^2; avg = sqrt(s - gbar^2) + eps; b = mu b + g / avg; p -= lr b``."""
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
        """Adagrad step number ``step`` (from 1): ``s += g^2; p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)``."""
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

    # ---- convolution ----
    # Every conv is one batched matrix product over windows: cols = im2col(x) holds, for every output
    # pixel, the C*kh*kw input values under the kernel; y = weight (O, C*kh*kw) @ cols (N, C*kh*kw, OH*OW).
    def im2col(self, x, kernel_size, stride, padding, dilation):
        """Windows of zero-padded x as a contiguous (N, C, kh, kw, OH, OW) array:
        ``cols[n, c, i, j, p, q] = xpad[n, c, p*sh + i*dh, q*sw + j*dw]``."""
        (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
        N, C, H, W = x.shape
        OH, OW = conv_out_size(H, kh, sh, padding[0], dh), conv_out_size(W, kw, sw, padding[1], dw)
        if padding[0] or padding[1]:
            ph, pw = padding
            x = self.xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        sN, sC, sH, sW = x.strides
        # A strided *view*: window offset (i, j) and output pixel (p, q) are just strides into x.
        windows = self.xp.lib.stride_tricks.as_strided(
            x, shape=(N, C, kh, kw, OH, OW), strides=(sN, sC, sH * dh, sW * dw, sH * sh, sW * sw))
        return self.xp.ascontiguousarray(windows)  # the one copy

    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        """The adjoint of im2col: every window entry of cols (N, C, kh, kw, OH, OW) added back into zeros(x_shape)."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        N, C, H, W = x_shape
        OH, OW = cols.shape[4], cols.shape[5]
        out = self.xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
        for i in range(kh):  # a loop over the kernel window only: each offset is one strided add
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            for j in range(kw):
                out[:, :, rows, j * dw:j * dw + sw * (OW - 1) + 1:sw] += cols[:, :, i, j]
        return out[:, :, ph:ph + H, pw:pw + W] if ph or pw else out

    def conv2d_forward(self, x, weight, bias, stride, padding, dilation, groups):
        """y (N, O, OH, OW) = cross-correlation of x with weight, plus bias (O,) unless it is None."""
        N, G = x.shape[0], groups
        O, Cg, kh, kw = weight.shape
        cols = self.im2col(x, (kh, kw), stride, padding, dilation)
        OH, OW = cols.shape[4], cols.shape[5]
        # (G, O/G, K) @ (N, G, K, L) -> (N, G, O/G, L): already the NCHW layout of y, no transpose needed
        y = self.matmul(weight.reshape(G, O // G, Cg * kh * kw), cols.reshape(N, G, Cg * kh * kw, OH * OW))
        y = y.reshape(N, O, OH, OW)
        if bias is not None:
            y += bias.reshape(1, O, 1, 1)
        return y

    def conv2d_backward_input(self, gy, weight, x_shape, stride, padding, dilation, groups):
        """dL/dx of conv2d given dL/dy (also the forward of conv_transpose2d)."""
        N, O, OH, OW = gy.shape
        G, (_, Cg, kh, kw) = groups, weight.shape
        w_t = weight.reshape(G, O // G, Cg * kh * kw).transpose(0, 2, 1)  # (G, K, O/G)
        gcols = self.matmul(w_t, gy.reshape(N, G, O // G, OH * OW))  # (N, G, K, L)
        return self.col2im(gcols.reshape(N, G * Cg, kh, kw, OH, OW), x_shape, (kh, kw), stride, padding, dilation)

    def conv2d_backward_weight(self, x, gy, weight_shape, stride, padding, dilation, groups):
        """dL/dweight of conv2d given the input x and dL/dy."""
        N, O, OH, OW = gy.shape
        G, (_, Cg, kh, kw) = groups, weight_shape
        cols = self.im2col(x, (kh, kw), stride, padding, dilation).reshape(N, G, Cg * kh * kw, OH * OW)
        # sum over n of gy[n] (O/G, L) @ cols[n]^T (L, K): one batched product, then a small sum
        gw = self.matmul(gy.reshape(N, G, O // G, OH * OW), cols.transpose(0, 1, 3, 2))
        return gw.sum(axis=0, dtype=accumulation_dtype(gw.dtype)).astype(gw.dtype, copy=False).reshape(weight_shape)

    # ---- pooling: a loop over the kernel window only; each offset (i, j) is one strided view of x ----
    # ceil_mode adds windows that hang over the bottom/right edge: x is padded on that side by ``extra`` more
    # fill values (-inf or 0), so the last window fits; dilation spaces a window's rows and columns d apart.
    def _pool_views(self, x, kernel_size, stride, padding, fill, dilation=(1, 1), ceil_mode=False):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH, OW = pool_out_size(x.shape[2], kh, sh, ph, dh, ceil_mode), pool_out_size(x.shape[3], kw, sw, pw, dw,
                                                                                        ceil_mode)
        eh, ew = _overhang(x.shape[2], OH, kh, sh, ph, dh), _overhang(x.shape[3], OW, kw, sw, pw, dw)
        if ph or pw or eh or ew:
            x = self.xp.pad(x, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)), constant_values=fill)
        for i in range(kh):
            for j in range(kw):
                yield i, j, x[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]

    def maxpool2d_forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
        """(y, indices): window maxima and, as int64, the flat index h * W + w of each in its (H, W) plane
        (the first maximum on ties), as PyTorch's ``return_indices``. A window's rows and columns are
        ``dilation`` apart; ``ceil_mode`` adds the windows that hang over the bottom or right edge."""
        xp, W = self.xp, x.shape[3]
        y = at = None  # at: offset i * W + j of the maximum inside its window (int32: a quarter of the traffic)
        for i, j, view in self._pool_views(x, kernel_size, stride, padding, -xp.inf, dilation, ceil_mode):
            if y is None:
                y, at = view.copy(), xp.zeros(view.shape, dtype=xp.int32)
                continue
            better = view > y  # strict: the first maximum wins ties
            xp.maximum(y, view, out=y)
            at *= ~better  # arithmetic instead of where/copyto: several times faster on strided views
            at += better * xp.int32(i * dilation[0] * W + j * dilation[1])
        (sh, sw), (ph, pw) = stride, padding
        corner = (xp.arange(y.shape[2]) * sh - ph)[:, None] * W + (xp.arange(y.shape[3]) * sw - pw)[None, :]
        return y, at + corner  # int64 flat index h * W + w in the (H, W) plane

    def maxpool2d_backward(self, gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1)):
        """dL/dx: zeros(x_shape) with gy added at ``indices`` (overlapping windows accumulate)."""
        N, C, H, W = x_shape
        idx = indices.reshape(N * C, -1)
        (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
        if dh * (kh - 1) < sh and dw * (kw - 1) < sw:  # windows never overlap: no repeated index
            gx = self.xp.zeros((N * C, H * W), dtype=gy.dtype)
            idx = idx + self.xp.arange(0, N * C * H * W, H * W)[:, None]  # flat index into gx
            gx.reshape(-1)[idx.reshape(-1)] = gy.reshape(-1)
            return gx.reshape(x_shape)
        return self.take_along_axis_add((N * C, H * W), idx, gy.reshape(N * C, -1), 1).reshape(x_shape)

    def _pool_divisor(self, x_shape, y_shape, kernel_size, stride, padding, count_include_pad, dtype):
        """Each window's divisor, as PyTorch: its size clipped at the padded edge (count_include_pad: only
        ceil_mode's overhanging windows lose rows), or the number of its elements inside the input."""
        xp = self.xp
        counts = []
        for n, out, k, s, p in zip(x_shape[2:], y_shape[2:], kernel_size, stride, padding):
            start = xp.arange(out) * s - p
            end = xp.minimum(start + k, n + p)
            counts.append(end - start if count_include_pad else xp.minimum(end, n) - xp.maximum(start, 0))
        if all(bool((c == k).all()) for c, k in zip(counts, kernel_size)):
            return kernel_size[0] * kernel_size[1]  # every window whole: one scalar
        return (counts[0][:, None] * counts[1][None, :]).astype(dtype)

    def avgpool2d_forward(self, x, kernel_size, stride, padding, count_include_pad, ceil_mode=False):
        """Window means; the divisor is the window's size clipped at the padded edge (kh * kw except for
        ceil_mode's overhanging windows), or the number of non-padding elements when count_include_pad
        is False."""
        y = None
        for _, _, view in self._pool_views(x, kernel_size, stride, padding, 0, ceil_mode=ceil_mode):
            if y is None:
                y = view.copy()
            else:
                y += view
        y /= self._pool_divisor(x.shape, y.shape, kernel_size, stride, padding, count_include_pad, x.dtype)
        return y

    def avgpool2d_backward(self, gy, x_shape, kernel_size, stride, padding, count_include_pad):
        """dL/dx: each gy / divisor spread back over its window (gy's shape tells whether ceil_mode was on)."""
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        N, C, H, W = x_shape
        OH, OW = gy.shape[2], gy.shape[3]  # more than the floor formula gives when the forward used ceil_mode
        eh, ew = _overhang(H, OH, kh, sh, ph, 1), _overhang(W, OW, kw, sw, pw, 1)
        g = gy / self._pool_divisor(x_shape, gy.shape, kernel_size, stride, padding, count_include_pad, gy.dtype)
        gx = self.xp.zeros((N, C, H + 2 * ph + eh, W + 2 * pw + ew), dtype=gy.dtype)
        for i in range(kh):
            for j in range(kw):
                gx[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw] += g
        return gx[:, :, ph:ph + H, pw:pw + W] if ph or pw or eh or ew else gx

    # ---- normalization: xhat = (x - mean) * rstd, y = xhat * weight + bias ----
    def batch_norm_forward(self, x, weight, bias, eps):
        """Training-mode batch norm of x (N, C, *) per channel: (y, mean (C,), biased var (C,));
        weight and bias (C,) may be None."""
        axes, shape = _channel_axes(x)
        dtype, x = x.dtype, _widen(x)  # float16: statistics and y in float32, y rounded at the end
        mean = x.mean(axis=axes)
        y = x - mean.reshape(shape)
        var = self.xp.square(y).mean(axis=axes)  # two passes: var of (x - mean) keeps its digits
        scale = 1 / self.xp.sqrt(var + eps)
        if weight is not None:
            scale = scale * weight
        y *= scale.reshape(shape)
        if bias is not None:
            y += bias.reshape(shape)
        return y.astype(dtype, copy=False), mean, var

    def batch_norm_backward(self, gy, x, weight, mean, rstd):
        """(dL/dx, dL/dweight, dL/dbias) of training-mode batch norm; rstd = 1 / sqrt(var + eps)."""
        dtype, gy, x = x.dtype, _widen(gy), _widen(x)
        axes, shape = _channel_axes(x)
        m = x.size // x.shape[1]
        xhat = (x - mean.reshape(shape)) * rstd.reshape(shape)
        gb = gy.sum(axis=axes)
        gw = (gy * xhat).sum(axis=axes)
        scale = rstd if weight is None else rstd * weight
        # gx = w * rstd * (gy - mean(gy) - xhat * mean(gy * xhat)), the means over everything but the channel
        xhat *= (gw / m).reshape(shape)
        gx = gy - xhat
        gx -= (gb / m).reshape(shape)
        gx *= scale.reshape(shape)
        return gx.astype(dtype, copy=False), gw.astype(dtype, copy=False), gb.astype(dtype, copy=False)

    def layer_norm_forward(self, x, weight, bias, eps):
        """Normalise each row of x (rows, d): (y, mean (rows,), rstd (rows,)); weight, bias (d,) may be None."""
        dtype, x = x.dtype, _widen(x)  # float16: statistics and y in float32, y rounded at the end
        mean = x.mean(axis=1)
        y = x - mean[:, None]
        rstd = 1 / self.xp.sqrt(self.xp.square(y).mean(axis=1) + eps)
        y *= rstd[:, None]
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return y.astype(dtype, copy=False), mean, rstd

    def layer_norm_backward(self, gy, x, weight, mean, rstd):
        """(dL/dx, dL/dweight, dL/dbias) of layer_norm_forward (the last two are None when weight is None)."""
        dtype, gy, x = x.dtype, _widen(gy), _widen(x)
        xhat = (x - mean[:, None]) * rstd[:, None]
        gw = gb = None
        if weight is not None:
            gw, gb = (gy * xhat).sum(axis=0), gy.sum(axis=0)
            g = gy * weight
        else:
            g = gy
        # gx = rstd * (g - mean(g) - xhat * mean(g * xhat)), the means along the row
        gx = g - g.mean(axis=1, keepdims=True)
        gx -= xhat * (g * xhat).mean(axis=1, keepdims=True)
        gx *= rstd[:, None]
        return tuple(None if a is None else a.astype(dtype, copy=False) for a in (gx, gw, gb))


    # ---- recurrent cells (PyTorch gate order: LSTM i, f, g, o; GRU r, z, n); sigmoid(x) = (tanh(x/2) + 1) / 2 ----
    def lstm_cell_forward(self, z, c_prev):
        """One LSTM step from the gate pre-activations z (B, 4H) = [i, f, g, o] and c_prev (B, H):
        (h, c, acts) with c = sigmoid(f) c_prev + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c), and
        acts (B, 4H) the activated gates [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)] saved for backward."""
        xp, H = self.xp, c_prev.shape[-1]
        acts = xp.tanh(z * 0.5)
        acts *= 0.5
        acts += 0.5  # sigmoid of every gate ...
        acts[:, 2 * H:3 * H] = xp.tanh(z[:, 2 * H:3 * H])  # ... but g, which is a tanh
        i, f, g, o = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
        c = f * c_prev + i * g
        h = o * xp.tanh(c)
        return h, c, acts

    def lstm_cell_backward(self, gh, gc, acts, c_prev, c):
        """(dL/dz (B, 4H), dL/dc_prev (B, H)) of lstm_cell_forward given dL/dh and dL/dc."""
        H = c.shape[-1]
        i, f, g, o = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
        tc = self.xp.tanh(c)
        gc_total = gc + gh * o * (1 - tc * tc)  # c reaches the loss directly and through h = o tanh(c)
        gz = self.xp.empty_like(acts)
        gz[:, :H] = gc_total * g * i * (1 - i)
        gz[:, H:2 * H] = gc_total * c_prev * f * (1 - f)
        gz[:, 2 * H:3 * H] = gc_total * i * (1 - g * g)
        gz[:, 3 * H:] = gh * tc * o * (1 - o)
        return gz, gc_total * f

    def gru_cell_forward(self, a, b, h_prev):
        """One GRU step from a = x W_ih^T + b_ih and b = h_prev W_hh^T + b_hh, both (B, 3H) = [r, z, n]:
        (h, acts) with r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r b_n),
        h = (1 - z) n + z h_prev, and acts (B, 4H) = [r, z, n, b_n] saved for backward."""
        xp, H = self.xp, h_prev.shape[-1]
        rz = xp.tanh((a[:, :2 * H] + b[:, :2 * H]) * 0.5)
        rz *= 0.5
        rz += 0.5
        r, z, b_n = rz[:, :H], rz[:, H:], b[:, 2 * H:]
        n = xp.tanh(a[:, 2 * H:] + r * b_n)
        h = n + z * (h_prev - n)  # (1 - z) n + z h_prev
        return h, xp.concatenate([rz, n, b_n], axis=1)

    def gru_cell_backward(self, gh, acts, h_prev):
        """(dL/da, dL/db, dL/dh_prev through the z h_prev term only) of gru_cell_forward given dL/dh."""
        H = h_prev.shape[-1]
        r, z, n, b_n = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
        gn = gh * (1 - z) * (1 - n * n)
        gz = gh * (h_prev - n) * z * (1 - z)
        gr = gn * b_n * r * (1 - r)
        cat = self.xp.concatenate
        return cat([gr, gz, gn], axis=1), cat([gr, gz, gn * r], axis=1), gh * z

    # ---- attention: the whole (..., L, S) score matrix is formed, so the state costs O(B*H*L*S) memory ----
    def attention_forward(self, q, k, v, mask, scale, is_causal, keep):
        """(out (..., L, Ev), state): out = dropout(softmax(scale q k^T + mask)) v. ``mask`` is None or an
        additive float array broadcasting to (..., L, S) (-inf where a key is not allowed); ``is_causal``
        lets query i see keys j <= i only; ``keep`` is None or the dropout multiplier (..., L, S) (0 or
        1/(1-p)). Rows with no allowed key give 0. ``state`` is whatever this backend's attention_backward
        needs (the reference keeps the probabilities (..., L, S)). float16/bfloat16: computed in float32
        (probabilities kept in float32), the output rounded once."""
        if q.dtype in LOW_PRECISION:
            out, p = self.attention_forward(*(a.astype(numpy.float32) for a in (q, k, v)), mask, scale, is_causal, keep)
            return out.astype(q.dtype), p
        xp = self.xp
        s = xp.matmul(q, xp.swapaxes(k, -1, -2))  # scores (..., L, S); updated in place from here on
        s *= scale
        if mask is not None:
            s += mask  # the op checked that mask broadcasts to the scores' shape
        if is_causal:  # query i sees keys j <= i: add -inf above the diagonal
            L, S = s.shape[-2], s.shape[-1]
            s += xp.triu(xp.full((L, S), -xp.inf, dtype=s.dtype), 1)
        m = s.max(axis=-1, keepdims=True)
        m[~xp.isfinite(m)] = 0  # a row with no allowed key: exp(-inf - 0) = 0 everywhere
        s -= m  # stable softmax: exp of values <= 0 never overflows
        p = xp.exp(s, out=s)
        total = p.sum(axis=-1, keepdims=True)
        total[total == 0] = 1
        p /= total
        out = xp.matmul(p if keep is None else p * keep, v)
        return out, p

    def attention_backward(self, gout, q, k, v, out, state, mask, scale, is_causal, keep):
        """(dL/dq, dL/dk, dL/dv) of attention_forward given dL/dout and the forward's out and state."""
        if q.dtype in LOW_PRECISION:  # as forward: in float32, rounded once
            f32 = (a.astype(numpy.float32) for a in (gout, q, k, v, out))
            return tuple(g.astype(q.dtype) for g in self.attention_backward(*f32, state, mask, scale, is_causal, keep))
        xp, p = self.xp, state
        gv = xp.matmul(xp.swapaxes(p if keep is None else p * keep, -1, -2), gout)
        gs = xp.matmul(gout, xp.swapaxes(v, -1, -2))  # dL/dp, turned into dL/ds in place below
        if keep is not None:
            gs *= keep
        gs -= (gs * p).sum(axis=-1, keepdims=True)  # softmax backward: p * (dL/dp - sum(dL/dp * p))
        gs *= p
        gs *= scale
        return xp.matmul(gs, k), xp.matmul(xp.swapaxes(gs, -1, -2), q), gv

    # ------------------------------------------------------------------------------------ int8 quantized
    def int8_matmul(self, a, a_zero_point, b):
        """The integer product of a quantized layer: ``acc[m, n] = sum_k (a[m, k] - a_zero_point) * b[n, k]``
        for a (M, K) uint8 or int8 activations and b (N, K) int8 weights (symmetric: zero point 0), each
        product and the sum in int32 (|a - z| <= 255, |b| <= 128: K up to 65,000 cannot overflow). It is
        computed as ``a @ b^T - a_zero_point * (row sums of b)``, which is what int8 hardware does."""
        xp = self.xp
        b32 = b.astype(xp.int32)
        acc = xp.matmul(a.astype(xp.int32), b32.T)
        if a_zero_point:
            acc -= xp.int32(a_zero_point) * b32.sum(axis=1)
        return acc

    def requantize(self, acc, multiplier, bias, out_scale, out_zero_point, qmin, qmax):
        """int32 accumulators (M, N) -> uint8 outputs: ``y = acc * multiplier + bias`` (multiplier (N,) =
        input scale x weight scale per output channel, float32; bias (N,) float32 or None) is the real
        output, then ``q = clamp(round(y / out_scale) + out_zero_point, qmin, qmax)`` (a fused ReLU is
        qmin = out_zero_point)."""
        xp = self.xp
        y = acc.astype(xp.float32) * multiplier
        if bias is not None:
            y += bias
        q = xp.rint(y * (xp.float32(1.0) / xp.float32(out_scale))) + out_zero_point
        return xp.clip(q, qmin, qmax).astype(xp.uint8)

def _overhang(n: int, out: int, k: int, s: int, p: int, d: int) -> int:
    """How far the last of ``out`` windows reaches past the padded input (only ever > 0 in ceil_mode)."""
    return max(0, (out - 1) * s + d * (k - 1) + 1 - (n + 2 * p))


def _widen(x: Any) -> Any:
    """``x`` in the dtype its sums are taken in: a float32 copy of float16, anything else as it is."""
    return x.astype(accumulation_dtype(x.dtype), copy=False)


def _channel_axes(x: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Batch norm reduces over every axis but the channel axis 1; (axes, shape to broadcast (C,) against x)."""
    return (0, *range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_array(xp: Any, x: Any) -> Any:
    """erf of an array of the array module ``xp`` with array formulas only: ``_erf_float32`` for float32,
    ``_erf_series`` (about 1e-15) for the rest; the result has ``x``'s dtype."""
    if x.dtype == xp.float32:
        return _erf_float32(xp, x)
    return _erf_series(xp, x).astype(x.dtype, copy=False)


def _erf_series(xp: Any, x: Any) -> Any:
    """erf of an array, vectorised, to about 1e-15 (float64):

    * |x| < 2: the series  erf(x) = 2/sqrt(pi) x e^(-x^2) sum_n (2x^2)^n / (1*3*...*(2n+1)),
      whose terms are all positive (no cancellation), evaluated in nested (Horner) form;
    * |x| >= 2: the continued fraction  erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    """
    z = xp.abs(x)
    out = xp.empty_like(z)
    small = z < 2
    zs = z[small]
    two_z2 = 2 * zs * zs
    s = xp.ones_like(zs)
    for k in range(32, 0, -1):  # 32 terms reach double precision for |x| < 2
        s = 1 + s * two_z2 / (2 * k + 1)
    out[small] = _TWO_OVER_SQRT_PI * zs * xp.exp(-zs * zs) * s
    zl = z[~small]
    f = zl.copy()
    for k in range(40, 0, -1):  # 40 levels of the fraction reach double precision for |x| >= 2
        f = zl + (k / 2) / f
    out[~small] = 1 - xp.exp(-zl * zl) / (math.sqrt(math.pi) * f)
    return xp.sign(x) * out


# erf(x) ~= x P(x^2) / Q(x^2) on [-4, 4]: the minimax rational approximation of Eigen's
# ``generic_fast_erf_float`` (XLA uses the same). Highest power first, for Horner's rule.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)


def _erf_float32(xp: Any, x: Any) -> Any:
    """erf of a float32 array: x P(x^2) / Q(x^2) with x clamped to [-4, 4] (beyond, erf is +-1 in
    float32). Twelve multiply-adds and a division, all in float32, in place: on (16, 64, 512), 6.4 ms
    against SciPy's 10.2 ms (interleaved) and 63 ms for the float64 series; within 4.5e-7 of the
    exact erf (measured against ``math.erf`` on 2M points)."""
    x = xp.clip(x, -4.0, 4.0)
    x2 = x * x
    p = xp.full_like(x, _ERF32_P[0])
    for c in _ERF32_P[1:]:
        p *= x2
        p += xp.float32(c)
    q = xp.full_like(x, _ERF32_Q[0])
    for c in _ERF32_Q[1:]:
        q *= x2
        q += xp.float32(c)
    p *= x
    p /= q
    return p
