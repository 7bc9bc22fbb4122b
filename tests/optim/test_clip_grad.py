"""Gradient clipping (``nn.utils``) against norms computed directly with NumPy."""

import math

import numpy as np
import pytest

import minidl
from minidl.nn import utils


def params_with_grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    ps = [minidl.tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 4), (4,), (2, 2, 2)]]
    grads = [scale * rng.standard_normal(p.shape) for p in ps]
    for p, g in zip(ps, grads):
        p.grad = minidl.tensor(g.copy())
    return ps, grads


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_scales_to_max_norm(norm_type):
    ps, grads = params_with_grads(scale=10.0)
    flat = np.concatenate([g.ravel() for g in grads])
    want = np.abs(flat).max() if norm_type == math.inf else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    total = utils.clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    assert float(total) == pytest.approx(want, rel=1e-12)
    coef = 2.0 / (want + 1e-6)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.array, g * coef, rtol=1e-12)
    new = np.concatenate([p.grad.array.ravel() for p in ps])
    new_norm = np.abs(new).max() if norm_type == math.inf else np.sum(np.abs(new) ** norm_type) ** (1 / norm_type)
    assert new_norm == pytest.approx(2.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_alone():
    ps, grads = params_with_grads(scale=0.01)
    total = utils.clip_grad_norm_(ps, max_norm=100.0)
    assert float(total) == pytest.approx(np.sqrt(sum((g**2).sum() for g in grads)))
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad.array, g)


def test_clip_grad_norm_float32_and_single_tensor_and_no_grads():
    w = minidl.tensor(np.array([3.0, 4.0], dtype=np.float32), requires_grad=True)
    w.grad = minidl.tensor(np.array([30.0, 40.0], dtype=np.float32))
    total = utils.clip_grad_norm_(w, 5.0)
    assert total.dtype == np.float32 and float(total) == 50.0 and w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad.array, [3.0, 4.0], rtol=1e-6)
    assert float(utils.clip_grad_norm_([minidl.ones(2, requires_grad=True)], 1.0)) == 0.0


def test_clip_grad_norm_nonfinite():
    ps, _ = params_with_grads()
    ps[1].grad.array[0] = np.nan
    with pytest.raises(RuntimeError, match="nan"):
        utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert not np.isnan(ps[0].grad.array).any()  # nothing was changed
    utils.clip_grad_norm_(ps, 1.0)
    assert np.isnan(ps[0].grad.array).all()  # like PyTorch: NaN spreads


def test_clip_grad_value():
    ps, grads = params_with_grads(scale=3.0)
    utils.clip_grad_value_(ps, 1.5)
    for p, g in zip(ps, grads):
        np.testing.assert_array_equal(p.grad.array, np.clip(g, -1.5, 1.5))


def test_parameters_to_vector_and_back():
    ps, _ = params_with_grads()
    vec = utils.parameters_to_vector(ps)
    np.testing.assert_array_equal(vec.array, np.concatenate([p.array.ravel() for p in ps]))
    arrays = [p.array for p in ps]
    utils.vector_to_parameters(minidl.tensor(np.arange(vec.numel(), dtype=np.float64)), ps)
    assert all(p.array is a for p, a in zip(ps, arrays))  # in place
    np.testing.assert_array_equal(ps[1].array, [12, 13, 14, 15])
    with pytest.raises(ValueError, match="elements"):
        utils.vector_to_parameters(minidl.zeros(3), ps)


def test_leaf_gradients_never_share_memory():
    """Core fix: x + y passes one gradient array to both leaves; clipping one must not scale the other."""
    x, y = minidl.ones(3, requires_grad=True), minidl.ones(3, requires_grad=True)
    (3 * (x + y)).sum().backward()
    assert x.grad.array is not y.grad.array
    utils.clip_grad_norm_([x], max_norm=1.0)
    np.testing.assert_array_equal(y.grad.array, [3.0, 3.0, 3.0])
    w = minidl.ones(2, 2, requires_grad=True)
    w.sum().backward()
    w.grad.array *= 2  # writable, even where the backward produced a broadcast view
    np.testing.assert_array_equal(w.grad.array, np.full((2, 2), 2.0))
