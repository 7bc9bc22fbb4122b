"""Kernel-level checks of a backend against the NumPy reference, on small inputs.

Each ``KernelCase`` names a kernel of the contract and builds its arguments (NumPy arrays and plain
Python values) from a seeded generator. ``check_case`` calls the kernel on the backend under test
and on ``NumpyBackend`` with the same values and compares every output. The simulator self-test
(``selftest.py``), the GPU tests (``tests/gpu``) and ``benchmarks/gpu_smoke.py`` share this list.

Shapes are tiny on purpose: under the CUDA simulator every GPU thread is a Python thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minidl.backends.base import KERNELS, Backend
from minidl.backends.numpy_backend import NumpyBackend

Args = Callable[[np.random.Generator, Any], tuple[Any, ...]]


@dataclass
class KernelCase:
    kernel: str  # a name from KERNELS
    args: Args  # (rng, dtype) -> the kernel's arguments, NumPy arrays and plain values
    label: str = ""
    tol32: tuple[float, float] = (2e-5, 2e-6)  # (rtol, atol)
    tol64: tuple[float, float] = (1e-10, 1e-12)
    # how to call it, when not ``getattr(backend, kernel)(*args)`` (e.g. a backward that needs the
    # backend's own forward state)
    call: Callable[[Backend, list[Any]], Any] | None = None
    compare: tuple[int, ...] | None = None  # which outputs to compare (default: all)

    @property
    def id(self) -> str:
        return f"{self.kernel}[{self.label}]" if self.label else self.kernel


def normal(rng: np.random.Generator, dtype: Any, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


REF = NumpyBackend()
TARGETS = np.array([1, -100, 6, 0])  # -100: an ignored row


def distinct(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    """Values 0.1 apart in random order: a max has no ties."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1).astype(dtype)


def _xent_backward_args(r, t):
    x = normal(r, t, 4, 7, scale=2)
    return x, TARGETS, REF.softmax_cross_entropy(x, TARGETS, -100)[1], normal(r, t, 4), -100


def _adam_args(r, t, decoupled, amsgrad, maximize):
    p, g, m = normal(r, t, 3, 17), normal(r, t, 3, 17), normal(r, t, 3, 17, scale=0.1)
    v = (r.random((3, 17)) * 0.1).astype(t)
    vmax = (v + r.random((3, 17)) * 0.05).astype(t) if amsgrad else None
    return p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.05, 3, decoupled, vmax, maximize


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


def _lstm_backward_args(r, t):
    z, c_prev = normal(r, t, 3, 20), normal(r, t, 3, 5)
    _, c, acts = REF.lstm_cell_forward(z, c_prev)
    return normal(r, t, 3, 5), normal(r, t, 3, 5), acts, c_prev, c


def _gru_backward_args(r, t):
    h_prev = normal(r, t, 3, 5)
    _, acts = REF.gru_cell_forward(normal(r, t, 3, 15), normal(r, t, 3, 15), h_prev)
    return normal(r, t, 3, 5), acts, h_prev


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


