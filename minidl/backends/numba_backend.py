"""The Numba backend: numpy arrays, with ``@njit`` kernels for the hot loops.

It inherits every kernel from the NumPy reference and overrides the ones a compiled loop makes
faster (fused passes instead of numpy's one-pass-per-operation temporaries). The kernels live in
``minidl/backends/numba_kernels/``, one family per module; they compile on first use and are cached
on disk (``cache=True``; ``NUMBA_CACHE_DIR`` chooses where).

Each kernel module has a serial kernel over a range of independent units (planes, rows, channels)
and a ``_parallel`` twin that splits the units across threads with ``prange``. Waking the threads
costs ~100 us on a small busy machine, so only large inputs run the twin (``PARALLEL_MIN_SIZE``).
Each override declares the inputs it handles with ``@fast_path(condition)`` (``fast_path.py``); anything
else (other dtypes, unusual shapes) goes to the NumPy reference, which also raises the errors: the compiled
loops do not check bounds, so the condition checks every shape before them. The convolution and max-pool
overrides say ``low_precision=True``: their float16/bfloat16 inputs run the float32 loop on float32 copies and
the results are rounded back once; the other kernels give 16-bit inputs to the reference.

Set ``NUMBA_THREADING_LAYER=workqueue`` on small shared machines: the default OpenMP layer
spin-waits and gives 50x outliers there.

Contributors: numba's on-disk cache of a kernel is invalidated only when *its own* file changes. After
editing ``numba_kernels/fastexp.py`` (whose functions other modules compile into their kernels), delete
``minidl/backends/numba_kernels/__pycache__/*.nb*`` (or your ``NUMBA_CACHE_DIR``) before measuring.
"""

from __future__ import annotations

import numba
import numpy as np

from minidl.backends.fast_path import fast_path
from minidl.backends.numba_kernels import activation as activation_kernels
from minidl.backends.numba_kernels import attention as attention_kernels
from minidl.backends.numba_kernels import conv as conv_kernels
from minidl.backends.numba_kernels import indexing as indexing_kernels
from minidl.backends.numba_kernels import losses as loss_kernels
from minidl.backends.numba_kernels import norm as norm_kernels
from minidl.backends.numba_kernels import optim as optim_kernels
from minidl.backends.numba_kernels import pool as pool_kernels
from minidl.backends.numba_kernels import quantized as quantized_kernels
from minidl.backends.numba_kernels import rnn as rnn_kernels
from minidl.backends.numba_kernels import softmax as softmax_kernels
from minidl.backends.numpy_backend import NumpyBackend
from minidl.backends.shapes import pool_out_size

# Below this much work (elements touched, ~0.5 ns each), waking the worker threads (~100 us with the workqueue
# layer on the 2-core development machine, measured) costs more than the second thread saves.
PARALLEL_MIN_SIZE = 1 << 21
MACS_PER_ELEMENT = 8  # a convolution's multiply-adds run ~8 to the time of one element of a memory-bound pass
# The row softmax kernels are prange-only (docs/writing-a-kernel.md walks through them): below this size the
# NumPy reference runs instead.
SOFTMAX_MIN_SIZE = 1 << 18
FLOATS = (np.float32, np.float64)


def _last_axis(x, axis) -> bool:
    return (x.ndim >= 1 and axis in (-1, x.ndim - 1) and x.dtype in FLOATS
            and x.size >= SOFTMAX_MIN_SIZE)


def _chunks(size: int) -> int:
    """How many blocks of units a kernel over ``size`` elements is split into (1: run it serially)."""
    return 1 if size < PARALLEL_MIN_SIZE else numba.get_num_threads()


def _run(serial, parallel, size: int, n_units: int, *args) -> None:
    """``serial(*args, 0, n_units)`` for small work, else ``parallel(*args, chunks)``."""
    chunks = min(_chunks(size), n_units)
    if chunks > 1:
        parallel(*args, chunks)
    else:
        serial(*args, 0, n_units)


