"""The CuPy backend: CuPy arrays on an NVIDIA GPU, with hand-written CUDA C kernels for the hot loops.

Every kernel of the NumPy reference is written with ``self.xp``, so with ``xp = cupy`` this backend
inherits a working GPU version of each one (CuPy runs the same array expressions on the device;
``matmul`` goes to cuBLAS). It overrides the kernels where a fused CUDA C kernel does better: one
pass over memory instead of one per NumPy operation, and no temporaries.

The CUDA C sources live in ``kernels/*.cu`` (``minidl/_kernels`` in a wheel). They are compiled at
run time by NVRTC through ``cupy.RawModule`` the first time a kernel is used, then cached (CuPy also
keeps compiled kernels on disk). Each source exports ``<kernel>_f32`` and ``<kernel>_f64``.

Nothing here touches the GPU at import time: ``import cupy`` only loads the package (a missing
package then reads ``pip install 'minidl[cupy]'``), and the device is looked for when the backend is
constructed (``cupy.is_available()`` never allocates).
"""

from __future__ import annotations

from typing import Any

import cupy  # at import, so that a missing package names the `cupy` extra (see backends/__init__.py)
import numpy

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
from minidl.kernel_files import kernel_dir, kernel_source

#: threads per block for the row kernels (one block per row): a multiple of 32, at most 1024
ROW_THREADS = 256
#: threads per block for the one-thread-per-element kernels (grid-stride loops)
ELEMENT_THREADS = 256
#: cap on blocks for grid-stride kernels (each thread then loops over several elements)
MAX_BLOCKS = 65535
#: query (or key) rows per block in the attention kernels; head sizes up to ATTN_MAX_D (MAX_D in attention.cu)
ATTN_THREADS = 64
ATTN_MAX_D = 128
ATTN_MAX_TILE = 32  # MAX_BK in attention.cu
ATTN_SHARED_BYTES = 48 * 1024  # static limit of shared memory per block without opting in


