"""Inputs for every kernel of the backend contract, at a small and a large size.

One entry per name in ``minidl.backends.KERNELS`` (``tests/test_kernel_catalogue.py`` checks there is
one for each), so the asv suite times every kernel on every backend. A case is
``make(size, rng, dtype, xp) -> (args, kwargs, flops)`` where ``flops`` is the floating point
operation count (None where it is not well defined) for GFLOP/s tracking.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

# MINIDL_BENCH_SIZES=small limits the suite to the small inputs (CI's smoke run).
SIZES = tuple(os.environ.get("MINIDL_BENCH_SIZES", "small,large").split(","))
Case = Callable[[str, np.random.Generator, Any, Any], tuple[tuple, dict, float | None]]


def _randn(xp: Any, rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> Any:
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def _matmul(size, rng, dtype, xp):
    n = 64 if size == "small" else 512
    a, b = _randn(xp, rng, (n, n), dtype), _randn(xp, rng, (n, n), dtype)
    return (a, b), {}, 2.0 * n**3


def _rows(size, rng, dtype, xp):
    shape = (64, 128) if size == "small" else (4096, 1024)
    return _randn(xp, rng, shape, dtype), shape


def _softmax(size, rng, dtype, xp):
    x, shape = _rows(size, rng, dtype, xp)
    return (x, -1), {}, None


def _logsumexp(size, rng, dtype, xp):
    x, shape = _rows(size, rng, dtype, xp)
    return (x, (1,), False), {}, None


def _index_add(size, rng, dtype, xp):
    n, d, k = (100, 16, 256) if size == "small" else (10000, 128, 65536)
    index = xp.asarray(rng.integers(0, n, size=k))
    return ((n, d), index, _randn(xp, rng, (k, d), dtype)), {}, None


def _take_along_axis_add(size, rng, dtype, xp):
    n, c = (64, 10) if size == "small" else (4096, 1000)
    idx = xp.asarray(rng.integers(0, c, size=(n, 1)))
    return ((n, c), idx, _randn(xp, rng, (n, 1), dtype), 1), {}, None


def _optimizer_arrays(size, rng, dtype, xp, n_state):
    n = 10_000 if size == "small" else 1_000_000
    arrays = [_randn(xp, rng, (n,), dtype) for _ in range(2)]  # param, grad
    arrays += [xp.asarray(np.abs(rng.standard_normal(n)).astype(dtype)) for _ in range(n_state)]  # >= 0 state
    return n, arrays


def _sgd_update(size, rng, dtype, xp):
    n, (p, g, buf) = _optimizer_arrays(size, rng, dtype, xp, 1)
    return (p, g, buf, 0.01, 0.9, 0.0, 1e-4, True, False), {}, 6.0 * n


def _adam_update(size, rng, dtype, xp):
    n, (p, g, m, v) = _optimizer_arrays(size, rng, dtype, xp, 2)
    return (p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-2, 10, True), {}, 12.0 * n


def _rmsprop_update(size, rng, dtype, xp):
    n, (p, g, s, buf) = _optimizer_arrays(size, rng, dtype, xp, 2)
    return (p, g, s, 1e-3, 0.99, 1e-8, 0.0, 0.9), {"momentum_buffer": buf}, 10.0 * n


def _adagrad_update(size, rng, dtype, xp):
    n, (p, g, s) = _optimizer_arrays(size, rng, dtype, xp, 1)
    return (p, g, s, 10, 1e-2, 0.0, 0.0, 1e-10), {}, 7.0 * n


def _xent_inputs(size, rng, dtype, xp):
    n, c = (64, 10) if size == "small" else (4096, 1000)
    return _randn(xp, rng, (n, c), dtype), xp.asarray(rng.integers(0, c, size=n))


def _softmax_cross_entropy(size, rng, dtype, xp):
    x, target = _xent_inputs(size, rng, dtype, xp)
    return (x, target, -100), {}, None


def _softmax_cross_entropy_backward(size, rng, dtype, xp):
    x, target = _xent_inputs(size, rng, dtype, xp)
    m = x.max(axis=1)
    lse = m + xp.log(xp.exp(x - m[:, None]).sum(axis=1))
    return (x, target, lse, xp.ones_like(lse), -100), {}, None


def _embedding_backward(size, rng, dtype, xp):
    vocab, dim, shape = (100, 16, (8, 16)) if size == "small" else (10000, 256, (64, 256))
    indices = xp.asarray(rng.integers(0, vocab, size=shape))
    return (indices, _randn(xp, rng, (*shape, dim), dtype), vocab, None), {}, None


def _conv_geometry(size):
    # small: LeNet's second conv; large: a 3x3 conv of a CIFAR-sized ResNet block
    return ((8, 6, 14, 14), (16, 6, 5, 5)) if size == "small" else ((64, 32, 32, 32), (64, 32, 3, 3))


def _conv_flops(x_shape, w_shape):
    n, _, h, w = x_shape
    o, c, kh, kw = w_shape
    return 2.0 * n * o * c * kh * kw * (h - kh + 1) * (w - kw + 1)  # stride 1, no padding


def _im2col(size, rng, dtype, xp):
    xs, ws = _conv_geometry(size)
    return (_randn(xp, rng, xs, dtype), ws[2:], (1, 1), (0, 0), (1, 1)), {}, None


def _col2im(size, rng, dtype, xp):
    (n, c, h, w), (_, _, kh, kw) = _conv_geometry(size)
    cols = _randn(xp, rng, (n, c, kh, kw, h - kh + 1, w - kw + 1), dtype)
    return (cols, (n, c, h, w), (kh, kw), (1, 1), (0, 0), (1, 1)), {}, None


def _conv2d_forward(size, rng, dtype, xp):
    xs, ws = _conv_geometry(size)
    args = (_randn(xp, rng, xs, dtype), _randn(xp, rng, ws, dtype), _randn(xp, rng, ws[:1], dtype))
    return args + ((1, 1), (0, 0), (1, 1), 1), {}, _conv_flops(xs, ws)


def _conv_gy(xs, ws, rng, dtype, xp):
    return _randn(xp, rng, (xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1), dtype)


def _conv2d_backward_input(size, rng, dtype, xp):
    xs, ws = _conv_geometry(size)
    args = (_conv_gy(xs, ws, rng, dtype, xp), _randn(xp, rng, ws, dtype), xs)
    return args + ((1, 1), (0, 0), (1, 1), 1), {}, _conv_flops(xs, ws)


def _conv2d_backward_weight(size, rng, dtype, xp):
    xs, ws = _conv_geometry(size)
    args = (_randn(xp, rng, xs, dtype), _conv_gy(xs, ws, rng, dtype, xp), ws)
    return args + ((1, 1), (0, 0), (1, 1), 1), {}, _conv_flops(xs, ws)


def _pool_input(size):
    return (8, 6, 28, 28) if size == "small" else (64, 32, 26, 26)  # large: the MNIST CNN's pool


def _maxpool2d_forward(size, rng, dtype, xp):
    return (_randn(xp, rng, _pool_input(size), dtype), (2, 2), (2, 2), (0, 0)), {}, None


def _maxpool2d_backward(size, rng, dtype, xp):
    xs = _pool_input(size)
    x = rng.standard_normal(xs).astype(dtype)
    n, c, h, w = xs
    # the argmax of each 2x2 window, as the forward kernel returns it (flat index in the (H, W) plane)
    windows = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    k = windows.reshape(n, c, h // 2, w // 2, 4).argmax(-1)
    rows, cols = np.arange(h // 2)[:, None] * 2 + k // 2, np.arange(w // 2)[None, :] * 2 + k % 2
    gy = _randn(xp, rng, k.shape, dtype)
    return (gy, xp.asarray(rows * w + cols), xs, (2, 2), (2, 2), (0, 0)), {}, None


def _avgpool2d_forward(size, rng, dtype, xp):
    return (_randn(xp, rng, _pool_input(size), dtype), (2, 2), (2, 2), (0, 0), True), {}, None


def _avgpool2d_backward(size, rng, dtype, xp):
    n, c, h, w = xs = _pool_input(size)
    return (_randn(xp, rng, (n, c, h // 2, w // 2), dtype), xs, (2, 2), (2, 2), (0, 0), True), {}, None


def _batch_norm(size, rng, dtype, xp, backward):
    xs = (8, 6, 14, 14) if size == "small" else (64, 32, 26, 26)
    x, w, b = _randn(xp, rng, xs, dtype), _randn(xp, rng, xs[1:2], dtype), _randn(xp, rng, xs[1:2], dtype)
    if not backward:
        return (x, w, b, 1e-5), {}, None
    mean, rstd = x.mean(axis=(0, 2, 3)), 1 / xp.sqrt(x.var(axis=(0, 2, 3)) + 1e-5)
    return (_randn(xp, rng, xs, dtype), x, w, mean, rstd), {}, None


def _layer_norm(size, rng, dtype, xp, backward):
    rows, d = (64, 128) if size == "small" else (4096, 1024)
    x, w, b = _randn(xp, rng, (rows, d), dtype), _randn(xp, rng, (d,), dtype), _randn(xp, rng, (d,), dtype)
    if not backward:
        return (x, w, b, 1e-5), {}, None
    mean, rstd = x.mean(axis=1), 1 / xp.sqrt(x.var(axis=1) + 1e-5)
    return (_randn(xp, rng, (rows, d), dtype), x, w, mean, rstd), {}, None


def _lstm_cell(size, rng, dtype, xp, backward):
    B, H = (8, 32) if size == "small" else (32, 256)  # large: W3's LSTM step
    z, c_prev = _randn(xp, rng, (B, 4 * H), dtype), _randn(xp, rng, (B, H), dtype)
    if not backward:
        return (z, c_prev), {}, None
    acts = xp.tanh(z * 0.5) * 0.5 + 0.5
    acts[:, 2 * H:3 * H] = xp.tanh(z[:, 2 * H:3 * H])
    c = acts[:, H:2 * H] * c_prev + acts[:, :H] * acts[:, 2 * H:3 * H]
    return (_randn(xp, rng, (B, H), dtype), _randn(xp, rng, (B, H), dtype), acts, c_prev, c), {}, None


def _gru_cell(size, rng, dtype, xp, backward):
    B, H = (8, 32) if size == "small" else (32, 256)
    a, b = _randn(xp, rng, (B, 3 * H), dtype), _randn(xp, rng, (B, 3 * H), dtype)
    h_prev = _randn(xp, rng, (B, H), dtype)
    if not backward:
        return (a, b, h_prev), {}, None
    acts = xp.concatenate([xp.tanh(a[:, :2 * H]) * 0.5 + 0.5, xp.tanh(a[:, 2 * H:]), b[:, 2 * H:]], axis=1)
    return (_randn(xp, rng, (B, H), dtype), acts, h_prev), {}, None


def _attention(size, rng, dtype, xp, backward):
    # small: one head of a toy model; large: W4's causal self-attention (batch 16, 4 heads, 64 tokens, 32 per head)
    B, H, T, D = (1, 2, 16, 16) if size == "small" else (16, 4, 64, 32)
    q, k, v = (_randn(xp, rng, (B, H, T, D), dtype) for _ in range(3))
    flops = 4.0 * B * H * T * T * D
    scale = 1 / float(np.sqrt(D))
    if not backward:
        return (q, k, v, None, scale, True, None), {}, flops
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * scale
    s = xp.where(xp.tril(xp.ones((T, T), dtype=bool)), s, -xp.inf)
    p = xp.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = xp.matmul(p, v)
    return (_randn(xp, rng, (B, H, T, D), dtype), q, k, v, out, p, None, scale, True, None), {}, 2 * flops


CASES: dict[str, Case] = {
    "matmul": _matmul,
    "softmax": _softmax,
    "log_softmax": _softmax,
    "logsumexp": _logsumexp,
    "index_add": _index_add,
    "take_along_axis_add": _take_along_axis_add,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "softmax_cross_entropy_backward": _softmax_cross_entropy_backward,
    "embedding_backward": _embedding_backward,
    "sgd_update": _sgd_update,
    "adam_update": _adam_update,
    "rmsprop_update": _rmsprop_update,
    "adagrad_update": _adagrad_update,
    "im2col": _im2col,
    "col2im": _col2im,
    "conv2d_forward": _conv2d_forward,
    "conv2d_backward_input": _conv2d_backward_input,
    "conv2d_backward_weight": _conv2d_backward_weight,
    "maxpool2d_forward": _maxpool2d_forward,
    "maxpool2d_backward": _maxpool2d_backward,
    "avgpool2d_forward": _avgpool2d_forward,
    "avgpool2d_backward": _avgpool2d_backward,
    "batch_norm_forward": lambda size, rng, dtype, xp: _batch_norm(size, rng, dtype, xp, False),
    "batch_norm_backward": lambda size, rng, dtype, xp: _batch_norm(size, rng, dtype, xp, True),
    "layer_norm_forward": lambda size, rng, dtype, xp: _layer_norm(size, rng, dtype, xp, False),
    "layer_norm_backward": lambda size, rng, dtype, xp: _layer_norm(size, rng, dtype, xp, True),
    "lstm_cell_forward": lambda size, rng, dtype, xp: _lstm_cell(size, rng, dtype, xp, False),
    "lstm_cell_backward": lambda size, rng, dtype, xp: _lstm_cell(size, rng, dtype, xp, True),
    "gru_cell_forward": lambda size, rng, dtype, xp: _gru_cell(size, rng, dtype, xp, False),
    "gru_cell_backward": lambda size, rng, dtype, xp: _gru_cell(size, rng, dtype, xp, True),
    "attention_forward": lambda size, rng, dtype, xp: _attention(size, rng, dtype, xp, False),
    "attention_backward": lambda size, rng, dtype, xp: _attention(size, rng, dtype, xp, True),
}