class NumbaBackend(NumpyBackend):
    name = "numba"

    # ---- softmax family: one fused pass per row instead of four numpy passes ----
    # ---- special functions: erf and GELU, one pass each (numba_kernels/activation.py) ----
    @fast_path(lambda x: x.dtype in FLOATS)
    def erf(self, x):
        out = np.empty(x.shape, dtype=x.dtype)
        _run(activation_kernels.erf, activation_kernels.erf_parallel, x.size, x.size, _flat(x, x.dtype),
             out.reshape(-1))
        return out

    @fast_path(lambda x, approximate: x.dtype in FLOATS and approximate in ("none", "tanh"))
    def gelu_forward(self, x, approximate):
        y = np.empty(x.shape, dtype=x.dtype)
        _run(activation_kernels.gelu_forward, activation_kernels.gelu_forward_parallel, x.size, x.size,
             _flat(x, x.dtype), y.reshape(-1), approximate == "tanh")
        return y

    @fast_path(lambda gy, x, approximate: (_same_float(gy, x) and gy.shape == x.shape
                                           and approximate in ("none", "tanh")))
    def gelu_backward(self, gy, x, approximate):
        gx = np.empty(x.shape, dtype=x.dtype)
        _run(activation_kernels.gelu_backward, activation_kernels.gelu_backward_parallel, x.size, x.size,
             _flat(gy, x.dtype), _flat(x, x.dtype), gx.reshape(-1), approximate == "tanh")
        return gx

    @fast_path(_last_axis)
    def softmax(self, x, axis):
        rows = x.reshape(-1, x.shape[-1])
        return softmax_kernels.softmax_rows(rows).reshape(x.shape)

    @fast_path(_last_axis)
    def log_softmax(self, x, axis):
        rows = x.reshape(-1, x.shape[-1])
        return softmax_kernels.log_softmax_rows(rows).reshape(x.shape)

    # ---- scatter-add of rows (np.add.at is a slow generic path): integer index arrays only ----
    @fast_path(lambda shape, index, values: (isinstance(index, np.ndarray) and index.dtype.kind in "iu"
                                             and values.dtype in FLOATS and len(shape) >= 1
                                             and values.shape == index.shape + tuple(shape[1:])))
    def index_add(self, shape, index, values):
        return self._scatter_rows(index, values, shape)

    @fast_path(lambda indices, grad, num_embeddings, padding_idx: (
        grad.dtype in FLOATS and indices.dtype.kind in "iu" and grad.shape == indices.shape + grad.shape[-1:]))
    def embedding_backward(self, indices, grad, num_embeddings, padding_idx):
        dim = grad.shape[-1]
        out = self._scatter_rows(indices, grad, (num_embeddings, dim))
        if padding_idx is not None:
            out[padding_idx] = 0
        return out

    def _scatter_rows(self, index, values, shape):
        """zeros(shape) with the rows values[k] added at index[k] (index flattened, values (K, prod(shape[1:])))."""
        n, d = shape[0], int(np.prod(shape[1:], dtype=np.int64))
        out = np.empty((n, d), dtype=values.dtype)
        rows = np.ascontiguousarray(values).reshape(index.size, d)
        chunks = min(_chunks(rows.size), d)
        if chunks > 1:
            indexing_kernels.scatter_add_rows_parallel(index.reshape(-1).astype(np.int64, copy=False), rows, out,
                                                      chunks)
        else:
            indexing_kernels.scatter_add_rows(index.reshape(-1).astype(np.int64, copy=False), rows, out, 0, d)
        return out.reshape(shape)

    # ---- losses: per row, the max, the exponentials and their sum in cache; the softmax is never stored ----
    @fast_path(lambda x, target, ignore_index: _rows_and_targets(x, target))
    def softmax_cross_entropy(self, x, target, ignore_index):
        N = x.shape[0]
        loss, lse = np.empty(N, dtype=x.dtype), np.empty(N, dtype=x.dtype)
        _run(loss_kernels.xent_forward_rows, loss_kernels.xent_forward_parallel, x.size, N,
             np.ascontiguousarray(x), target.astype(np.int64, copy=False), int(ignore_index), loss, lse)
        return loss, lse

    @fast_path(lambda x, target, lse, gloss, ignore_index: (_rows_and_targets(x, target)
                                                             and lse.shape == x.shape[:1]))
    def softmax_cross_entropy_backward(self, x, target, lse, gloss, ignore_index):
        N = x.shape[0]
        gx = np.empty(x.shape, dtype=x.dtype)
        _run(loss_kernels.xent_backward_rows, loss_kernels.xent_backward_parallel, x.size, N,
             np.ascontiguousarray(x), target.astype(np.int64, copy=False), lse.astype(x.dtype, copy=False),
             np.broadcast_to(gloss, (N,)).astype(gx.dtype), int(ignore_index), gx)
        return gx

    # ---- normalization: statistics and output in one or two passes per row (layer) or channel (batch) ----
    @fast_path(lambda x, weight, bias, eps: (_same_float(x, weight, bias) and x.ndim == 2 and x.shape[1] > 0
                                             and _shaped((weight, bias), x.shape[1:])))
    def layer_norm_forward(self, x, weight, bias, eps):
        rows, d = x.shape
        y, mean, rstd = np.empty_like(x, order="C"), np.empty(rows, dtype=x.dtype), np.empty(rows, dtype=x.dtype)
        w, b = _or_fill(weight, d, 1, x.dtype), _or_fill(bias, d, 0, x.dtype)
        _run(norm_kernels.layer_norm_forward_rows, norm_kernels.layer_norm_forward_parallel, x.size, rows,
             np.ascontiguousarray(x), w, b, float(eps), y, mean, rstd)
        return y, mean, rstd

    @fast_path(lambda gy, x, weight, mean, rstd: (
        _same_float(gy, x, weight, mean, rstd) and x.ndim == 2 and x.shape[1] > 0 and gy.shape == x.shape
        and _shaped((weight,), x.shape[1:]) and _shaped((mean, rstd), x.shape[:1])))
    def layer_norm_backward(self, gy, x, weight, mean, rstd):
        rows, d = x.shape
        gx, gw, gb = np.empty(x.shape, dtype=x.dtype), np.zeros(d), np.zeros(d)
        _run(norm_kernels.layer_norm_backward_rows, norm_kernels.layer_norm_backward_parallel, x.size, rows,
             np.ascontiguousarray(gy), np.ascontiguousarray(x), _or_fill(weight, d, 1, x.dtype), mean, rstd, gx, gw, gb)
        if weight is None:
            return gx, None, None
        return gx, gw.astype(x.dtype), gb.astype(x.dtype)

    @fast_path(lambda x, weight, bias, eps: (_same_float(x, weight, bias) and x.ndim >= 2 and x.size > 0
                                             and _shaped((weight, bias), x.shape[1:2])))
    def batch_norm_forward(self, x, weight, bias, eps):
        N, C = x.shape[:2]
        x3 = np.ascontiguousarray(x).reshape(N, C, -1)
        y, mean, var = np.empty(x3.shape, dtype=x.dtype), np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
        _run(norm_kernels.batch_norm_forward_channels, norm_kernels.batch_norm_forward_parallel, x.size, C, x3,
             _or_fill(weight, C, 1, x.dtype), _or_fill(bias, C, 0, x.dtype), float(eps), y, mean, var)
        return y.reshape(x.shape), mean, var

    @fast_path(lambda gy, x, weight, mean, rstd: (_same_float(gy, x, weight, mean, rstd) and x.ndim >= 2
                                                  and x.size > 0 and gy.shape == x.shape
                                                  and _shaped((weight, mean, rstd), x.shape[1:2])))
    def batch_norm_backward(self, gy, x, weight, mean, rstd):
        N, C = x.shape[:2]
        x3 = np.ascontiguousarray(x).reshape(N, C, -1)
        gx, gw, gb = np.empty(x3.shape, dtype=x.dtype), np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
        _run(norm_kernels.batch_norm_backward_channels, norm_kernels.batch_norm_backward_parallel, x.size, C,
             np.ascontiguousarray(gy).reshape(x3.shape), x3, _or_fill(weight, C, 1, x.dtype), mean, rstd, gx, gw, gb)
        return gx.reshape(x.shape), gw, gb

    # ---- optimizers: one fused pass, in place; anything but same-dtype C-contiguous state goes to the reference ----
    @fast_path(lambda param, grad, momentum_buffer, *hyper: _in_place_ok(param, grad, momentum_buffer))
    def sgd_update(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, maximize):
        first = momentum != 0 and momentum_buffer is None
        buf = np.zeros_like(param) if first else momentum_buffer  # zeros: b = momentum * 0 + 1 * g = g exactly
        _run(optim_kernels.sgd, optim_kernels.sgd_parallel, param.size, param.size, param.reshape(-1),
             _flat(grad, param.dtype), _flat_state(buf, param),
             np.array([lr, -1 if maximize else 1, weight_decay, momentum, 1 if first else 1 - dampening],
                      dtype=param.dtype), momentum != 0, bool(nesterov))
        return buf if momentum != 0 else None

    @fast_path(lambda param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
               max_exp_avg_sq=None, maximize=False: _in_place_ok(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq))
    def adam_update(self, param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled,
                    max_exp_avg_sq=None, maximize=False):
        decay, l2 = (1 - lr * weight_decay, 0) if decoupled else (1, weight_decay)
        _run(optim_kernels.adam, optim_kernels.adam_parallel, param.size, param.size, param.reshape(-1),
             _flat(grad, param.dtype), exp_avg.reshape(-1), exp_avg_sq.reshape(-1), _flat_state(max_exp_avg_sq, param),
             np.array([lr / (1 - beta1**step), beta1, 1 - beta1, beta2, 1 - beta2, eps, 1 / (1 - beta2**step) ** 0.5,
                       -1 if maximize else 1, l2, decay], dtype=param.dtype), max_exp_avg_sq is not None)

    @fast_path(lambda params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, decoupled,
               max_exp_avg_sqs=None, maximize=False: (
                   len({p.dtype for p in params}) == 1 and all(_in_place_ok(*arrays) for arrays in zip(
                       params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs or [None] * len(params), strict=True))))
    def foreach_adam_update(self, params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step,
                            decoupled, max_exp_avg_sqs=None, maximize=False):
        """The scalars are worked out once for the list; each tensor is one call of the fused loop."""
        dtype = params[0].dtype
        decay, l2 = (1 - lr * weight_decay, 0) if decoupled else (1, weight_decay)
        coef = np.array([lr / (1 - beta1**step), beta1, 1 - beta1, beta2, 1 - beta2, eps, 1 / (1 - beta2**step) ** 0.5,
                         -1 if maximize else 1, l2, decay], dtype=dtype)
        for i, param in enumerate(params):
            vmax = None if max_exp_avg_sqs is None else max_exp_avg_sqs[i]
            _run(optim_kernels.adam, optim_kernels.adam_parallel, param.size, param.size, param.reshape(-1),
                 _flat(grads[i], dtype), exp_avgs[i].reshape(-1), exp_avg_sqs[i].reshape(-1), _flat_state(vmax, param),
                 coef, vmax is not None)

    # ---- recurrent cells: gates, activations and state update fused per batch row ----
    @fast_path(lambda z, c_prev: (_same_float(z, c_prev) and c_prev.ndim == 2
                                  and z.shape == (c_prev.shape[0], 4 * c_prev.shape[1])))
    def lstm_cell_forward(self, z, c_prev):
        B, H = c_prev.shape
        h, c, acts = np.empty((B, H), z.dtype), np.empty((B, H), z.dtype), np.empty((B, 4 * H), z.dtype)
        _run(rnn_kernels.lstm_forward_rows, rnn_kernels.lstm_forward_parallel, z.size, B,
             np.ascontiguousarray(z), np.ascontiguousarray(c_prev), h, c, acts)
        return h, c, acts

    @fast_path(lambda gh, gc, acts, c_prev, c: (_same_float(gh, gc, acts, c_prev, c) and c.ndim == 2
                                                and acts.shape == (c.shape[0], 4 * c.shape[1])))
    def lstm_cell_backward(self, gh, gc, acts, c_prev, c):
        B, H = c.shape
        gz, gc_prev = np.empty((B, 4 * H), c.dtype), np.empty((B, H), c.dtype)
        _run(rnn_kernels.lstm_backward_rows, rnn_kernels.lstm_backward_parallel, acts.size, B,
             *(_rows(a, shape) for a, shape in
               ((gh, (B, H)), (gc, (B, H)), (acts, (B, 4 * H)), (c_prev, (B, H)), (c, (B, H)))), gz, gc_prev)
        return gz, gc_prev

    @fast_path(lambda a, b, h_prev: (_same_float(a, b, h_prev) and h_prev.ndim == 2 and a.shape == b.shape
                                     and a.shape == (h_prev.shape[0], 3 * h_prev.shape[1])))
    def gru_cell_forward(self, a, b, h_prev):
        B, H = h_prev.shape
        h, acts = np.empty((B, H), a.dtype), np.empty((B, 4 * H), a.dtype)
        _run(rnn_kernels.gru_forward_rows, rnn_kernels.gru_forward_parallel, a.size, B,
             np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(h_prev), h, acts)
        return h, acts

    @fast_path(lambda gh, acts, h_prev: (_same_float(gh, acts, h_prev) and h_prev.ndim == 2
                                         and acts.shape == (h_prev.shape[0], 4 * h_prev.shape[1])))
    def gru_cell_backward(self, gh, acts, h_prev):
        B, H = h_prev.shape
        ga, gb, gh_prev = np.empty((B, 3 * H), gh.dtype), np.empty((B, 3 * H), gh.dtype), np.empty((B, H), gh.dtype)
        _run(rnn_kernels.gru_backward_rows, rnn_kernels.gru_backward_parallel, acts.size, B,
             np.ascontiguousarray(np.broadcast_to(gh, (B, H))), np.ascontiguousarray(acts),
             np.ascontiguousarray(h_prev), ga, gb, gh_prev)
        return ga, gb, gh_prev

    # ---- convolution ----
    # col2im as a loop (NumPy's version makes kh*kw strided passes); im2col stays NumPy's strided copy, as fast.
    @fast_path(lambda cols, x_shape, kernel_size, stride, padding, dilation: (
        cols.dtype in FLOATS and cols.ndim == 6 and cols.shape[:4] == (*x_shape[:2], *kernel_size)))
    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        N, C, H, W = x_shape
        kh, kw, OH, OW = cols.shape[2:]
        x = np.empty((N * C, H, W), dtype=cols.dtype)
        _run(conv_kernels.col2im_planes, conv_kernels.col2im_parallel, cols.size, N * C,
             np.ascontiguousarray(cols).reshape(N * C, kh, kw, OH, OW), x, sh, sw, ph, pw, dh, dw)
        return x.reshape(x_shape)

    # Stride-1 convolutions with few channels (the CNNs of the workloads) go direct, without an im2col matrix:
    # a matrix product with a dimension below ~32 runs far below BLAS's peak. The rest keep im2col + BLAS.
    # The thresholds are measured (docs/benchmarks.md, "Where W3's and W2's step time goes"): up to 32 output
    # channels per group the direct kernels beat im2col + BLAS forward and backward; at 64 BLAS wins.
    @fast_path(lambda x, weight, bias, stride, padding, dilation, groups: (
        _direct_conv((x, weight, bias), weight.shape, stride, groups, max_out=32) and x.ndim == 4
        and x.shape[1] == weight.shape[1] * groups and _shaped((bias,), weight.shape[:1])
        and _direct_out_positive(x.shape, weight.shape, padding, dilation)), low_precision=True)
    def conv2d_forward(self, x, weight, bias, stride, padding, dilation, groups):
        return self._direct_conv_forward(x, weight, bias, padding, dilation, groups)

    def _direct_conv_forward(self, x, weight, bias, padding, dilation, groups):
        N, O, (kh, kw), (dh, dw) = x.shape[0], weight.shape[0], weight.shape[2:], dilation
        xpad = _pad(x, padding)
        OH, OW = xpad.shape[2] - dh * (kh - 1), xpad.shape[3] - dw * (kw - 1)
        y = np.empty((N, O, OH, OW), dtype=x.dtype)
        b = np.zeros(O, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
        _run(conv_kernels.conv_forward_planes, conv_kernels.conv_forward_parallel,
             y.size * weight[0].size // MACS_PER_ELEMENT, N * O,
             xpad, np.ascontiguousarray(weight), b, y, dh, dw, groups)
        return y

    @fast_path(lambda gy, weight, x_shape, stride, padding, dilation, groups: (
        _direct_conv((gy, weight), weight.shape, stride, groups, max_out=32) and gy.ndim == 4
        and gy.shape[1] == weight.shape[0] and x_shape[1] == weight.shape[1] * groups and min(x_shape[2:]) > 0),
        low_precision=True)
    def conv2d_backward_input(self, gy, weight, x_shape, stride, padding, dilation, groups):
        # dL/dx is a stride-1 convolution of gy, zero padded by the kernel's reach, with the kernel flipped in
        # space and its in/out channels swapped (within each group): the "full" correlation.
        O, Cg, kh, kw = weight.shape
        G, Og = groups, O // groups
        flipped = weight[:, :, ::-1, ::-1].reshape(G, Og, Cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(G * Cg, Og,
                                                                                                        kh, kw)
        reach = (dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1])
        if reach[0] < 0 or reach[1] < 0:  # padding wider than the kernel reaches: crop gy instead
            gy = gy[:, :, max(-reach[0], 0):gy.shape[2] - max(-reach[0], 0),
                    max(-reach[1], 0):gy.shape[3] - max(-reach[1], 0)]
        return self._direct_conv_forward(gy, flipped, None, (max(reach[0], 0), max(reach[1], 0)), dilation, G)

    @fast_path(lambda x, gy, weight_shape, stride, padding, dilation, groups: (
        _direct_conv((x, gy), weight_shape, stride, groups, max_out=32) and x.ndim == 4 and gy.ndim == 4
        and x.shape[1] == weight_shape[1] * groups and gy.shape[:2] == (x.shape[0], weight_shape[0])),
        low_precision=True)
    def conv2d_backward_weight(self, x, gy, weight_shape, stride, padding, dilation, groups):
        xpad = _pad(x, padding)
        gw = np.empty(weight_shape, dtype=x.dtype)
        _run(conv_kernels.conv_backward_weight_planes, conv_kernels.conv_backward_weight_parallel,
             gy.size * gw[0].size // MACS_PER_ELEMENT, weight_shape[0], xpad, _widen(gy, xpad.shape[3]), gw,
             *dilation, groups)
        return gw

    # ---- pooling: one pass over each plane, each window read once ----
    @fast_path(lambda x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False: (
        x.dtype in FLOATS and x.ndim == 4), low_precision=True)
    def maxpool2d_forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        N, C, H, W = x.shape
        OH, OW = pool_out_size(H, kh, sh, ph, dh, ceil_mode), pool_out_size(W, kw, sw, pw, dw, ceil_mode)
        y = np.empty((N, C, OH, OW), dtype=x.dtype)
        idx = np.empty((N, C, OH, OW), dtype=np.int64)
        planes = (np.ascontiguousarray(x).reshape(N * C, H, W), y.reshape(N * C, OH, OW), idx.reshape(N * C, OH, OW))
        if kernel_size == stride == (2, 2) and padding == (0, 0) and dilation == (1, 1) and (OH, OW) == (H // 2,
                                                                                                        W // 2):
            _run(pool_kernels.maxpool2x2_forward_planes, pool_kernels.maxpool2x2_forward_parallel, x.size, N * C,
                 *planes)
        else:  # the generic scan clips every window at the plane's edges: ceil_mode's overhanging ones too
            _run(pool_kernels.maxpool_forward_planes, pool_kernels.maxpool_forward_parallel, x.size, N * C,
                 *planes, kh, kw, sh, sw, ph, pw, dh, dw)
        return y, idx

    @fast_path(lambda gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1): (
        gy.dtype in FLOATS and indices.shape == gy.shape and gy.ndim == 4 and gy.shape[:2] == tuple(x_shape[:2])),
        low_precision=True)
    def maxpool2d_backward(self, gy, indices, x_shape, kernel_size, stride, padding, dilation=(1, 1)):
        N, C, H, W = x_shape
        gx = np.empty((N * C, H * W), dtype=gy.dtype)
        _run(pool_kernels.maxpool_backward_planes, pool_kernels.maxpool_backward_parallel, gx.size, N * C,
             np.ascontiguousarray(gy).reshape(N * C, -1), np.ascontiguousarray(indices, dtype=np.int64).reshape(
                 N * C, -1), gx)
        return gx.reshape(x_shape)

    # ---- attention: the products stay in BLAS; scale, causal mask and softmax (and its backward) fused per row ----
    @fast_path(lambda q, k, v, mask, scale, is_causal, keep: _same_float(q, k, v))
    def attention_forward(self, q, k, v, mask, scale, is_causal, keep):
        s = np.matmul(q, np.swapaxes(k, -1, -2))
        if mask is not None:  # added before the kernel, in the reference's order: scale, then mask
            s *= scale
            s = np.ascontiguousarray(s + mask, dtype=s.dtype)
            scale = 1.0
        L, S = s.shape[-2], s.shape[-1]
        rows = s.reshape(-1, S)
        _run(attention_kernels.softmax_rows_inplace, attention_kernels.softmax_rows_inplace_parallel, s.size,
             rows.shape[0], rows, float(scale), bool(is_causal), L)
        out = np.matmul(s if keep is None else s * keep, v)
        return out, s

    @fast_path(lambda gout, q, k, v, out, state, mask, scale, is_causal, keep: (
        _same_float(gout, q, k, v, state) and state.flags.c_contiguous))
    def attention_backward(self, gout, q, k, v, out, state, mask, scale, is_causal, keep):
        p = state  # the attention probabilities the forward kept
        pd = p if keep is None else p * keep
        gv = np.matmul(np.swapaxes(pd, -1, -2), gout)
        gp = np.matmul(gout, np.swapaxes(v, -1, -2))
        if keep is not None:
            gp *= keep
        if gp.shape != p.shape:
            gp = np.broadcast_to(gp, p.shape).copy()
        S = p.shape[-1]
        rows = gp.reshape(-1, S)
        _run(attention_kernels.softmax_backward_rows_inplace, attention_kernels.softmax_backward_rows_inplace_parallel,
             p.size, rows.shape[0], rows, p.reshape(-1, S), float(scale))
        return np.matmul(gp, k), np.matmul(np.swapaxes(gp, -1, -2), q), gv

    # ---- int8 x int8 -> int32 products of the quantized layers (NumPy's integer matmul has no BLAS) ----
    @fast_path(lambda a, a_zero_point, b: (a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1]
                                           and a.dtype in (np.uint8, np.int8) and b.dtype == np.int8))
    def int8_matmul(self, a, a_zero_point, b):
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
        zsum = (np.int32(a_zero_point) * b.astype(np.int32).sum(axis=1)).astype(np.int32)
        _run(quantized_kernels.int8_matmul_rows, quantized_kernels.int8_matmul_rows_parallel,
             a.size * b.shape[0] // MACS_PER_ELEMENT, a.shape[0], a, b, zsum, out)
        return out


def _rows_and_targets(x, target) -> bool:
    """Whether the fused cross-entropy kernels take ``x`` (N, C) float logits and ``target`` (N,) integers."""
    return (x.dtype in FLOATS and x.ndim == 2 and x.shape[1] > 0 and target.dtype.kind in "iu"
            and target.shape == x.shape[:1])


def _direct_out_positive(x_shape, weight_shape, padding, dilation) -> bool:
    """Whether a stride-1 convolution of these shapes has at least one output row and column."""
    return all(x_shape[2 + i] + 2 * padding[i] - dilation[i] * (weight_shape[2 + i] - 1) > 0 for i in (0, 1))


def _direct_conv(arrays, weight_shape, stride, groups, max_out) -> bool:
    """Whether the direct stride-1 kernels handle this convolution and beat im2col + BLAS on it (measured): when
    im2col would copy each input value many times (K = C/groups * kh * kw large) into a product with few
    (<= max_out) output channels per group, which BLAS runs far below its peak."""
    O, K = weight_shape[0] // groups, weight_shape[1] * weight_shape[2] * weight_shape[3]
    return stride == (1, 1) and _same_float(*arrays) and K >= 16 and O <= max_out


def _rows(a, shape):
    """a as a C-contiguous array of ``shape``, broadcast if it is smaller (no call at all when it already is one:
    the LSTM's backward calls this 5 times per time step)."""
    if a.shape == shape and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(np.broadcast_to(a, shape))


def _pad(x, padding):
    """x zero padded on H and W, C-contiguous."""
    ph, pw = padding
    if ph or pw:
        return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return np.ascontiguousarray(x)


def _widen(gy, width):
    """gy (N, O, OH, OW) copied into zeros (N, O, OH, width): rows as long as the padded input's."""
    if gy.shape[3] == width:
        return np.ascontiguousarray(gy)
    out = np.zeros(gy.shape[:3] + (width,), dtype=gy.dtype)
    out[..., :gy.shape[3]] = gy
    return out


def _in_place_ok(param, grad, *state) -> bool:
    """Whether the fused optimizer kernels can update ``param`` and ``state`` in place through flat views:
    float arrays of one dtype and shape, C-contiguous (a reshape of anything else would be a copy)."""
    dtype, shape = param.dtype, param.shape
    if dtype.char not in "fd" or grad.shape != shape or grad.dtype.kind != "f":
        return False
    return all(a is None or (a.dtype == dtype and a.shape == shape and a.flags.c_contiguous) for a in (param, *state))


def _flat(a, dtype):
    """A read-only input as a flat C-contiguous array of ``dtype`` (a copy only when needed)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _flat_state(a, like):
    """A state array as a flat view, or a 1-element dummy where the kernel will not touch it (None)."""
    return np.empty(1, dtype=like.dtype) if a is None else a.reshape(-1)


def _same_float(*arrays) -> bool:
    """Whether the arrays that are not None are all float32 or all float64."""
    dtypes = {a.dtype for a in arrays if a is not None}
    return len(dtypes) == 1 and dtypes.pop() in FLOATS


def _or_fill(a, n, value, dtype):
    """``a`` as a contiguous array, or ``n`` copies of ``value`` when it is None (no weight, no bias)."""
    return np.full(n, value, dtype=dtype) if a is None else np.ascontiguousarray(a)


def _shaped(arrays, shape) -> bool:
    """Whether each of ``arrays`` is None or has exactly ``shape``."""
    return all(a is None or a.shape == tuple(shape) for a in arrays)