def row_threads(n_cols: int) -> int:
    """Threads for a one-block-per-row kernel: enough 32-thread warps to cover the row, at most ROW_THREADS."""
    return min(ROW_THREADS, 32 * max(1, -(-n_cols // 32)))


def _suffix(dtype: Any) -> str | None:
    """``"f32"``/``"f64"`` for the dtypes the CUDA C kernels are compiled for, else None (use the reference)."""
    return {numpy.dtype(numpy.float32): "f32", numpy.dtype(numpy.float64): "f64"}.get(numpy.dtype(dtype))


class CupyBackend(NumpyBackend):
    name = "cupy"
    xp = cupy
    is_gpu = True

    def __init__(self) -> None:
        if not cupy.is_available():
            raise BackendUnavailableError(
                "backend 'cupy': CuPy is installed but no CUDA device is available (cupy.is_available() is False); "
                "check the NVIDIA driver and CUDA_VISIBLE_DEVICES, or use the 'numpy' or 'numba' backend"
            )
        self._modules: dict[str, Any] = {}
        self._functions: dict[str, Any] = {}

    # ---- array helpers ----
    def to_numpy(self, array: Any) -> numpy.ndarray:
        return cupy.asnumpy(array)

    def synchronize(self) -> None:
        cupy.cuda.get_current_stream().synchronize()

    # ---- compiling and launching the CUDA C kernels ----
    def kernel(self, source: str, name: str) -> Any:
        """The ``cupy.RawKernel`` ``name`` from ``kernels/<source>``, compiled on first use and cached."""
        function = self._functions.get(f"{source}:{name}")
        if function is None:
            module = self._modules.get(source)
            if module is None:
                options = ("-std=c++17", f"--include-path={kernel_dir()}")
                module = self._modules[source] = cupy.RawModule(code=kernel_source(source), options=options)
            function = self._functions[f"{source}:{name}"] = module.get_function(name)
        return function

    def launch(self, source: str, name: str, dtype: Any, grid: Any, block: Any, args: tuple,
               shared_mem: int = 0) -> None:
        """Launch ``<name>_f32`` or ``<name>_f64`` (by ``dtype``) from ``kernels/<source>``."""
        self.kernel(source, f"{name}_{_suffix(dtype)}")(grid, block, args, shared_mem=shared_mem)

    def launch_elementwise(self, source: str, name: str, dtype: Any, n: int, args: tuple) -> None:
        """Launch a grid-stride kernel with about one thread per element (the loop covers the rest)."""
        blocks = max(1, min(-(-n // ELEMENT_THREADS), MAX_BLOCKS))
        self.launch(source, name, dtype, (blocks,), (ELEMENT_THREADS,), args)

    # ---- special functions ----
    def erf(self, x):
        try:
            from cupyx.scipy.special import erf  # CuPy's elementwise CUDA kernel
        except ImportError:  # a CuPy build without cupyx.scipy: the reference's array formulas
            return super().erf(x)
        return erf(x).astype(x.dtype, copy=False)

    # ---- softmax family: one block per row, max/sum reductions in registers and shared memory ----
    def _softmax_rows(self, x: Any, axis: int, which: str) -> Any:
        x2 = rows(cupy, x, axis)
        out = cupy.empty_like(x2)
        n, d = x2.shape
        self.launch("softmax.cu", which, x.dtype, (n,), (row_threads(d),), (x2, out, numpy.int32(d)))
        return out.reshape(x.shape)

    @fast_path(rows_apply)
    def softmax(self, x, axis):
        return self._softmax_rows(x, axis, "softmax")

    @fast_path(rows_apply)
    def log_softmax(self, x, axis):
        return self._softmax_rows(x, axis, "log_softmax")

    # ---- losses: softmax and cross-entropy fused; only lse (one number per row) is kept ----
    @fast_path(lambda x, target, ignore_index: fits(x, ndim=2))
    def softmax_cross_entropy(self, x, target, ignore_index):
        x, target = cupy.ascontiguousarray(x), cupy.ascontiguousarray(target, dtype=cupy.int64)
        n, c = x.shape
        loss, lse = cupy.empty(n, x.dtype), cupy.empty(n, x.dtype)
        self.launch("losses.cu", "xent_forward", x.dtype, (n,), (row_threads(c),),
                    (x, target, loss, lse, numpy.int32(c), numpy.int64(ignore_index)))
        return loss, lse

    @fast_path(lambda x, target, lse, gloss, ignore_index: fits(x, ndim=2))
    def softmax_cross_entropy_backward(self, x, target, lse, gloss, ignore_index):
        x, target = cupy.ascontiguousarray(x), cupy.ascontiguousarray(target, dtype=cupy.int64)
        lse, gloss = (cupy.ascontiguousarray(a, dtype=x.dtype) for a in (lse, gloss))
        gx = cupy.empty_like(x)
        n, c = x.shape
        self.launch_elementwise("losses.cu", "xent_backward", x.dtype, x.size,
                                (x, target, lse, gloss, gx, numpy.int64(n), numpy.int32(c), numpy.int64(ignore_index)))
        return gx

    # ---- embedding: scatter-add with atomics ----
    @fast_path(lambda indices, grad, num_embeddings, padding_idx: fits(grad))
    def embedding_backward(self, indices, grad, num_embeddings, padding_idx):
        d = grad.shape[-1]
        flat = cupy.ascontiguousarray(indices, dtype=cupy.int64).reshape(-1)
        grad = cupy.ascontiguousarray(grad).reshape(-1, d)
        gw = cupy.zeros((num_embeddings, d), dtype=grad.dtype)
        pad = -1 if padding_idx is None else padding_idx % num_embeddings
        self.launch_elementwise("embedding.cu", "embedding_backward", grad.dtype, grad.size,
                                (flat, grad, gw, numpy.int64(flat.size), numpy.int32(d), numpy.int64(num_embeddings),
                                 numpy.int64(pad)))
        return gw

    # ---- optimizers: a whole step in one pass over memory ----
    @fast_path(lambda param, grad, momentum_buffer, *hyper: in_place_apply(param, grad, momentum_buffer))
    def sgd_update(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize):
        first = momentum != 0 and momentum_buffer is None
        buf = cupy.empty_like(param) if first else momentum_buffer
        t = param.dtype.type
        self.launch_elementwise("optim.cu", "sgd_update", param.dtype, param.size, (
            param, grad, param if buf is None else buf, numpy.int64(param.size), t(lr), t(momentum), t(dampening),
            t(weight_decay), numpy.int32(momentum != 0), numpy.int32(first), numpy.int32(bool(nesterov)),
            numpy.int32(bool(maximize))))
        return buf if momentum != 0 else None

    @fast_path(lambda param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
               max_exp_avg_sq=None, maximize=False: in_place_apply(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq))
    def adam_update(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
                    max_exp_avg_sq=None, maximize=False):
        t = param.dtype.type
        amsgrad = max_exp_avg_sq is not None
        self.launch_elementwise("optim.cu", "adam_update", param.dtype, param.size, (
            param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq, numpy.int64(param.size),
            t(lr), t(beta1), t(beta2), t(eps), t(weight_decay), t(1 - beta1**step), t(1 - beta2**step),
            numpy.int32(bool(decoupled)), numpy.int32(amsgrad), numpy.int32(bool(maximize))))

    # ---- convolution: im2col/col2im as gathers (conv2d_* inherit the reference: im2col + cuBLAS matmul) ----
    @fast_path(lambda x, kernel_size, stride, padding, dilation: fits(x, ndim=4))
    def im2col(self, x, kernel_size, stride, padding, dilation):
        x = cupy.ascontiguousarray(x)
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH, OW = conv_out_size(H, kh, sh, ph, dh), conv_out_size(W, kw, sw, pw, dw)
        cols = cupy.empty((N, C, kh, kw, OH, OW), dtype=x.dtype)
        geometry = tuple(numpy.int32(v) for v in (N, C, H, W, kh, kw, OH, OW, sh, sw, ph, pw, dh, dw))
        self.launch_elementwise("conv.cu", "im2col", x.dtype, cols.size, (x, cols, *geometry))
        return cols

    @fast_path(lambda cols, x_shape, kernel_size, stride, padding, dilation: fits(cols, ndim=6))
    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        cols = cupy.ascontiguousarray(cols)
        N, C, H, W = x_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        x = cupy.empty((N, C, H, W), dtype=cols.dtype)
        geometry = tuple(numpy.int32(v) for v in (N, C, H, W, kh, kw, cols.shape[4], cols.shape[5], sh, sw, ph, pw,
                                                  dh, dw))
        self.launch_elementwise("conv.cu", "col2im", cols.dtype, x.size, (cols, x, *geometry))
        return x

    # ---- pooling ----
    # pool.cu has no dilation: the reference does it
    @fast_path(lambda x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False: (
        fits(x, ndim=4) and tuple(dilation) == (1, 1)))
    def maxpool2d_forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
        x = cupy.ascontiguousarray(x)
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        # ceil_mode: only more outputs; the kernel clips every window at the plane's edges
        OH, OW = pool_out_size(H, kh, sh, ph, 1, ceil_mode), pool_out_size(W, kw, sw, pw, 1, ceil_mode)
        y = cupy.empty((N, C, OH, OW), dtype=x.dtype)
        indices = cupy.empty((N, C, OH, OW), dtype=cupy.int64)
        geometry = tuple(numpy.int32(v) for v in (N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw))
        self.launch_elementwise("pool.cu", "maxpool2d_forward", x.dtype, y.size, (x, y, indices, *geometry))
        return y, indices

    # a scatter at the indices: the same for any dilation
    @fast_path(lambda gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1): fits(gy, ndim=4))
    def maxpool2d_backward(self, gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1)):
        gy, indices = cupy.ascontiguousarray(gy), cupy.ascontiguousarray(indices, dtype=cupy.int64)
        N, C, H, W = x_shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        gx = cupy.zeros(x_shape, dtype=gy.dtype)
        geometry = tuple(numpy.int32(v) for v in (N, C, H, W, gy.shape[2], gy.shape[3], kh, kw, sh, sw, ph, pw))
        self.launch_elementwise("pool.cu", "maxpool2d_backward", gy.dtype, gy.size, (gy, indices, gx, *geometry))
        return gx

    # ---- layer norm: one block per row for the statistics and dx, one thread per column for dw, db ----
    @fast_path(lambda x, weight, bias, eps: fits(x, ndim=2))
    def layer_norm_forward(self, x, weight, bias, eps):
        x = cupy.ascontiguousarray(x)
        n, d = x.shape
        y = cupy.empty_like(x)
        mean, rstd = cupy.empty(n, x.dtype), cupy.empty(n, x.dtype)
        w = x if weight is None else cupy.ascontiguousarray(weight, dtype=x.dtype)  # x: a stand-in, never read
        b = x if bias is None else cupy.ascontiguousarray(bias, dtype=x.dtype)
        self.launch("norm.cu", "layer_norm_forward", x.dtype, (n,), (row_threads(d),),
                    (x, w, b, numpy.int32(weight is not None), numpy.int32(bias is not None), y, mean, rstd,
                     numpy.int32(d), x.dtype.type(eps)))
        return y, mean, rstd

    @fast_path(lambda gy, x, weight, mean, rstd: fits(x, ndim=2))
    def layer_norm_backward(self, gy, x, weight, mean, rstd):
        gy, x = cupy.ascontiguousarray(gy, dtype=x.dtype), cupy.ascontiguousarray(x)
        mean, rstd = cupy.ascontiguousarray(mean, dtype=x.dtype), cupy.ascontiguousarray(rstd, dtype=x.dtype)
        n, d = x.shape
        gx = cupy.empty_like(x)
        w = x if weight is None else cupy.ascontiguousarray(weight, dtype=x.dtype)
        self.launch("norm.cu", "layer_norm_backward_input", x.dtype, (n,), (row_threads(d),),
                    (gy, x, w, numpy.int32(weight is not None), mean, rstd, gx, numpy.int32(d)))
        if weight is None:
            return gx, None, None
        gw, gb = cupy.empty(d, x.dtype), cupy.empty(d, x.dtype)
        self.launch_elementwise("norm.cu", "layer_norm_backward_params", x.dtype, d,
                                (gy, x, mean, rstd, gw, gb, numpy.int32(n), numpy.int32(d)))
        return gx, gw, gb

    # ---- recurrent cells: everything after the gate matmuls in one kernel per step ----
    @fast_path(lambda z, c_prev: fits(z, ndim=2))
    def lstm_cell_forward(self, z, c_prev):
        z, c_prev = cupy.ascontiguousarray(z), cupy.ascontiguousarray(c_prev, dtype=z.dtype)
        B, H = c_prev.shape
        h, c, acts = cupy.empty_like(c_prev), cupy.empty_like(c_prev), cupy.empty_like(z)
        self.launch_elementwise("rnn.cu", "lstm_cell_forward", z.dtype, B * H,
                                (z, c_prev, h, c, acts, numpy.int64(B), numpy.int32(H)))
        return h, c, acts

    @fast_path(lambda gh, gc, acts, c_prev, c: fits(acts, ndim=2))
    def lstm_cell_backward(self, gh, gc, acts, c_prev, c):
        gh, gc, c_prev, c = (cupy.ascontiguousarray(a, dtype=acts.dtype) for a in (gh, gc, c_prev, c))
        acts = cupy.ascontiguousarray(acts)
        B, H = c.shape
        gz, gc_prev = cupy.empty_like(acts), cupy.empty_like(c)
        self.launch_elementwise("rnn.cu", "lstm_cell_backward", acts.dtype, B * H,
                                (gh, gc, acts, c_prev, c, gz, gc_prev, numpy.int64(B), numpy.int32(H)))
        return gz, gc_prev

    @fast_path(lambda a, b, h_prev: fits(a, ndim=2))
    def gru_cell_forward(self, a, b, h_prev):
        a, b = cupy.ascontiguousarray(a), cupy.ascontiguousarray(b, dtype=a.dtype)
        h_prev = cupy.ascontiguousarray(h_prev, dtype=a.dtype)
        B, H = h_prev.shape
        h, acts = cupy.empty_like(h_prev), cupy.empty((B, 4 * H), dtype=a.dtype)
        self.launch_elementwise("rnn.cu", "gru_cell_forward", a.dtype, B * H,
                                (a, b, h_prev, h, acts, numpy.int64(B), numpy.int32(H)))
        return h, acts

    @fast_path(lambda gh, acts, h_prev: fits(acts, ndim=2))
    def gru_cell_backward(self, gh, acts, h_prev):
        acts = cupy.ascontiguousarray(acts)
        gh, h_prev = (cupy.ascontiguousarray(a, dtype=acts.dtype) for a in (gh, h_prev))
        B, H = h_prev.shape
        ga, gb = cupy.empty((B, 3 * H), acts.dtype), cupy.empty((B, 3 * H), acts.dtype)
        gh_prev = cupy.empty_like(h_prev)
        self.launch_elementwise("rnn.cu", "gru_cell_backward", acts.dtype, B * H,
                                (gh, acts, h_prev, ga, gb, gh_prev, numpy.int64(B), numpy.int32(H)))
        return ga, gb, gh_prev

    # ---- attention: online softmax, the (L, S) score matrix never exists ----
    @fast_path(lambda q, k, v, mask, scale, is_causal, keep: flash_apply(q, k, v, mask, keep, ATTN_MAX_D))
    def attention_forward(self, q, k, v, mask, scale, is_causal, keep):
        BH, L, S, E = flash_shapes(q, k, v, mask, keep, ATTN_MAX_D)
        q3, k3, v3 = (cupy.ascontiguousarray(a, dtype=q.dtype).reshape(BH, -1, E) for a in (q, k, v))
        out, lse = cupy.empty_like(q3), cupy.empty((BH, L), dtype=q.dtype)
        bk = _attention_tile(E, q.dtype)
        t = q.dtype.type
        self.launch("attention.cu", "attention_forward", q.dtype, (-(-L // ATTN_THREADS), BH), (ATTN_THREADS,),
                    (q3, k3, v3, out, lse, numpy.int32(L), numpy.int32(S), numpy.int32(E), numpy.int32(bk), t(scale),
                     numpy.int32(bool(is_causal))), shared_mem=2 * bk * E * q.dtype.itemsize)
        return out.reshape(q.shape), FlashState(lse)

    # the forward kept lse only when its flash kernel ran; else the reference's probabilities
    @fast_path(lambda gout, q, k, v, out, state, mask, scale, is_causal, keep: isinstance(state, FlashState))
    def attention_backward(self, gout, q, k, v, out, state, mask, scale, is_causal, keep):
        BH, L, S, E = flash_shapes(q, k, v, mask, keep, ATTN_MAX_D)
        q3, k3, v3, o3, g3 = (cupy.ascontiguousarray(a, dtype=q.dtype).reshape(BH, -1, E)
                              for a in (q, k, v, out, gout))
        t, bk = q.dtype.type, _attention_tile(E, q.dtype)
        delta = cupy.empty((BH, L), dtype=q.dtype)
        self.launch_elementwise("attention.cu", "attention_backward_delta", q.dtype, BH * L,
                                (o3, g3, delta, numpy.int64(BH * L), numpy.int32(E)))
        gq, gk, gv = cupy.empty_like(q3), cupy.empty_like(k3), cupy.empty_like(v3)
        common = (numpy.int32(L), numpy.int32(S), numpy.int32(E), numpy.int32(bk), t(scale),
                  numpy.int32(bool(is_causal)))
        shared = 2 * bk * E * q.dtype.itemsize
        self.launch("attention.cu", "attention_backward_dq", q.dtype, (-(-L // ATTN_THREADS), BH), (ATTN_THREADS,),
                    (q3, k3, v3, g3, state.lse, delta, gq, *common), shared_mem=shared)
        self.launch("attention.cu", "attention_backward_dkdv", q.dtype, (-(-S // ATTN_THREADS), BH),
                    (ATTN_THREADS,), (q3, k3, v3, g3, state.lse, delta, gk, gv, *common), shared_mem=shared)
        return gq.reshape(q.shape), gk.reshape(k.shape), gv.reshape(v.shape)


def _attention_tile(head_dim: int, dtype: Any) -> int:
    """Rows of k and v per shared-memory tile: 32, or fewer so that both tiles fit in 48 KiB."""
    return max(1, min(ATTN_MAX_TILE, ATTN_SHARED_BYTES // (2 * head_dim * numpy.dtype(dtype).itemsize)))
