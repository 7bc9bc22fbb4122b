"""Activation ops through the shared harness (forward vs NumPy float64 formulas, gradients vs finite
differences, double backward, float32 vs float64, every backend), plus the pure-array erf."""

import math

import numpy as np
import pytest

import minidl
import minidl.ops.activation as act
from minidl.testing import OpCase, fixed, make_op_tests, randn

_erf = np.vectorize(math.erf)
# Values away from the kinks at 0 (finite differences must not straddle them).
KINKED = fixed([[-2.0, -0.7, -0.05], [0.05, 0.6, 3.0]])


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log(1 + np.exp(beta * x)) / beta)


CASES = [
    OpCase("erf", act.erf, _erf, [randn(3, 4, scale=1.5)]),
    OpCase("leaky_relu", act.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), [KINKED]),
    OpCase("leaky_relu_slope", lambda x: act.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), [KINKED]),
    OpCase("elu", act.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), [KINKED]),
    OpCase("elu_alpha", lambda x: act.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), [KINKED]),
    OpCase("gelu", act.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), [randn(3, 5, scale=2)]),
    OpCase("gelu_tanh", lambda x: act.gelu(x, approximate="tanh"), _gelu_tanh, [randn(3, 5, scale=2)]),
    OpCase("silu", act.silu, lambda x: x / (1 + np.exp(-x)), [randn(4, 3, scale=3)]),
    OpCase("softplus", act.softplus, _softplus, [randn(4, 3, scale=3)]),
    OpCase("softplus_beta_threshold", lambda x: act.softplus(x, beta=2.0, threshold=3.0),
           lambda x: _softplus(x, 2.0, 3.0), [fixed([-3.0, -0.4, 0.3, 1.2, 2.0, 5.0])]),
]
test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_erf_pure_array_version_matches_math_erf():
    x = np.linspace(-8, 8, 4001)
    np.testing.assert_allclose(act.erf_array(np, x), _erf(x), rtol=0, atol=2e-15)
    assert act.erf_array(np, x.astype(np.float32)).dtype == np.float32


def test_erf_float32_rational_approximation_matches_math_erf():
    x = np.concatenate([np.linspace(-9, 9, 200_001), np.logspace(-30, 0, 301), -np.logspace(-30, 0, 301)])
    x = x.astype(np.float32)
    exact = _erf(x.astype(np.float64))
    y = act.erf_array(np, x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, exact, rtol=5e-7, atol=5e-7)
    tiny = np.abs(x) < 1e-3  # near 0 erf(x) ~ 2x/sqrt(pi): the error must be relative there
    np.testing.assert_allclose(y[tiny], exact[tiny], rtol=1e-6, atol=0)


@pytest.mark.parametrize("op", [act.gelu, act.silu, act.softplus, act.elu, act.leaky_relu,
                                lambda x: act.gelu(x, approximate="tanh")])
def test_extreme_inputs_stay_finite(op):
    x = minidl.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    y = op(x)
    y.sum().backward()
    assert np.isfinite(y.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(y.detach().numpy()[-2:], [50.0, 1e4], rtol=1e-6)  # identity for large x


def test_softplus_gradient_at_zero_is_one_half():
    x = minidl.tensor([0.0], requires_grad=True)
    act.softplus(x).sum().backward()
    assert x.grad.item() == pytest.approx(0.5)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        act.gelu(minidl.zeros(2), approximate="fast")
