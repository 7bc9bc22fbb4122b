"""The Numba-CUDA backend: ``@cuda.jit`` kernels written in Python, on CuPy arrays.

The kernels (``minidl/backends/cuda_kernels/``) are the Python twins of the CUDA C sources in
``kernels/*.cu``: same algorithm, same thread layout. Arrays are CuPy arrays (``xp = cupy``); Numba
launches its kernels on them through ``__cuda_array_interface__``, without copies. Every kernel this
backend does not override comes from the NumPy reference, run by CuPy on the GPU.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported) the same
kernels run on the CPU, one Python thread per GPU thread, on plain NumPy arrays: the backend then
uses ``xp = numpy``. That is how the kernels are tested without a GPU (slowly: keep shapes tiny).

Nothing here touches the GPU at import time; the device is looked for when the backend is built.
"""

from __future__ import annotations

from typing import Any

import numpy
from numba import cuda  # at import, so that a missing numba names the `cuda` extra

from minidl.backends.cuda_kernels import attention, conv, embedding, losses, norm, optim, pool, rnn
from minidl.backends.cuda_kernels import softmax as softmax_kernels
from minidl.backends.cuda_kernels._common import SIMULATED
from minidl.backends.cuda_kernels.flash_state import FlashState
from minidl.backends.fast_path import fast_path
from minidl.backends.numpy_backend import NumpyBackend
from minidl.backends.shapes import (
    conv_out_size,
    fits,
    flash_apply,
    flash_shapes,
    in_place_apply,
    pool_out_size,
    rows,
    rows_apply,
)
from minidl.errors import BackendUnavailableError


