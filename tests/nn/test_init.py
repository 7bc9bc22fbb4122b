"""nn.init: bounds and standard deviations against PyTorch's formulas, reproducibility, in-place."""

import math

import numpy as np
import pytest

import minidl
from minidl.nn import init

SHAPE = (256, 128, 3)  # fan_in = 128 * 3 = 384, fan_out = 256 * 3 = 768
FAN_IN, FAN_OUT = 384, 768


def _draw(fn, *args, shape=SHAPE, dtype=np.float32, **kwargs):
    t = minidl.empty(*shape, dtype=dtype)
    out = fn(t, *args, generator=minidl.Generator(0), **kwargs)
    assert out is t and t.dtype == dtype
    return t.numpy().astype(np.float64)


def _check_uniform(w, bound):
    assert w.min() >= -bound and w.max() <= bound
    assert w.min() < -0.99 * bound and w.max() > 0.99 * bound  # the whole interval is used
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound


def _check_normal(w, std):
    assert abs(w.mean()) < 0.01 * std
    assert abs(w.std() - std) < 0.01 * std


@pytest.mark.parametrize(("name", "param", "gain"), [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("selu", None, 0.75),
])
def test_calculate_gain(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_uniform_normal_constant():
    _check_uniform(_draw(init.uniform_, -0.3, 0.3), 0.3)
    w = _draw(init.normal_, 2.0, 0.5)
    assert abs(w.mean() - 2.0) < 0.01 and abs(w.std() - 0.5) < 0.005
    t = minidl.empty(3, 2)
    assert (init.constant_(t, 1.5).numpy() == 1.5).all()
    assert (init.zeros_(t).numpy() == 0).all() and (init.ones_(t).numpy() == 1).all()


def test_xavier():
    std = math.sqrt(2 / (FAN_IN + FAN_OUT))
    _check_uniform(_draw(init.xavier_uniform_), math.sqrt(3) * std)
    _check_normal(_draw(init.xavier_normal_, gain=2.0), 2.0 * std)


def test_kaiming():
    # PyTorch default: a=0, mode="fan_in", nonlinearity="leaky_relu" -> gain sqrt(2)
    _check_uniform(_draw(init.kaiming_uniform_), math.sqrt(3) * math.sqrt(2) / math.sqrt(FAN_IN))
    _check_normal(_draw(init.kaiming_normal_, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / FAN_OUT))
    # Linear's default: a = sqrt(5) gives the bound 1 / sqrt(fan_in)
    _check_uniform(_draw(init.kaiming_uniform_, a=math.sqrt(5)), 1 / math.sqrt(FAN_IN))


def test_trunc_normal_stays_in_bounds():
    w = _draw(init.trunc_normal_, std=1.0, a=-1.0, b=1.5)
    assert w.min() >= -1.0 and w.max() <= 1.5 and w.min() < -0.99 and w.max() > 1.49


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 3)])
def test_orthogonal(shape):
    w = _draw(init.orthogonal_, gain=2.0, shape=shape, dtype=np.float64).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-12)


def test_generator_makes_draws_reproducible_and_float64_works():
    a, b = _draw(init.kaiming_normal_, dtype=np.float64), _draw(init.kaiming_normal_, dtype=np.float64)
    np.testing.assert_array_equal(a, b)
    minidl.manual_seed(3)
    c = init.normal_(minidl.empty(4)).numpy().copy()
    minidl.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(minidl.empty(4)).numpy(), c)


def test_init_of_a_parameter_is_in_place_and_not_recorded():
    layer = minidl.nn.Linear(4, 3)
    w = layer.weight
    init.zeros_(w)
    assert layer.weight is w
    assert (layer.weight.detach().numpy() == 0).all() and layer.weight.requires_grad and layer.weight.is_leaf


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(minidl.empty(5))
