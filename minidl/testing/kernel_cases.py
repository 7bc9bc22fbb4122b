"""The one table of kernel inputs: every kernel of the backend contract, at every size that is used.

Each ``KernelCase`` names a kernel of the contract (``minidl.backends.KERNELS``) and builds its arguments
(NumPy arrays and plain Python values) from a seeded generator. Everything that calls a kernel on made-up
inputs reads this table:

* ``size="tiny"`` rows are the correctness checks: ``check_case`` runs the kernel on a backend and on the
  NumPy reference and compares every output. The Numba tests (``tests/backends/test_numba_kernels.py``),
  the GPU self-test (``python -m minidl.testing.gpu_selftest``, also in Numba's CUDA simulator, where every
  GPU thread is a Python thread: keep these shapes tiny), the CuPy launch checks (``tests/gpu``) and
  ``benchmarks/gpu_smoke.py`` run them.
* ``size="small"`` and ``size="large"`` rows are what asv times (``benchmarks/bench_kernels.py``), one of
  each per kernel; ``flops`` is their floating point operation count, where it is well defined.

``strided=True`` passes every array argument of two or more dimensions as a non-contiguous view (every other
column of a wider array), to check that a kernel copies or falls back to the reference rather than reading the
wrong elements. ``tol`` overrides the default tolerances per dtype or per backend and dtype.

Adding a kernel: one tiny row (more for its awkward cases) and one ``_bench`` entry here, the kernel itself,
its line in ``kernels/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minidl.backends.base import KERNELS, Backend
from minidl.backends.numpy_backend import NumpyBackend

Args = Callable[[np.random.Generator, Any], tuple[Any, ...]]
DEFAULT_TOL = {"float32": (2e-5, 2e-6), "float64": (1e-10, 1e-12)}  # (rtol, atol)


@dataclass
class KernelCase:
    kernel: str  # a name from KERNELS
    args: Args  # (rng, dtype) -> the kernel's arguments, NumPy arrays and plain values
    label: str = ""
    size: str = "tiny"  # "tiny": a correctness check; "small", "large": the sizes asv times
    strided: bool = False  # pass arrays of 2 or more dims as non-contiguous views
    # (rtol, atol) by "float32" / "float64", or by "<backend> float32" for one backend only
    tol: dict[str, tuple[float, float]] = field(default_factory=dict)
    # how to call it, when not ``getattr(backend, kernel)(*args)`` (e.g. a backward that needs the
    # backend's own forward state)
    call: Callable[[Backend, list[Any]], Any] | None = None
    compare: tuple[int, ...] | None = None  # which outputs to compare (default: all)
    flops: float | None = None  # floating point operations of one call (benchmark rows)

    @property
    def id(self) -> str:
        label = ", ".join(x for x in (self.label, "strided" if self.strided else "") if x)
        return f"{self.kernel}[{label}]" if label else self.kernel

    def tolerance(self, backend: str, dtype: Any) -> tuple[float, float]:
        """(rtol, atol) for ``backend``'s result in ``dtype``."""
        name = np.dtype(dtype).name
        return self.tol.get(f"{backend} {name}", self.tol.get(name, DEFAULT_TOL.get(name, DEFAULT_TOL["float32"])))