class NumbaCudaBackend(NumpyBackend):
    name = "numba-cuda"
    is_gpu = not SIMULATED

    def __init__(self) -> None:
        if SIMULATED:
            self.xp = numpy  # the simulator runs kernels on host arrays
            return
        if not cuda.is_available():
            raise BackendUnavailableError(
                "backend 'numba-cuda': Numba is installed but no CUDA device is available "
                "(numba.cuda.is_available() is False); check the NVIDIA driver, or use 'numpy' or 'numba'"
            )
        try:
            import cupy
        except ModuleNotFoundError as e:
            raise BackendUnavailableError(
                "backend 'numba-cuda' keeps its arrays in CuPy: pip install 'minidl[cuda,cupy]'"
            ) from e
        self.xp = cupy

    # ---- array helpers ----
    def to_numpy(self, array: Any) -> numpy.ndarray:
        return numpy.asarray(array) if self.xp is numpy else self.xp.asnumpy(array)

    def synchronize(self) -> None:
        if not SIMULATED:
            cuda.synchronize()

    def _c(self, a: Any, dtype: Any = None) -> Any:
        """A C-contiguous array (a copy only where needed)."""
        return self.xp.ascontiguousarray(a, dtype=dtype)

    # ---- softmax family ----
    def _softmax(self, x: Any, axis: int, log: bool) -> Any:
        x2 = rows(self.xp, x, axis)
        out = self.xp.empty_like(x2)
        softmax_kernels.softmax_rows(x2, out, log)
        return out.reshape(x.shape)

    @fast_path(rows_apply)
    def softmax(self, x, axis):
        return self._softmax(x, axis, log=False)

    @fast_path(rows_apply)
    def log_softmax(self, x, axis):
        return self._softmax(x, axis, log=True)

    # ---- losses ----
    @fast_path(lambda x, target, ignore_index: fits(x, 2))
    def softmax_cross_entropy(self, x, target, ignore_index):
        x, target = self._c(x), self._c(target, self.xp.int64)
        loss, lse = self.xp.empty(x.shape[0], x.dtype), self.xp.empty(x.shape[0], x.dtype)
        losses.xent_forward(x, target, loss, lse, ignore_index)
        return loss, lse

    @fast_path(lambda x, target, lse, gloss, ignore_index: fits(x, 2))
    def softmax_cross_entropy_backward(self, x, target, lse, gloss, ignore_index):
        x, target = self._c(x), self._c(target, self.xp.int64)
        gx = self.xp.empty_like(x)
        losses.xent_backward(x, target, self._c(lse, x.dtype), self._c(gloss, x.dtype), gx, ignore_index)
        return gx

    # ---- embedding ----
    @fast_path(lambda indices, grad, num_embeddings, padding_idx: fits(grad))
    def embedding_backward(self, indices, grad, num_embeddings, padding_idx):
        d = grad.shape[-1]
        gw = self.xp.zeros((num_embeddings, d), dtype=grad.dtype)
        pad = -1 if padding_idx is None else padding_idx % num_embeddings
        embedding.embedding_backward(self._c(indices, self.xp.int64).reshape(-1), self._c(grad).reshape(-1, d), gw,
                                     pad)
        return gw

    # ---- optimizers ----
    @fast_path(lambda param, grad, momentum_buffer, *hyper: in_place_apply(param, grad, momentum_buffer))
    def sgd_update(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize):
        first = momentum != 0 and momentum_buffer is None
        buf = self.xp.empty_like(param) if first else momentum_buffer
        optim.sgd_update(param.reshape(-1), grad.reshape(-1), None if buf is None else buf.reshape(-1), lr, momentum,
                       dampening, weight_decay, first, nesterov, maximize)
        return buf if momentum != 0 else None

    @fast_path(lambda param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
               max_exp_avg_sq=None, maximize=False: in_place_apply(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq))
    def adam_update(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
                    max_exp_avg_sq=None, maximize=False):
        arrays = [param, grad, exp_avg, exp_avg_sq] + ([] if max_exp_avg_sq is None else [max_exp_avg_sq])
        flat = [a.reshape(-1) for a in arrays]  # views: the kernel writes through them
        optim.adam_update(*flat[:4], lr, beta1, beta2, eps, weight_decay, step, decoupled,
                         flat[4] if max_exp_avg_sq is not None else None, maximize)

    # ---- convolution ----
    @fast_path(lambda x, kernel_size, stride, padding, dilation: fits(x, 4))
    def im2col(self, x, kernel_size, stride, padding, dilation):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH, OW = conv_out_size(H, kh, sh, ph, dh), conv_out_size(W, kw, sw, pw, dw)
        cols = self.xp.empty((N, C, kh, kw, OH, OW), dtype=x.dtype)
        conv.im2col(self._c(x), cols, stride, padding, dilation)
        return cols

    @fast_path(lambda cols, x_shape, kernel_size, stride, padding, dilation: fits(cols, 6))
    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        x = self.xp.empty(x_shape, dtype=cols.dtype)
        conv.col2im(self._c(cols), x, stride, padding, dilation)
        return x

    # ---- pooling ----
    # the kernel has no dilation: the reference does it
    @fast_path(lambda x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False: (
        fits(x, 4) and tuple(dilation) == (1, 1)))
    def maxpool2d_forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        # ceil_mode: only more outputs; the kernel clips every window at the plane's edges
        shape = (N, C, pool_out_size(H, kh, sh, ph, 1, ceil_mode), pool_out_size(W, kw, sw, pw, 1, ceil_mode))
        y, indices = self.xp.empty(shape, dtype=x.dtype), self.xp.empty(shape, dtype=self.xp.int64)
        pool.maxpool2d_forward(self._c(x), y, indices, kernel_size, stride, padding)
        return y, indices

    # a scatter at the indices: the same for any dilation
    @fast_path(lambda gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1): fits(gy, 4))
    def maxpool2d_backward(self, gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1)):
        gx = self.xp.zeros(x_shape, dtype=gy.dtype)
        pool.maxpool2d_backward(self._c(gy), self._c(indices, self.xp.int64), gx)
        return gx

    # ---- layer norm ----
    @fast_path(lambda x, weight, bias, eps: fits(x, 2))
    def layer_norm_forward(self, x, weight, bias, eps):
        x = self._c(x)
        y = self.xp.empty_like(x)
        mean, rstd = self.xp.empty(x.shape[0], x.dtype), self.xp.empty(x.shape[0], x.dtype)
        w = None if weight is None else self._c(weight, x.dtype)
        b = None if bias is None else self._c(bias, x.dtype)
        norm.layer_norm_forward(x, w, b, y, mean, rstd, eps)
        return y, mean, rstd

    @fast_path(lambda gy, x, weight, mean, rstd: fits(x, 2))
    def layer_norm_backward(self, gy, x, weight, mean, rstd):
        x = self._c(x)
        gy, mean, rstd = (self._c(a, x.dtype) for a in (gy, mean, rstd))
        gx = self.xp.empty_like(x)
        if weight is None:
            norm.layer_norm_backward(gy, x, None, mean, rstd, gx, None, None)
            return gx, None, None
        gw, gb = self.xp.empty(x.shape[1], x.dtype), self.xp.empty(x.shape[1], x.dtype)
        norm.layer_norm_backward(gy, x, self._c(weight, x.dtype), mean, rstd, gx, gw, gb)
        return gx, gw, gb

    # ---- recurrent cells ----
    @fast_path(lambda z, c_prev: fits(z, 2))
    def lstm_cell_forward(self, z, c_prev):
        z, c_prev = self._c(z), self._c(c_prev, z.dtype)
        h, c, acts = self.xp.empty_like(c_prev), self.xp.empty_like(c_prev), self.xp.empty_like(z)
        rnn.lstm_cell_forward(z, c_prev, h, c, acts)
        return h, c, acts

    @fast_path(lambda gh, gc, acts, c_prev, c: fits(acts, 2))
    def lstm_cell_backward(self, gh, gc, acts, c_prev, c):
        acts = self._c(acts)
        gh, gc, c_prev, c = (self._c(a, acts.dtype) for a in (gh, gc, c_prev, c))
        gz, gc_prev = self.xp.empty_like(acts), self.xp.empty_like(c)
        rnn.lstm_cell_backward(gh, gc, acts, c_prev, c, gz, gc_prev)
        return gz, gc_prev

    @fast_path(lambda a, b, h_prev: fits(a, 2))
    def gru_cell_forward(self, a, b, h_prev):
        a = self._c(a)
        b, h_prev = self._c(b, a.dtype), self._c(h_prev, a.dtype)
        h, acts = self.xp.empty_like(h_prev), self.xp.empty((h_prev.shape[0], 4 * h_prev.shape[1]), a.dtype)
        rnn.gru_cell_forward(a, b, h_prev, h, acts)
        return h, acts

    @fast_path(lambda gh, acts, h_prev: fits(acts, 2))
    def gru_cell_backward(self, gh, acts, h_prev):
        acts = self._c(acts)
        gh, h_prev = self._c(gh, acts.dtype), self._c(h_prev, acts.dtype)
        ga = self.xp.empty((h_prev.shape[0], 3 * h_prev.shape[1]), acts.dtype)
        gb = self.xp.empty_like(ga)
        gh_prev = self.xp.empty_like(h_prev)
        rnn.gru_cell_backward(gh, acts, h_prev, ga, gb, gh_prev)
        return ga, gb, gh_prev

    # ---- attention: online softmax; the forward keeps lse (BH, L), not the (L, S) probabilities ----
    @fast_path(lambda q, k, v, mask, scale, is_causal, keep: flash_apply(q, k, v, mask, keep, attention.MAX_D))
    def attention_forward(self, q, k, v, mask, scale, is_causal, keep):
        BH, L, S, E = flash_shapes(q, k, v, mask, keep, attention.MAX_D)
        q3, k3, v3 = (self._c(a, q.dtype).reshape(BH, -1, E) for a in (q, k, v))
        out, lse = self.xp.empty_like(q3), self.xp.empty((BH, L), dtype=q.dtype)
        attention.attention_forward(q3, k3, v3, out, lse, scale, bool(is_causal))
        return out.reshape(q.shape), FlashState(lse)

    # the forward kept lse only when its flash kernel ran; else the reference's probabilities
    @fast_path(lambda gout, q, k, v, out, state, mask, scale, is_causal, keep: isinstance(state, FlashState))
    def attention_backward(self, gout, q, k, v, out, state, mask, scale, is_causal, keep):
        BH, L, S, E = flash_shapes(q, k, v, mask, keep, attention.MAX_D)
        q3, k3, v3, o3, g3 = (self._c(a, q.dtype).reshape(BH, -1, E) for a in (q, k, v, out, gout))
        gq, gk, gv = self.xp.empty_like(q3), self.xp.empty_like(k3), self.xp.empty_like(v3)
        delta = self.xp.empty((BH, L), dtype=q.dtype)
        attention.attention_backward(q3, k3, v3, o3, state.lse, g3, gq, gk, gv, delta, scale, bool(is_causal))
        return gq.reshape(q.shape), gk.reshape(k.shape), gv.reshape(v.shape)

