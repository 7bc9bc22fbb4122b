"""The kernel contract: what a backend must supply.

A backend owns an array module (``xp``: ``numpy`` or ``cupy``) and a table of named kernels.
Ops (``minidl.ops``) hold the autograd rules and call kernels by name on ``tensor.backend``;
they never import numpy or cupy kernels directly for the hot paths listed here.

The contract is flat on purpose (see the CMU *needle* teaching framework): every kernel is a
method taking arrays (and plain Python parameters) and returning arrays. ``NumpyBackend`` is the
readable reference implementation of every kernel; faster backends subclass it and override
only the kernels they make faster. ``kernels/README.md`` is the catalogue of these names and a
test keeps the two in step.

Adding a kernel: add its name to ``KERNELS`` and a method here that raises, implement it in
``numpy_backend.py``, describe it in ``kernels/README.md``, give it rows in ``minidl/testing/kernel_cases.py``.
A faster backend's kernel goes in the file of its group (the comments in ``KERNELS``), named alike in the
three trees: ``kernels/<group>.cu`` (CUDA C), ``numba_kernels/<group>.py``, ``cuda_kernels/<group>.py``
with the groups softmax, indexing, losses, embedding, optim, conv, pool, norm, rnn and attention.
"""

from __future__ import annotations

from typing import Any

import numpy


def accumulation_dtype(dtype: Any) -> Any:
    """The dtype that reductions add up in: float32 for a float16 input, else the input's own dtype.

    float16 keeps 11 significant bits and nothing above 65504. A running total of float16 values
    goes wrong two ways: it overflows (4096 values of 30 sum to 122880, so their mean came out inf)
    and it stalls (above 2048 the spacing of float16 numbers is 2, so adding 1 changes nothing).
    Squares overflow even sooner: (x - mean)^2 is inf once |x - mean| > 256, which made layer norm
    divide by inf and return 0. So, as PyTorch does, every reduction and normalisation of float16
    computes its sums, squares and statistics in float32 and rounds to float16 once, at the end.
    """
    return numpy.dtype(numpy.float32) if numpy.dtype(dtype) == numpy.float16 else numpy.dtype(dtype)

# Every kernel of the contract, grouped by op family. Order is documentation order.
KERNELS: tuple[str, ...] = (
    # linear algebra
    "matmul",
    # special functions
    "erf",
    # softmax family (files: softmax)
    "softmax",
    "log_softmax",
    "logsumexp",
    # indexing (files: indexing)
    "index_add",
    "take_along_axis_add",
    # losses (files: losses)
    "softmax_cross_entropy",
    "softmax_cross_entropy_backward",
    # embedding (files: embedding)
    "embedding_backward",
    # optimizers (files: optim): in-place updates of a parameter array and its state arrays
    "sgd_update",
    "adam_update",
    "rmsprop_update",
    "adagrad_update",
    # convolution (files: conv; NCHW; 1-d ops go through 2-d with H = 1)
    "im2col",
    "col2im",
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    # pooling (files: pool)
    "maxpool2d_forward",
    "maxpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_backward",
    # normalization (files: norm)
    "batch_norm_forward",
    "batch_norm_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    # recurrent cells (files: rnn; PyTorch gate order), one call per time step
    "lstm_cell_forward",
    "lstm_cell_backward",
    "gru_cell_forward",
    "gru_cell_backward",
    # attention (files: attention)
    "attention_forward",
    "attention_backward",
)


