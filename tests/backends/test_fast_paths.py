"""Every kernel override of a faster backend declares when it applies (``minidl/backends/fast_path.py``).

Read from the sources, so that the CuPy backend is checked on machines without CuPy: a method of a backend
class whose name is a kernel of the contract must carry ``@fast_path(condition)``, or be listed here with the
reason it has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from minidl.backends.base import KERNELS
from minidl.backends.fast_path import fast_path, fast_path_of
from minidl.backends.numpy_backend import NumpyBackend

BACKENDS = Path(__file__).resolve().parents[2] / "minidl" / "backends"
FAST_BACKENDS = ["numba_backend.py", "cupy_backend.py", "numba_cuda_backend.py"]
# overrides that replace the reference whole rather than for some inputs
NO_CONDITION = {("cupy_backend.py", "erf"): "CuPy's own erf kernel whenever cupyx.scipy is importable"}


def _kernel_methods(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in KERNELS:
                    yield item


def _declares_fast_path(method: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "fast_path" for d in method.decorator_list)


@pytest.mark.parametrize("source", FAST_BACKENDS)
def test_every_override_declares_its_condition(source):
    methods = list(_kernel_methods(BACKENDS / source))
    assert methods, f"{source} overrides no kernel: is KERNELS read?"
    undeclared = [m.name for m in methods if not _declares_fast_path(m) and (source, m.name) not in NO_CONDITION]
    assert not undeclared, f"{source}: kernel overrides without @fast_path(...): {undeclared}"


@pytest.mark.parametrize("source", FAST_BACKENDS)
def test_no_override_calls_super(source):
    """The reference is reached through the declared condition only, not through ``super()`` in the body."""
    calls = [m.name for m in _kernel_methods(BACKENDS / source) if (source, m.name) not in NO_CONDITION
             and any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "super" for n in ast.walk(m))]
    assert not calls, f"{source}: these overrides still call super(): {calls}"


def test_the_condition_chooses_between_fast_kernel_and_reference():
    calls = []

    class Doubling(NumpyBackend):
        @fast_path(lambda x, axis: x.dtype == np.float64)
        def softmax(self, x, axis):
            calls.append("fast")
            return np.zeros_like(x)

    backend = Doubling()
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(backend.softmax(x, -1), [[0.0, 0.0]])
    reference = backend.softmax(x.astype(np.float32), -1)  # the condition fails: NumPy's softmax
    np.testing.assert_allclose(reference, [[0.26894142, 0.73105858]], rtol=1e-6)
    assert calls == ["fast"]
    assert fast_path_of(backend, "softmax")(x, -1) is True
    assert fast_path_of(backend, "log_softmax") is None


def test_an_override_of_a_kernel_the_reference_lacks_fails_at_class_creation():
    with pytest.raises(AttributeError, match="no_such_kernel"):
        class Wrong(NumpyBackend):
            @fast_path(lambda x: True)
            def no_such_kernel(self, x):
                return x
