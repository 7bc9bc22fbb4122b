"""The op test harness: declare an op once, test it on every backend and dtype.

A contributor writes, in a test file::

    from minidl.testing import OpCase, make_op_tests, randn

    CASES = [
        OpCase("tanh", lambda x: x.tanh(), np.tanh, [randn(3, 4)]),
    ]
    test_forward, test_backward, test_double_backward = make_op_tests(CASES)

and pytest runs, for every case x every known backend x (float32, float64, float16):

* forward: the minidl result against the NumPy float64 ``reference`` on the same values, and the
  output dtype (float32 in, float32 out);
* backward: in float64, autograd against central finite differences (``gradcheck``); in float32,
  the gradient against the float64 gradient, and its dtype;
* double backward: the same for second derivatives (``gradgradcheck``).

float16 is judged against float32: the inputs are drawn in float16, and the ``reference`` (or, without
one, the NumPy backend) runs in float32 on exactly those values, so only the op's own float16
arithmetic is measured, with ``tol16``. float16 has 11 significant bits (a relative step of 1e-3);
an op that adds up in float16 instead of float32 misses by far more (or overflows). An op that cannot
compute float16 correctly should refuse it with an error naming the op and the dtype, and its cases
then leave float16 out of ``dtypes``.

Backends that are not installed (or have no device) skip with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from minidl.autograd import grad
from minidl.backends import BackendUnavailableError, get_backend, known
from minidl.tensor import Tensor
from minidl.testing.gradcheck import _as_tuple, _scalar, _weights, gradcheck, gradgradcheck

# An input spec draws one input array: spec(rng, dtype) -> numpy array.
InputSpec = Callable[[np.random.Generator, Any], np.ndarray]


def randn(*shape: int, scale: float = 1.0) -> InputSpec:
    """Standard normal input (times ``scale``)."""
    return lambda rng, dtype: (rng.standard_normal(shape) * scale).astype(dtype)


def uniform(*shape: int, low: float = -1.0, high: float = 1.0) -> InputSpec:
    return lambda rng, dtype: rng.uniform(low, high, size=shape).astype(dtype)


def positive(*shape: int, low: float = 0.5, high: float = 2.0) -> InputSpec:
    """Inputs away from 0 (for log, sqrt, division, powers)."""
    return uniform(*shape, low=low, high=high)


def distinct(*shape: int) -> InputSpec:
    """Values spaced at least 0.1 apart: max/min/sort have no ties and finite differences never swap them."""
    size = int(np.prod(shape))
    return lambda rng, dtype: (rng.permutation(size).reshape(shape) * 0.1 - size * 0.05).astype(dtype)


def integers(*shape: int, high: int, low: int = 0) -> InputSpec:
    """An int64 input (indices, labels): never differentiated, never cast."""
    return lambda rng, dtype: rng.integers(low, high, size=shape).astype(np.int64)


def fixed(array: Any) -> InputSpec:
    """A fixed value (cast to the case dtype when it is floating point)."""
    a = np.asarray(array)
    return lambda rng, dtype: a.astype(dtype) if a.dtype.kind == "f" else a.copy()


@dataclass
class OpCase:
    """One op to test: inputs, the minidl call and an independent NumPy float64 reference.

    ``reference`` may be None when no independent formula is practical; then the forward is
    still checked for dtype and backends against the NumPy backend in float64.
    """

    name: str
    op: Callable[..., Any]
    reference: Callable[..., Any] | None
    inputs: Sequence[InputSpec]
    backward: bool = True
    double_backward: bool = True
    directional: bool = False  # finite differences along one direction (large inputs)
    tol32: tuple[float, float] = (1e-4, 1e-5)  # (rtol, atol) for float32 results
    tol64: tuple[float, float] = (1e-7, 1e-9)
    tol16: tuple[float, float] = (4e-3, 4e-3)  # float16 results against the float32 reference
    seed: int = 0
    dtypes: tuple[Any, ...] = (np.float32, np.float64, np.float16)
    extra: dict[str, Any] = field(default_factory=dict)
    # Property-based variant: a hypothesis strategy drawing the input shapes (a tuple of shapes, or
    # hypothesis' BroadcastableShapes), and how to fill a drawn shape (default: standard normal).
    shapes: Any = None
    fill: Callable[..., InputSpec] = randn

    def __repr__(self) -> str:
        return self.name

    def arrays(self, dtype: Any) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [spec(rng, dtype) for spec in self.inputs]

    def with_shapes(self, shapes: Any) -> OpCase:
        """A copy of this case whose inputs are ``fill(*shape)`` for each drawn shape."""
        shapes = getattr(shapes, "input_shapes", shapes)
        return replace(self, inputs=[self.fill(*s) for s in shapes], shapes=None)

    def reference_arrays(self, dtype: Any) -> list[np.ndarray]:
        """The inputs the expected values come from: the same draws in float64 for float32/float64
        cases; for float16, the float16 inputs themselves widened to float32 (the reference then
        sees exactly the rounded values the op saw)."""
        if np.dtype(dtype) != np.float16:
            return self.arrays(np.float64)
        return [a.astype(np.float32) if a.dtype.kind == "f" else a for a in self.arrays(dtype)]

    def tolerance(self, dtype: Any) -> tuple[float, float]:
        """(rtol, atol) for results in ``dtype``."""
        return {np.dtype(np.float16): self.tol16, np.dtype(np.float32): self.tol32}.get(np.dtype(dtype), self.tol64)

    def tensors(self, backend: str, dtype: Any, requires_grad: bool = True,
                arrays: list[np.ndarray] | None = None) -> list[Tensor]:
        be = get_backend(backend)
        arrays = self.arrays(dtype) if arrays is None else arrays
        return [Tensor(a, backend=be, requires_grad=requires_grad and a.dtype.kind == "f") for a in arrays]


# --------------------------------------------------------------------------- checks
def _to_numpy(outs: tuple[Tensor, ...]) -> list[np.ndarray]:
    return [o.backend.to_numpy(o.array) for o in outs]


def check_forward(case: OpCase, backend: str, dtype: Any) -> None:
    outs = _as_tuple(case.op(*case.tensors(backend, dtype, requires_grad=False)))
    ref_inputs = case.reference_arrays(dtype)
    if case.reference is not None:
        expected = case.reference(*ref_inputs)
    else:
        ref_tensors = case.tensors("numpy", None, requires_grad=False, arrays=ref_inputs)
        expected = _to_numpy(_as_tuple(case.op(*ref_tensors)))
    expected = expected if isinstance(expected, tuple | list) else (expected,)
    rtol, atol = case.tolerance(dtype)
    for o, e in zip(outs, expected, strict=True):
        e = np.asarray(e)
        if e.dtype.kind == "f":
            assert o.dtype == dtype, f"{case.name}: output dtype {o.dtype}, expected {np.dtype(dtype)}"
        assert o.shape == e.shape, f"{case.name}: output shape {o.shape}, expected {e.shape}"
        np.testing.assert_allclose(o.backend.to_numpy(o.array), e, rtol=rtol, atol=atol, err_msg=case.name)


def _grads(case: OpCase, backend: str, arrays: list[np.ndarray], order: int) -> list[np.ndarray]:
    """First (order=1) or second (order=2, along fixed weights) derivatives as numpy arrays."""
    xs = case.tensors(backend, None, arrays=arrays)
    wrt = [x for x in xs if x.requires_grad]
    outs = _as_tuple(case.op(*xs))
    gs = grad(_scalar(outs, _weights(outs, case.seed)), wrt, create_graph=order == 2, allow_unused=True)
    if order == 2:
        live = [g for g in gs if g is not None and g.requires_grad]
        if not live:
            return [np.zeros(x.shape, x.dtype) for x in wrt]
        gs = grad(_scalar(tuple(live), _weights(tuple(live), case.seed + 7)), wrt, allow_unused=True)
    result = []
    for x, g in zip(wrt, gs, strict=True):
        if g is None:
            result.append(np.zeros(x.shape, x.dtype))
            continue
        assert g.dtype == x.dtype, f"{case.name}: gradient dtype {g.dtype}, expected {x.dtype}"
        assert g.shape == x.shape, f"{case.name}: gradient shape {g.shape}, input shape {x.shape}"
        result.append(g.backend.to_numpy(g.array))
    return result


def check_backward(case: OpCase, backend: str, dtype: Any, order: int = 1) -> None:
    if dtype == np.float64:
        check = gradcheck if order == 1 else gradgradcheck
        check(case.op, case.tensors(backend, np.float64), directional=case.directional, seed=case.seed)
        return
    got = _grads(case, backend, case.arrays(dtype), order)
    want = _grads(case, "numpy", case.reference_arrays(dtype), order)  # float64, or float32 for float16
    rtol, atol = case.tolerance(dtype)
    slack = 10 if dtype == np.float32 else 2  # gradients take more rounding steps than the forward
    for g, w in zip(got, want, strict=True):
        scale = 1.0
        if dtype == np.float16:  # a gradient sums terms that cancel: its error follows the largest of them
            scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=rtol * slack, atol=atol * slack * scale,
                                   err_msg=f"{case.name} (order {order})")


# --------------------------------------------------------------------------- pytest glue
def backend_params() -> list[Any]:
    """pytest params for every known backend; unavailable ones skip with the reason."""
    import pytest

    params = []
    for name in known():
        try:
            get_backend(name)
            marks: Any = ()
        except BackendUnavailableError as e:
            marks = pytest.mark.skip(reason=str(e))
        if name in ("cupy", "numba-cuda"):
            marks = [pytest.mark.gpu] + ([marks] if marks else [])
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def make_op_tests(cases: Sequence[OpCase]) -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]]:
    """Three pytest test functions (forward, backward, double backward) over cases x backends x dtypes."""
    import pytest

    def dtype_params(case: OpCase) -> list[Any]:
        return [pytest.param(case, d, id=f"{case.name}-{np.dtype(d).name}") for d in case.dtypes]

    all_cases = [p for c in cases for p in dtype_params(c)]
    grad_cases = [p for c in cases if c.backward for p in dtype_params(c)]
    grad2_cases = [p for c in cases if c.backward and c.double_backward for p in dtype_params(c)]

    @pytest.mark.parametrize("backend", backend_params())
    @pytest.mark.parametrize(("case", "dtype"), all_cases)
    def test_forward(case: OpCase, dtype: Any, backend: str) -> None:
        check_forward(case, backend, dtype)

    @pytest.mark.parametrize("backend", backend_params())
    @pytest.mark.parametrize(("case", "dtype"), grad_cases)
    def test_backward(case: OpCase, dtype: Any, backend: str) -> None:
        check_backward(case, backend, dtype, order=1)

    @pytest.mark.parametrize("backend", backend_params())
    @pytest.mark.parametrize(("case", "dtype"), grad2_cases)
    def test_double_backward(case: OpCase, dtype: Any, backend: str) -> None:
        check_backward(case, backend, dtype, order=2)

    return test_forward, test_backward, test_double_backward


def make_property_tests(cases: Sequence[OpCase]) -> Callable[..., None]:
    """One hypothesis-driven pytest test: for every case with a ``shapes`` strategy, on every backend,
    draw shapes (e.g. ``mutually_broadcastable_shapes``) and check forward (float32 and float64) and
    the float64 gradient against finite differences.

        CASES = [OpCase("add", lambda a, b: a + b, np.add, [], shapes=mutually_broadcastable_shapes(num_shapes=2))]
        test_property = make_property_tests(CASES)
    """
    import pytest
    from hypothesis import given
    from hypothesis import strategies as st

    drawn = [pytest.param(c, id=c.name) for c in cases if c.shapes is not None]

    @pytest.mark.parametrize("backend", backend_params())
    @pytest.mark.parametrize("case", drawn)
    @given(data=st.data())
    def test_property(case: OpCase, backend: str, data: Any) -> None:
        concrete = case.with_shapes(data.draw(case.shapes, label="shapes"))
        for dtype in concrete.dtypes:
            check_forward(concrete, backend, dtype)
        if concrete.backward:
            check_backward(concrete, backend, np.float64, order=1)

    return test_property