class Backend:
    """Base class of every backend. Subclasses set ``name`` and ``xp`` and implement KERNELS."""

    name: str = "abstract"
    xp: Any = None  # the array module: numpy or cupy
    is_gpu: bool = False

    # ---- array helpers (not kernels: every backend gets them from its ``xp``) ----
    def asarray(self, data: Any, dtype: Any = None) -> Any:
        """Turn ``data`` (list, scalar, numpy array, ...) into an array of this backend."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array: Any) -> Any:
        """Return ``array`` as a ``numpy.ndarray`` on the host (a copy only where needed)."""
        return array

    def synchronize(self) -> None:
        """Wait for queued device work to finish (a no-op on CPU backends)."""

    def __repr__(self) -> str:
        return f"<minidl backend {self.name!r}>"

    # A backend is one shared object per name (ops compare backends with `is`): copying a tensor or a
    # module (copy.deepcopy(model)) must keep pointing at the same backend, not at a copy of it.
    def __copy__(self) -> Backend:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        return self

    # ---- kernels ----
    def matmul(self, a: Any, b: Any) -> Any:
        """Batched matrix product of two arrays with ndim >= 2 (numpy broadcasting of batch dims)."""
        raise NotImplementedError

    def erf(self, x: Any) -> Any:
        """The error function ``2/sqrt(pi) int_0^x e^(-t^2) dt``, elementwise, in ``x``'s dtype."""
        raise NotImplementedError

    def softmax(self, x: Any, axis: int) -> Any:
        """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
        raise NotImplementedError

    def log_softmax(self, x: Any, axis: int) -> Any:
        """``x - logsumexp(x)`` along ``axis``."""
        raise NotImplementedError

    def logsumexp(self, x: Any, axis: Any, keepdims: bool) -> Any:
        """``log(sum(exp(x)))`` along ``axis`` (an int, a tuple or None), computed stably."""
        raise NotImplementedError

    def index_add(self, shape: tuple[int, ...], index: Any, values: Any) -> Any:
        """Zeros of ``shape`` with ``values`` added at ``x[index]``; repeated indices accumulate."""
        raise NotImplementedError

    def take_along_axis_add(self, shape: tuple[int, ...], indices: Any, values: Any, axis: int) -> Any:
        """Zeros of ``shape`` with ``values`` scatter-added where ``take_along_axis`` read them."""
        raise NotImplementedError

    # ---- losses: logits x (N, C), integer targets t (N,) ----
    def softmax_cross_entropy(self, x: Any, target: Any, ignore_index: int) -> tuple[Any, Any]:
        """(loss (N,), lse (N,)): ``lse_i = log sum_j exp(x_ij)`` (stable), ``loss_i = lse_i - x[i, t_i]``
        (0 where ``t_i == ignore_index``). The softmax matrix is never stored: backward rebuilds it from lse."""
        raise NotImplementedError

    def softmax_cross_entropy_backward(self, x: Any, target: Any, lse: Any, gloss: Any, ignore_index: int) -> Any:
        """dL/dx (N, C) = ``(exp(x_ij - lse_i) - [j == t_i]) * gloss_i`` (0 on rows where ``t_i == ignore_index``)."""
        raise NotImplementedError

    # ---- embedding ----
    def embedding_backward(self, indices: Any, grad: Any, num_embeddings: int, padding_idx: int | None) -> Any:
        """dL/dweight (num_embeddings, D): ``grad`` (*indices.shape, D) scatter-added into the rows named by
        ``indices`` (repeated indices accumulate); the row ``padding_idx`` (if not None) stays 0."""
        raise NotImplementedError

    # ---- optimizers: update ``param`` (and the state arrays) in place from ``grad``; PyTorch's rules ----
    def sgd_update(self, param: Any, grad: Any, momentum_buffer: Any, lr: float, momentum: float, dampening: float,
                   weight_decay: float, nesterov: bool, maximize: bool) -> Any:
        """SGD step; returns the momentum buffer (a new array when ``momentum_buffer`` is None, None without
        momentum). ``g = ±grad + wd p; b = mu b + (1 - dampening) g (b = g at first); p -= lr (g + mu b or b)``."""
        raise NotImplementedError

    def adam_update(self, param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, lr: float, beta1: float,
                    beta2: float, eps: float, weight_decay: float, step: int, decoupled: bool,
                    max_exp_avg_sq: Any = None, maximize: bool = False) -> None:
        """Adam (L2 weight decay) or AdamW (``decoupled``) step number ``step`` (from 1); AMSGrad when
        ``max_exp_avg_sq`` is an array. ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``."""
        raise NotImplementedError

    def rmsprop_update(self, param: Any, grad: Any, square_avg: Any, lr: float, alpha: float, eps: float,
                       weight_decay: float, momentum: float, grad_avg: Any = None, momentum_buffer: Any = None,
                       maximize: bool = False) -> None:
        """RMSprop step; centered when ``grad_avg`` is an array, with momentum when ``momentum_buffer`` is one.
        ``s = a s + (1-a) g^2; avg = sqrt(s - gbar^2) + eps; b = mu b + g / avg; p -= lr b``."""
        raise NotImplementedError

    def adagrad_update(self, param: Any, grad: Any, state_sum: Any, step: int, lr: float, lr_decay: float,
                       weight_decay: float, eps: float, maximize: bool = False) -> None:
        """Adagrad step number ``step`` (from 1): ``s += g^2; p -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)``."""
        raise NotImplementedError

    # ---- convolution: x (N, C, H, W), weight (O, C // groups, kh, kw); pairs are (h, w) tuples ----
    def im2col(self, x: Any, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
               dilation: tuple[int, int]) -> Any:
        """Windows of zero-padded x as a contiguous (N, C, kh, kw, OH, OW) array:
        ``cols[n, c, i, j, p, q] = xpad[n, c, p*sh + i*dh, q*sw + j*dw]``."""
        raise NotImplementedError

    def col2im(self, cols: Any, x_shape: tuple[int, ...], kernel_size: tuple[int, int], stride: tuple[int, int],
               padding: tuple[int, int], dilation: tuple[int, int]) -> Any:
        """The adjoint of im2col: every window entry of cols (N, C, kh, kw, OH, OW) added back into zeros(x_shape)."""
        raise NotImplementedError

    def conv2d_forward(self, x: Any, weight: Any, bias: Any, stride: tuple[int, int], padding: tuple[int, int],
                       dilation: tuple[int, int], groups: int) -> Any:
        """y (N, O, OH, OW) = cross-correlation of x with weight, plus bias (O,) unless it is None."""
        raise NotImplementedError

    def conv2d_backward_input(self, gy: Any, weight: Any, x_shape: tuple[int, ...], stride: tuple[int, int],
                              padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> Any:
        """dL/dx of conv2d given dL/dy (also the forward of conv_transpose2d)."""
        raise NotImplementedError

    def conv2d_backward_weight(self, x: Any, gy: Any, weight_shape: tuple[int, ...], stride: tuple[int, int],
                               padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> Any:
        """dL/dweight of conv2d given the input x and dL/dy."""
        raise NotImplementedError

    # ---- pooling: x (N, C, H, W); padding never wins a max and counts as zeros in an average ----
    # Output size per axis as PyTorch: (n + 2p - d(k-1) - 1) / s + 1, rounded down, or up with ceil_mode
    # (the last window must start inside the input or the left padding): ``shapes.pool_out_size``.
    def maxpool2d_forward(self, x: Any, kernel_size: tuple[int, int], stride: tuple[int, int],
                          padding: tuple[int, int], dilation: tuple[int, int] = (1, 1),
                          ceil_mode: bool = False) -> tuple[Any, Any]:
        """(y, indices): window maxima and, as int64, the flat index h * W + w of each in its (H, W) plane
        (the first maximum on ties), as PyTorch's ``return_indices``. A window's rows and columns are
        ``dilation`` apart; ``ceil_mode`` adds the windows that hang over the bottom or right edge."""
        raise NotImplementedError

    def maxpool2d_backward(self, gy: Any, indices: Any, x_shape: tuple[int, ...], kernel_size: tuple[int, int],
                           stride: tuple[int, int], padding: tuple[int, int],
                           dilation: tuple[int, int] = (1, 1)) -> Any:
        """dL/dx: zeros(x_shape) with gy added at ``indices`` (overlapping windows accumulate)."""
        raise NotImplementedError

    def avgpool2d_forward(self, x: Any, kernel_size: tuple[int, int], stride: tuple[int, int],
                          padding: tuple[int, int], count_include_pad: bool, ceil_mode: bool = False) -> Any:
        """Window means; the divisor is the window's size clipped at the padded edge (kh * kw except for
        ceil_mode's overhanging windows), or the number of non-padding elements when count_include_pad
        is False."""
        raise NotImplementedError

    def avgpool2d_backward(self, gy: Any, x_shape: tuple[int, ...], kernel_size: tuple[int, int],
                           stride: tuple[int, int], padding: tuple[int, int], count_include_pad: bool) -> Any:
        """dL/dx: each gy / divisor spread back over its window (gy's shape tells whether ceil_mode was on)."""
        raise NotImplementedError

    # ---- normalization ----
    def batch_norm_forward(self, x: Any, weight: Any, bias: Any, eps: float) -> tuple[Any, Any, Any]:
        """Training-mode batch norm of x (N, C, *) per channel: (y, mean (C,), biased var (C,));
        weight and bias (C,) may be None."""
        raise NotImplementedError

    def batch_norm_backward(self, gy: Any, x: Any, weight: Any, mean: Any, rstd: Any) -> tuple[Any, Any, Any]:
        """(dL/dx, dL/dweight, dL/dbias) of training-mode batch norm; rstd = 1 / sqrt(var + eps)."""
        raise NotImplementedError

    def layer_norm_forward(self, x: Any, weight: Any, bias: Any, eps: float) -> tuple[Any, Any, Any]:
        """Normalise each row of x (rows, d): (y, mean (rows,), rstd (rows,)); weight, bias (d,) may be None."""
        raise NotImplementedError

    def layer_norm_backward(self, gy: Any, x: Any, weight: Any, mean: Any, rstd: Any) -> tuple[Any, Any, Any]:
        """(dL/dx, dL/dweight, dL/dbias) of layer_norm_forward (the last two are None when weight is None)."""
        raise NotImplementedError

    # ---- recurrent cells: B = batch, H = hidden size; the gate matmuls stay outside (one matmul for all steps) ----
    def lstm_cell_forward(self, z: Any, c_prev: Any) -> tuple[Any, Any, Any]:
        """One LSTM step from the gate pre-activations z (B, 4H) = [i, f, g, o] and c_prev (B, H):
        (h, c, acts) with c = sigmoid(f) c_prev + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c), and
        acts (B, 4H) the activated gates [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)] saved for backward."""
        raise NotImplementedError

    def lstm_cell_backward(self, gh: Any, gc: Any, acts: Any, c_prev: Any, c: Any) -> tuple[Any, Any]:
        """(dL/dz (B, 4H), dL/dc_prev (B, H)) of lstm_cell_forward given dL/dh and dL/dc."""
        raise NotImplementedError

    def gru_cell_forward(self, a: Any, b: Any, h_prev: Any) -> tuple[Any, Any]:
        """One GRU step from a = x W_ih^T + b_ih and b = h_prev W_hh^T + b_hh, both (B, 3H) = [r, z, n]:
        (h, acts) with r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r b_n),
        h = (1 - z) n + z h_prev, and acts (B, 4H) = [r, z, n, b_n] saved for backward."""
        raise NotImplementedError

    def gru_cell_backward(self, gh: Any, acts: Any, h_prev: Any) -> tuple[Any, Any, Any]:
        """(dL/da, dL/db, dL/dh_prev through the z h_prev term only) of gru_cell_forward given dL/dh."""
        raise NotImplementedError

    # ---- attention: q (..., L, E), k (..., S, E), v (..., S, Ev) ----
    def attention_forward(self, q: Any, k: Any, v: Any, mask: Any, scale: float, is_causal: bool,
                          keep: Any) -> tuple[Any, Any]:
        """(out (..., L, Ev), state): out = dropout(softmax(scale q k^T + mask)) v. ``mask`` is None or an
        additive float array broadcasting to (..., L, S) (-inf where a key is not allowed); ``is_causal``
        lets query i see keys j <= i only; ``keep`` is None or the dropout multiplier (..., L, S) (0 or
        1/(1-p)). Rows with no allowed key give 0. ``state`` is whatever this backend's attention_backward
        needs (the reference keeps the probabilities (..., L, S))."""
        raise NotImplementedError

    def attention_backward(self, gout: Any, q: Any, k: Any, v: Any, out: Any, state: Any, mask: Any, scale: float,
                           is_causal: bool, keep: Any) -> tuple[Any, Any, Any]:
        """(dL/dq, dL/dk, dL/dv) of attention_forward given dL/dout and the forward's out and state."""
        raise NotImplementedError