def normal(rng: np.random.Generator, dtype: Any, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def distinct(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    """Values 0.1 apart in random order: a max has no ties."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1).astype(dtype)


REF = NumpyBackend()
TARGETS = np.array([1, -100, 6, 0])  # -100: an ignored row
LOOSE = {"float32": (1e-4, 1e-5)}  # kernels that sum many terms in float32
CONV = {"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-11)}


# ---------------------------------------------------------------------------------- tiny argument builders
def _xent_backward_args(r, t):
    x = normal(r, t, 4, 7, scale=2)
    return x, TARGETS, REF.softmax_cross_entropy(x, TARGETS, -100)[1], normal(r, t, 4), -100


def _adam_args(r, t, decoupled, amsgrad, maximize):
    p, g, m = normal(r, t, 3, 17), normal(r, t, 3, 17), normal(r, t, 3, 17, scale=0.1)
    v = (r.random((3, 17)) * 0.1).astype(t)
    vmax = (v + r.random((3, 17)) * 0.05).astype(t) if amsgrad else None
    return p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.05, 3, decoupled, vmax, maximize


def _adam_foreach_args(r, t, decoupled, amsgrad, maximize):
    """Three tensors of different shapes, each (p, g, m, v[, vmax]) as top-level arguments (so that the check
    compares every array after the in-place update); ``_adam_foreach_call`` regroups them into lists."""
    arrays = []
    for shape in ((3, 17), (5,), (2, 3, 4)):
        p, g, m = normal(r, t, *shape), normal(r, t, *shape), normal(r, t, *shape, scale=0.1)
        v = (r.random(shape) * 0.1).astype(t)
        arrays += [p, g, m, v] + ([(v + r.random(shape) * 0.05).astype(t)] if amsgrad else [])
    return (*arrays, 1e-2, 0.9, 0.999, 1e-8, 0.05, 3, decoupled, maximize)


def _adam_foreach_call(backend, args):
    *arrays, lr, b1, b2, eps, wd, step, decoupled, maximize = args
    k = len(arrays) // 3
    lists = [arrays[i::k] for i in range(k)]  # params, grads, exp_avgs, exp_avg_sqs[, max_exp_avg_sqs]
    return backend.foreach_adam_update(*lists[:4], lr, b1, b2, eps, wd, step, decoupled,
                                       lists[4] if k == 5 else None, maximize)


def _sgd_args(r, t, momentum, buffer, nesterov=False, maximize=False):
    p, g = normal(r, t, 3, 17), normal(r, t, 3, 17)
    buf = normal(r, t, 3, 17) if buffer else None
    return p, g, buf, 0.1, momentum, 0.1 if not nesterov else 0.0, 0.01, nesterov, maximize


def _maxpool_backward_args(r, t, k, s, p):
    x = distinct(r, t, 2, 2, 5, 6)
    _, indices = REF.maxpool2d_forward(x, k, s, p)
    return normal(r, t, *indices.shape), indices, x.shape, k, s, p


def _layer_norm_backward_args(r, t, affine):
    x = normal(r, t, 3, 40)
    w = normal(r, t, 40) if affine else None
    _, mean, rstd = REF.layer_norm_forward(x, w, None, 1e-5)
    return normal(r, t, 3, 40), x, w, mean, rstd


def _batch_norm_backward_args(r, t, shape):
    x, w = normal(r, t, *shape, scale=2), normal(r, t, shape[1])
    _, mean, var = REF.batch_norm_forward(x, w, None, 1e-5)
    return normal(r, t, *shape), x, w, mean, (1 / np.sqrt(var + 1e-5)).astype(t)


def _lstm_backward_args(r, t, B=3, H=5):
    z, c_prev = normal(r, t, B, 4 * H), normal(r, t, B, H)
    _, c, acts = REF.lstm_cell_forward(z, c_prev)
    return normal(r, t, B, H), normal(r, t, B, H), acts, c_prev, c


def _gru_backward_args(r, t, B=3, H=5):
    h_prev = normal(r, t, B, H)
    _, acts = REF.gru_cell_forward(normal(r, t, B, 3 * H), normal(r, t, B, 3 * H), h_prev)
    return normal(r, t, B, H), acts, h_prev


def _attention_args(r, t, causal, mask=False, L=5):
    q, k, v = normal(r, t, 2, 2, L, 3), normal(r, t, 2, 2, 6, 3), normal(r, t, 2, 2, 6, 3)
    m = np.where(r.random((L, 6)) < 0.3, -np.inf, 0).astype(t) if mask else None
    return q, k, v, m, 0.6, causal, None


def _attention_backward(backend: Backend, args: list[Any]) -> Any:
    """Forward then backward on the same backend (its state is its own business), with a fixed dL/dout."""
    q, k, v, mask, scale, causal, keep = args
    out, state = backend.attention_forward(q, k, v, mask, scale, causal, keep)
    gout = backend.asarray(np.linspace(-1, 1, int(np.prod(out.shape))).reshape(out.shape).astype(out.dtype))
    return backend.attention_backward(gout, q, k, v, out, state, mask, scale, causal, keep)


def _int8_args(r, t, M, K, N, signed=False):
    """uint8 (or int8) activations with a zero point and int8 weights (the dtype argument does not apply)."""
    a = r.integers(-128, 128, size=(M, K)) if signed else r.integers(0, 256, size=(M, K))
    a = a.astype(np.int8 if signed else np.uint8)
    return a, 0 if signed else 113, r.integers(-128, 128, size=(N, K)).astype(np.int8)


def _requantize_args(r, t, M=5, N=7, bias=True):
    acc = r.integers(-40000, 40000, size=(M, N)).astype(np.int32)
    multiplier = (r.random(N) * 1e-4 + 1e-5).astype(np.float32)
    return acc, multiplier, normal(r, np.float32, N) if bias else None, 0.02, 60, 0, 255


def _conv_args(r, t, xs, ws, geometry, which):
    x, w, b = normal(r, t, *xs), normal(r, t, *ws), normal(r, t, ws[0])
    if which == "forward":
        return (x, w, b, *geometry)
    gy = normal(r, t, *REF.conv2d_forward(x, w, None, *geometry).shape)
    return (gy, w, xs, *geometry) if which == "input" else (x, gy, ws, *geometry)


# ----------------------------------------------------------------------------------------- the tiny rows
_TINY: list[KernelCase] = [
    KernelCase("matmul", lambda r, t: (normal(r, t, 2, 3, 4), normal(r, t, 4, 5)), "broadcast batch"),
    KernelCase("erf", lambda r, t: (normal(r, t, 3, 50, scale=2),), tol={"float32": (1e-6, 5e-7)}),
    KernelCase("gelu_forward", lambda r, t: (normal(r, t, 3, 50, scale=3), "none"), "erf",
               tol={"float32": (1e-5, 1e-6)}),
    KernelCase("gelu_forward", lambda r, t: (normal(r, t, 3, 50, scale=3), "tanh"), "tanh",
               tol={"float32": (1e-5, 1e-6)}),
    KernelCase("gelu_forward", lambda r, t: (normal(r, t, 3, 50, scale=3), "none"), "erf", strided=True,
               tol={"float32": (1e-5, 1e-6)}),
    KernelCase("gelu_backward", lambda r, t: (normal(r, t, 3, 50), normal(r, t, 3, 50, scale=3), "none"), "erf",
               tol={"float32": (1e-5, 2e-6)}),
    KernelCase("gelu_backward", lambda r, t: (normal(r, t, 3, 50), normal(r, t, 3, 50, scale=3), "tanh"), "tanh",
               tol={"float32": (1e-5, 2e-6)}),
    KernelCase("gelu_backward", lambda r, t: (normal(r, t, 3, 50), normal(r, t, 3, 50, scale=3), "none"), "erf",
               strided=True, tol={"float32": (1e-5, 2e-6)}),
    KernelCase("softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 2, 2, 70, scale=3), -1), "rows longer than a block"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 4, 3), 0), "axis 0 (reference fallback)"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5", strided=True),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 2, 70, scale=30), -1), "large logits"),
    KernelCase("logsumexp", lambda r, t: (normal(r, t, 3, 5, scale=3), (1,), False), "3x5"),
    KernelCase("index_add", lambda r, t: ((5, 4), np.array([3, -1, 3, 0, 3, 4]), normal(r, t, 6, 4)),
               "repeats, a negative index"),
    KernelCase("take_along_axis_add", lambda r, t: ((4, 6), np.array([[1], [5], [1], [0]]), normal(r, t, 4, 1), 1)),
    KernelCase("softmax_cross_entropy", lambda r, t: (normal(r, t, 4, 7, scale=2), TARGETS, -100), "ignore_index"),
    KernelCase("softmax_cross_entropy", lambda r, t: (normal(r, t, 2, 40, scale=2), np.array([39, 3]), -100),
               "rows longer than a block"),
    KernelCase("softmax_cross_entropy", lambda r, t: (normal(r, t, 4, 7, scale=2), TARGETS, -100), "ignore_index",
               strided=True),
    KernelCase("softmax_cross_entropy_backward", _xent_backward_args, "ignore_index"),
    KernelCase("embedding_backward", lambda r, t: (np.array([[3, 0, 3], [5, 2, 3]]), normal(r, t, 2, 3, 4), 6, 2),
               "repeats, padding"),
    KernelCase("embedding_backward", lambda r, t: (np.array([1, 1, 0]), normal(r, t, 3, 4), 2, None), "no padding"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.0, False), "plain"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, False), "momentum, first step"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, True), "momentum, dampening"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, True, nesterov=True, maximize=True),
               "nesterov, maximize"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, True), "momentum, dampening", strided=True),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, False, False, False), "Adam"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, True, False, False), "AdamW"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, False, True, True), "AMSGrad, maximize"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, True, False, False), "AdamW", strided=True),
    KernelCase("foreach_adam_update", lambda r, t: _adam_foreach_args(r, t, True, False, False), "AdamW",
               call=_adam_foreach_call),
    KernelCase("foreach_adam_update", lambda r, t: _adam_foreach_args(r, t, False, True, True), "AMSGrad, maximize",
               call=_adam_foreach_call),
    KernelCase("foreach_adam_update", lambda r, t: _adam_foreach_args(r, t, False, False, False), "Adam, strided",
               call=_adam_foreach_call, strided=True),
    KernelCase("rmsprop_update", lambda r, t: (normal(r, t, 3, 7), normal(r, t, 3, 7), normal(r, t, 3, 7) ** 2, 1e-2,
                                               0.99, 1e-8, 0.01, 0.9, None, normal(r, t, 3, 7)), "momentum"),
    KernelCase("adagrad_update", lambda r, t: (normal(r, t, 3, 7), normal(r, t, 3, 7), normal(r, t, 3, 7) ** 2, 3,
                                               1e-2, 0.1, 0.01, 1e-10)),
    KernelCase("im2col", lambda r, t: (normal(r, t, 2, 2, 5, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
               "stride, padding, dilation"),
    KernelCase("im2col", lambda r, t: (normal(r, t, 2, 2, 5, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
               "stride, padding, dilation", strided=True),
    KernelCase("col2im", lambda r, t: (normal(r, t, 2, 2, 2, 3, 3, 8), (2, 2, 5, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
               "stride, padding, dilation"),
    KernelCase("conv2d_forward", lambda r, t: _conv_args(r, t, (2, 4, 6, 6), (3, 4, 3, 3), ((1, 1), (1, 1), (1, 1), 1),
                                                         "forward"), "direct", tol=CONV),
    KernelCase("conv2d_forward", lambda r, t: _conv_args(r, t, (2, 4, 7, 6), (4, 2, 3, 2), ((2, 1), (1, 0), (1, 2), 2),
                                                         "forward"), "strided, dilated, groups", tol=CONV),
    KernelCase("conv2d_forward", lambda r, t: _conv_args(r, t, (2, 4, 6, 6), (3, 4, 3, 3), ((1, 1), (1, 1), (1, 1), 1),
                                                         "forward"), "direct", strided=True, tol=CONV),
    KernelCase("conv2d_backward_input", lambda r, t: _conv_args(r, t, (2, 4, 6, 6), (3, 4, 3, 3),
                                                                ((1, 1), (1, 1), (1, 1), 1), "input"), "direct",
               tol=CONV),
    KernelCase("conv2d_backward_weight", lambda r, t: _conv_args(r, t, (2, 4, 6, 6), (3, 4, 3, 3),
                                                                 ((1, 1), (1, 1), (1, 1), 1), "weight"), "direct",
               tol=CONV),
    KernelCase("maxpool2d_forward", lambda r, t: (distinct(r, t, 2, 2, 5, 6), (3, 2), (2, 1), (1, 1)),
               "overlapping, padded"),
    KernelCase("maxpool2d_forward", lambda r, t: (distinct(r, t, 1, 2, 4, 6), (2, 2), (2, 2), (0, 0)), "2x2"),
    KernelCase("maxpool2d_forward", lambda r, t: (distinct(r, t, 1, 2, 4, 6), (2, 2), (2, 2), (0, 0)), "2x2",
               strided=True),
    KernelCase("maxpool2d_backward", lambda r, t: _maxpool_backward_args(r, t, (3, 2), (2, 1), (1, 1)),
               "overlapping, padded"),
    KernelCase("maxpool2d_backward", lambda r, t: _maxpool_backward_args(r, t, (2, 2), (2, 2), (0, 0)), "2x2"),
    KernelCase("avgpool2d_forward", lambda r, t: (normal(r, t, 2, 2, 5, 6), (3, 2), (2, 1), (1, 1), False),
               "padded, count_include_pad=False"),
    KernelCase("avgpool2d_backward", lambda r, t: (normal(r, t, 2, 2, 3, 6), (2, 2, 5, 6), (3, 2), (2, 1), (1, 1),
                                                   True), "padded"),
    KernelCase("batch_norm_forward", lambda r, t: (normal(r, t, 4, 3, 5, scale=2), normal(r, t, 3), normal(r, t, 3),
                                                   1e-5), tol=LOOSE),
    KernelCase("batch_norm_backward", lambda r, t: _batch_norm_backward_args(r, t, (4, 3, 5)), tol=LOOSE),
    KernelCase("layer_norm_forward", lambda r, t: (normal(r, t, 3, 40), normal(r, t, 40), normal(r, t, 40), 1e-5),
               "affine", tol=LOOSE),
    KernelCase("layer_norm_forward", lambda r, t: (normal(r, t, 3, 40), None, None, 1e-5), "no affine", tol=LOOSE),
    KernelCase("layer_norm_forward", lambda r, t: (normal(r, t, 3, 40), normal(r, t, 40), normal(r, t, 40), 1e-5),
               "affine", strided=True, tol=LOOSE),
    KernelCase("layer_norm_backward", lambda r, t: _layer_norm_backward_args(r, t, True), "affine", tol=LOOSE),
    KernelCase("layer_norm_backward", lambda r, t: _layer_norm_backward_args(r, t, False), "no affine", tol=LOOSE),
    KernelCase("lstm_cell_forward", lambda r, t: (normal(r, t, 3, 20), normal(r, t, 3, 5))),
    KernelCase("lstm_cell_forward", lambda r, t: (normal(r, t, 3, 20), normal(r, t, 3, 5)), strided=True),
    KernelCase("lstm_cell_backward", _lstm_backward_args),
    KernelCase("gru_cell_forward", lambda r, t: (normal(r, t, 3, 15), normal(r, t, 3, 15), normal(r, t, 3, 5))),
    KernelCase("gru_cell_backward", _gru_backward_args),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, False), "full", compare=(0,)),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, True, L=11), "causal, 11 queries",
               compare=(0,)),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, False, mask=True),
               "mask (reference fallback)", compare=(0,)),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, True), "causal", compare=(0,), strided=True),
    KernelCase("attention_backward", lambda r, t: _attention_args(r, t, False), "full", call=_attention_backward),
    KernelCase("attention_backward", lambda r, t: _attention_args(r, t, True, L=11), "causal, 11 queries",
               call=_attention_backward),
    KernelCase("int8_matmul", lambda r, t: _int8_args(r, t, 5, 37, 6), "uint8 x int8, zero point 113"),
    KernelCase("int8_matmul", lambda r, t: _int8_args(r, t, 3, 70, 4, signed=True), "int8 x int8"),
    KernelCase("int8_matmul", lambda r, t: _int8_args(r, t, 1, 1, 1), "1x1"),
    KernelCase("requantize", _requantize_args),
    KernelCase("requantize", lambda r, t: _requantize_args(r, t, bias=False), "no bias"),
]


# ---------------------------------------------------------------------------- benchmark rows (small, large)
def _bench(size: str) -> list[KernelCase]:
    """One row per kernel at ``size`` ("small" or "large"), float32 in the asv suite."""
    small = size == "small"
    n = 64 if small else 512  # matmul
    rows, d = (64, 128) if small else (4096, 1024)  # softmax family, layer norm
    classes = 10 if small else 1000
    vocab, dim, tokens = (100, 16, (8, 16)) if small else (10000, 256, (64, 256))
    m = 10_000 if small else 1_000_000  # optimizer parameters
    # small: LeNet's second conv; large: a 3x3 conv of a CIFAR-sized ResNet block (stride 1, no padding)
    (N, C, H, W), (O, _, kh, kw) = ((8, 6, 14, 14), (16, 6, 5, 5)) if small else ((64, 32, 32, 32), (64, 32, 3, 3))
    conv_flops = 2.0 * N * O * C * kh * kw * (H - kh + 1) * (W - kw + 1)
    conv = ((1, 1), (0, 0), (1, 1), 1)
    pool = (8, 6, 28, 28) if small else (64, 32, 26, 26)  # large: the MNIST CNN's pool
    bn = (8, 6, 14, 14) if small else (64, 32, 26, 26)
    B, Hc = (8, 32) if small else (32, 256)  # large: W3's LSTM step
    # small: one head of a toy model; large: W4's causal self-attention (batch 16, 4 heads, 64 tokens, 32 per head)
    ab, ah, at, ad = (1, 2, 16, 16) if small else (16, 4, 64, 32)
    att_flops = 4.0 * ab * ah * at * at * ad

    def opt(r, t, k):  # param, grad, then k state arrays >= 0
        return [normal(r, t, m), normal(r, t, m)] + [np.abs(normal(r, t, m)) for _ in range(k)]

    def xent(r, t):
        return normal(r, t, rows, classes), r.integers(0, classes, size=rows)

    def attention(r, t):
        q, k, v = (normal(r, t, ab, ah, at, ad) for _ in range(3))
        return q, k, v, None, 1 / float(np.sqrt(ad)), True, None

    def attention_backward(r, t):
        q, k, v, mask, scale, causal, keep = attention(r, t)
        out, p = REF.attention_forward(q, k, v, mask, scale, causal, keep)
        return normal(r, t, *q.shape), q, k, v, out, p, mask, scale, causal, keep

    def maxpool_backward(r, t):
        _, idx = REF.maxpool2d_forward(normal(r, t, *pool), (2, 2), (2, 2), (0, 0))
        return normal(r, t, *idx.shape), idx, pool, (2, 2), (2, 2), (0, 0)

    def layer_norm_backward(r, t):
        x = normal(r, t, rows, d)
        _, mean, rstd = REF.layer_norm_forward(x, None, None, 1e-5)
        return normal(r, t, rows, d), x, normal(r, t, d), mean, rstd

    def row(kernel: str, args: Args, flops: float | None = None) -> KernelCase:
        return KernelCase(kernel, args, size, size=size, flops=flops)

    return [
        row("matmul", lambda r, t: (normal(r, t, n, n), normal(r, t, n, n)), 2.0 * n**3),
        row("erf", lambda r, t: (normal(r, t, rows, d),)),
        row("gelu_forward", lambda r, t: (normal(r, t, rows, d), "none")),
        row("gelu_backward", lambda r, t: (normal(r, t, rows, d), normal(r, t, rows, d), "none")),
        row("softmax", lambda r, t: (normal(r, t, rows, d), -1)),
        row("log_softmax", lambda r, t: (normal(r, t, rows, d), -1)),
        row("logsumexp", lambda r, t: (normal(r, t, rows, d), (1,), False)),
        row("index_add", lambda r, t: ((vocab, dim), r.integers(0, vocab, size=tokens[0] * tokens[1]),
                                       normal(r, t, tokens[0] * tokens[1], dim))),
        row("take_along_axis_add", lambda r, t: ((rows, classes), r.integers(0, classes, size=(rows, 1)),
                                                 normal(r, t, rows, 1), 1)),
        row("softmax_cross_entropy", lambda r, t: (*xent(r, t), -100)),
        row("softmax_cross_entropy_backward", lambda r, t: (
            *(xt := xent(r, t)), REF.softmax_cross_entropy(*xt, -100)[1], np.ones(rows, t), -100)),
        row("embedding_backward", lambda r, t: (r.integers(0, vocab, size=tokens), normal(r, t, *tokens, dim), vocab,
                                                None)),
        row("sgd_update", lambda r, t: (*opt(r, t, 1), 0.01, 0.9, 0.0, 1e-4, True, False), 6.0 * m),
        row("adam_update", lambda r, t: (*opt(r, t, 2), 1e-3, 0.9, 0.999, 1e-8, 1e-2, 10, True), 12.0 * m),
        KernelCase("foreach_adam_update", lambda r, t: _adam_foreach_args(r, t, True, False, False), size,
                   size=size, call=_adam_foreach_call),
        row("rmsprop_update", lambda r, t: (*opt(r, t, 1), 1e-3, 0.99, 1e-8, 0.0, 0.9, None, np.abs(normal(r, t, m))),
            10.0 * m),
        row("adagrad_update", lambda r, t: (*opt(r, t, 1), 10, 1e-2, 0.0, 0.0, 1e-10), 7.0 * m),
        row("im2col", lambda r, t: (normal(r, t, N, C, H, W), (kh, kw), (1, 1), (0, 0), (1, 1))),
        row("col2im", lambda r, t: (normal(r, t, N, C, kh, kw, H - kh + 1, W - kw + 1), (N, C, H, W), (kh, kw),
                                    (1, 1), (0, 0), (1, 1))),
        row("conv2d_forward", lambda r, t: (normal(r, t, N, C, H, W), normal(r, t, O, C, kh, kw), normal(r, t, O),
                                            *conv), conv_flops),
        row("conv2d_backward_input", lambda r, t: (normal(r, t, N, O, H - kh + 1, W - kw + 1),
                                                   normal(r, t, O, C, kh, kw), (N, C, H, W), *conv), conv_flops),
        row("conv2d_backward_weight", lambda r, t: (normal(r, t, N, C, H, W), normal(r, t, N, O, H - kh + 1,
                                                                                     W - kw + 1), (O, C, kh, kw),
                                                    *conv), conv_flops),
        row("maxpool2d_forward", lambda r, t: (normal(r, t, *pool), (2, 2), (2, 2), (0, 0))),
        row("maxpool2d_backward", maxpool_backward),
        row("avgpool2d_forward", lambda r, t: (normal(r, t, *pool), (2, 2), (2, 2), (0, 0), True)),
        row("avgpool2d_backward", lambda r, t: (normal(r, t, pool[0], pool[1], pool[2] // 2, pool[3] // 2), pool,
                                                (2, 2), (2, 2), (0, 0), True)),
        row("batch_norm_forward", lambda r, t: (normal(r, t, *bn), normal(r, t, bn[1]), normal(r, t, bn[1]), 1e-5)),
        row("batch_norm_backward", lambda r, t: _batch_norm_backward_args(r, t, bn)),
        row("layer_norm_forward", lambda r, t: (normal(r, t, rows, d), normal(r, t, d), normal(r, t, d), 1e-5)),
        row("layer_norm_backward", layer_norm_backward),
        # the MNIST CNN's first Linear at a test batch (small: 64 rows of a 128 -> 128 layer)
        row("int8_matmul", lambda r, t: _int8_args(r, t, *((64, 128, 128) if small else (1000, 5408, 128))),
            2.0 * 64 * 128 * 128 if small else 2.0 * 1000 * 5408 * 128),
        row("requantize", lambda r, t: _requantize_args(r, t, *((64, 128) if small else (1000, 128)))),
        row("lstm_cell_forward", lambda r, t: (normal(r, t, B, 4 * Hc), normal(r, t, B, Hc))),
        row("lstm_cell_backward", lambda r, t: _lstm_backward_args(r, t, B, Hc)),
        row("gru_cell_forward", lambda r, t: (normal(r, t, B, 3 * Hc), normal(r, t, B, 3 * Hc), normal(r, t, B, Hc))),
        row("gru_cell_backward", lambda r, t: _gru_backward_args(r, t, B, Hc)),
        row("attention_forward", attention, att_flops),
        row("attention_backward", attention_backward, 2 * att_flops),
    ]


_ALL_CASES: list[KernelCase] = _TINY + _bench("small") + _bench("large")
#: every case whose kernel is in the contract (a case may be written before its kernel lands there)
ALL_CASES: list[KernelCase] = [c for c in _ALL_CASES if c.kernel in KERNELS]
#: the correctness checks (tiny shapes)
CASES: list[KernelCase] = [c for c in ALL_CASES if c.size == "tiny"]


def bench_case(kernel: str, size: str) -> KernelCase:
    """The benchmark row of ``kernel`` at ``size`` ("small" or "large")."""
    for case in ALL_CASES:
        if case.kernel == kernel and case.size == size:
            return case
    raise KeyError(f"minidl/testing/kernel_cases.py has no {size!r} row for the kernel {kernel!r}")


def _strided(backend: Backend, a: Any) -> Any:
    """``a`` as a non-contiguous view with the same values: every other column of an array twice as wide."""
    wide = backend.xp.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    view = wide[..., ::2]
    view[...] = a
    return view


def case_args(backend: Backend, case: KernelCase, dtype: Any, seed: int = 0) -> list[Any]:
    """The case's arguments as ``backend``'s arrays (non-contiguous views for a strided case)."""
    args = [backend.asarray(a) if isinstance(a, np.ndarray) else a
            for a in case.args(np.random.default_rng(seed), dtype)]
    if case.strided:
        args = [_strided(backend, a) if getattr(a, "ndim", 0) >= 2 and a.dtype.kind == "f" else a for a in args]
    return args


def call_case(backend: Backend, case: KernelCase, args: list[Any]) -> Any:
    """Run the case's kernel on ``backend`` with ``args``."""
    return case.call(backend, args) if case.call else getattr(backend, case.kernel)(*args)


def _outputs(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def run_kernel(backend: Backend, case: KernelCase, dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The kernel's outputs on ``backend`` for the case's arguments, then its array arguments after the
    call, as NumPy arrays."""
    args = case_args(backend, case, dtype, seed)
    result = call_case(backend, case, args)
    outputs = () if result is None else _outputs(result)
    if case.compare is not None:
        outputs = tuple(outputs[i] for i in case.compare)
    # then the array arguments as they are after the call: in-place kernels (optimizers) update them,
    # the others must leave them alone
    outputs += tuple(a for a in args if hasattr(a, "shape"))
    return tuple(backend.to_numpy(o) if o is not None else None for o in outputs)


def check_case(backend: Backend, case: KernelCase, dtype: Any) -> None:
    """Assert the kernel on ``backend`` matches the NumPy reference (raises AssertionError)."""
    got = run_kernel(backend, case, dtype)
    want = run_kernel(REF, case, dtype)
    assert len(got) == len(want), f"{case.id}: {len(got)} outputs, expected {len(want)}"
    rtol, atol = case.tolerance(backend.name, dtype)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:
            assert g is None, f"{case.id}: output {i} should be None"
            continue
        assert g.shape == w.shape, f"{case.id}: output {i} has shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"{case.id}: output {i} has dtype {g.dtype}, expected {w.dtype}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{case.id} output {i} ({np.dtype(dtype)})")


def overridden_kernels(backend: Backend) -> set[str]:
    """The contract kernels ``backend``'s class defines itself (not inherited from the NumPy reference)."""
    classes = [c for c in type(backend).__mro__ if c not in (NumpyBackend, Backend, object)]
    return {k for k in KERNELS if any(k in c.__dict__ for c in classes)}


def fast_paths_reached(backend: Backend, cases: list[KernelCase], dtypes: tuple[Any, ...]) -> set[str]:
    """The kernels whose declared fast path (``minidl/backends/fast_path.py``) ``backend`` actually ran on at
    least one of ``cases`` in one of ``dtypes``: the others were checked only through the NumPy reference."""
    reached: set[str] = set()
    cls = type(backend)
    for name in {case.kernel for case in cases}:
        kernel = getattr(cls, name, None)
        applies = getattr(kernel, "applies", None)
        if applies is None:
            continue

        def spy(self: Any, *args: Any, _kernel: Any = kernel, _name: str = name, **kwargs: Any) -> Any:
            if _kernel.applies(*args, **kwargs):
                reached.add(_name)
            return _kernel(self, *args, **kwargs)

        setattr(cls, name, spy)
        try:
            for case in (c for c in cases if c.kernel == name):
                for dtype in dtypes:
                    call_case(backend, case, case_args(backend, case, dtype))
        finally:
            setattr(cls, name, kernel)
    return reached
