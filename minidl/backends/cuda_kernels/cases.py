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

from minidl.backends.base import Backend
from minidl.backends.numpy_backend import NumpyBackend

Args = Callable[[np.random.Generator, Any], tuple[Any, ...]]


@dataclass
class KernelCase:
    kernel: str  # a name from KERNELS
    args: Args  # (rng, dtype) -> the kernel's arguments, NumPy arrays and plain values
    label: str = ""
    tol32: tuple[float, float] = (2e-5, 2e-6)  # (rtol, atol)
    tol64: tuple[float, float] = (1e-10, 1e-12)

    @property
    def id(self) -> str:
        return f"{self.kernel}[{self.label}]" if self.label else self.kernel


def normal(rng: np.random.Generator, dtype: Any, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


CASES: list[KernelCase] = [
    KernelCase("softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 2, 2, 70, scale=3), -1), "rows longer than a block"),
    KernelCase("softmax", lambda r, t: (normal(r, t, 4, 3), 0), "axis 0 (reference fallback)"),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 3, 5, scale=3), -1), "3x5"),
    KernelCase("log_softmax", lambda r, t: (normal(r, t, 2, 70, scale=30), -1), "large logits"),
]


def _to_backend(backend: Backend, value: Any) -> Any:
    return backend.asarray(value) if isinstance(value, np.ndarray) else value


def _outputs(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def run_kernel(backend: Backend, case: KernelCase, dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The kernel's outputs on ``backend`` for the case's arguments, as NumPy arrays (in-place
    kernels, which return None, give their array arguments after the call)."""
    args = [_to_backend(backend, a) for a in case.args(np.random.default_rng(seed), dtype)]
    result = getattr(backend, case.kernel)(*args)
    if result is None:
        result = tuple(a for a in args if hasattr(a, "shape"))
    return tuple(backend.to_numpy(o) if o is not None else None for o in _outputs(result))


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
    from minidl.backends.base import KERNELS

    classes = [c for c in type(backend).__mro__ if c not in (NumpyBackend, Backend, object)]
    return {k for k in KERNELS if any(k in c.__dict__ for c in classes)}