_ALL_CASES: list[KernelCase] = [
    KernelCase("softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 2, 2, 70, scale=3), -1), "rows longer than a block"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 4, 3), 0), "axis 0 (reference fallback)"),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 2, 70, scale=30), -1), "large logits"),
    KernelCase("softmax_cross_entropy", lambda r, t: (normal(r, t, 4, 7, scale=2), TARGETS, -100), "ignore_index"),
    KernelCase("softmax_cross_entropy", lambda r, t: (normal(r, t, 2, 40, scale=2), np.array([39, 3]), -100),
               "rows longer than a block"),
    KernelCase("softmax_cross_entropy_backward", _xent_backward_args, "ignore_index"),
    KernelCase("embedding_backward", lambda r, t: (np.array([[3, 0, 3], [5, 2, 3]]), normal(r, t, 2, 3, 4), 6, 2),
               "repeats, padding"),
    KernelCase("embedding_backward", lambda r, t: (np.array([1, 1, 0]), normal(r, t, 3, 4), 2, None), "no padding"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.0, False), "plain"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, False), "momentum, first step"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, True), "momentum, dampening"),
    KernelCase("sgd_update", lambda r, t: _sgd_args(r, t, 0.9, True, nesterov=True, maximize=True),
               "nesterov, maximize"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, False, False, False), "Adam"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, True, False, False), "AdamW"),
    KernelCase("adam_update", lambda r, t: _adam_args(r, t, False, True, True), "AMSGrad, maximize"),
    KernelCase("im2col", lambda r, t: (normal(r, t, 2, 2, 5, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
               "stride, padding, dilation"),
    KernelCase("col2im", lambda r, t: (normal(r, t, 2, 2, 2, 3, 3, 8), (2, 2, 5, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
               "stride, padding, dilation"),
    KernelCase("maxpool2d_forward", lambda r, t: (distinct(r, t, 2, 2, 5, 6), (3, 2), (2, 1), (1, 1)),
               "overlapping, padded"),
    KernelCase("maxpool2d_forward", lambda r, t: (distinct(r, t, 1, 2, 4, 6), (2, 2), (2, 2), (0, 0)), "2x2"),
    KernelCase("maxpool2d_backward", lambda r, t: _maxpool_backward_args(r, t, (3, 2), (2, 1), (1, 1)),
               "overlapping, padded"),
    KernelCase("maxpool2d_backward", lambda r, t: _maxpool_backward_args(r, t, (2, 2), (2, 2), (0, 0)), "2x2"),
    KernelCase("layer_norm_forward", lambda r, t: (normal(r, t, 3, 40), normal(r, t, 40), normal(r, t, 40), 1e-5),
               "affine", tol32=(1e-4, 1e-5)),
    KernelCase("layer_norm_forward", lambda r, t: (normal(r, t, 3, 40), None, None, 1e-5), "no affine",
               tol32=(1e-4, 1e-5)),
    KernelCase("layer_norm_backward", lambda r, t: _layer_norm_backward_args(r, t, True), "affine",
               tol32=(1e-4, 1e-5)),
    KernelCase("layer_norm_backward", lambda r, t: _layer_norm_backward_args(r, t, False), "no affine",
               tol32=(1e-4, 1e-5)),
    KernelCase("lstm_cell_forward", lambda r, t: (normal(r, t, 3, 20), normal(r, t, 3, 5))),
    KernelCase("lstm_cell_backward", _lstm_backward_args),
    KernelCase("gru_cell_forward", lambda r, t: (normal(r, t, 3, 15), normal(r, t, 3, 15), normal(r, t, 3, 5))),
    KernelCase("gru_cell_backward", _gru_backward_args),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, False), "full", compare=(0,)),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, True, L=11), "causal, 11 queries",
               compare=(0,)),
    KernelCase("attention_forward", lambda r, t: _attention_args(r, t, False, mask=True),
               "mask (reference fallback)", compare=(0,)),
    KernelCase("attention_backward", lambda r, t: _attention_args(r, t, False), "full", call=_attention_backward),
    KernelCase("attention_backward", lambda r, t: _attention_args(r, t, True, L=11), "causal, 11 queries",
               call=_attention_backward),
]
#: the cases whose kernel is in the contract (a case may be written before its kernel lands there)
CASES: list[KernelCase] = [c for c in _ALL_CASES if c.kernel in KERNELS]


def _to_backend(backend: Backend, value: Any) -> Any:
    return backend.asarray(value) if isinstance(value, np.ndarray) else value


def _outputs(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def run_kernel(backend: Backend, case: KernelCase, dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The kernel's outputs on ``backend`` for the case's arguments, then its array arguments after the
    call, as NumPy arrays."""
    args = [_to_backend(backend, a) for a in case.args(np.random.default_rng(seed), dtype)]
    result = case.call(backend, args) if case.call else getattr(backend, case.kernel)(*args)
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
    want = run_kernel(NumpyBackend(), case, dtype)
    assert len(got) == len(want), f"{case.id}: {len(got)} outputs, expected {len(want)}"
    rtol, atol = case.tol32 if np.dtype(dtype) == np.float32 else case.tol64
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
