"""Normalization through the harness: forward against the NumPy formula, first-order gradients (the
fused kernels) and second-order gradients (the composite path) against finite differences; running
statistics against their formula; PyTorch cross-check."""

import numpy as np
import pytest

import minidl
from minidl.ops.norm import batch_norm, group_norm, layer_norm
from minidl.testing import OpCase, make_op_tests, positive, randn


def ref_normalize(x, axes, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def ref_batch_norm(x, w=None, b=None):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = ref_normalize(x, (0, *range(2, x.ndim)))
    return y * (1 if w is None else w.reshape(shape)) + (0 if b is None else b.reshape(shape))


def ref_batch_norm_eval(x, rm, rv, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + eps) * w.reshape(shape) + b.reshape(shape)


def ref_layer_norm(x, k, w=None, b=None):
    y = ref_normalize(x, tuple(range(x.ndim - k, x.ndim)))
    return y * (1 if w is None else w) + (0 if b is None else b)


def ref_group_norm(x, groups, w, b):
    N, C = x.shape[:2]
    y = ref_normalize(x.reshape(N, groups, -1), (2,)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    return y * w.reshape(shape) + b.reshape(shape)


def bn_train(x, *params):
    return batch_norm(x, None, None, *params, training=True)


CASES = [
    OpCase("batch_norm_train_2d", bn_train, ref_batch_norm, [randn(4, 3, 2, 3), randn(3), randn(3)],
           tol32=(1e-4, 1e-4)),
    OpCase("batch_norm_train_1d_no_affine", bn_train, ref_batch_norm, [randn(5, 4)], tol32=(1e-4, 1e-4)),
    OpCase("batch_norm_train_3d_input", bn_train, ref_batch_norm, [randn(2, 3, 4), randn(3), randn(3)],
           tol32=(1e-4, 1e-4)),
    OpCase("batch_norm_eval", lambda x, rm, rv, w, b: batch_norm(x, rm, rv, w, b, training=False),
           ref_batch_norm_eval, [randn(2, 3, 2, 2), randn(3), positive(3), randn(3), randn(3)]),
    OpCase("layer_norm", lambda x, w, b: layer_norm(x, (3, 4), w, b), lambda x, w, b: ref_layer_norm(x, 2, w, b),
           [randn(2, 3, 4), randn(3, 4), randn(3, 4)], tol32=(1e-4, 1e-4)),
    OpCase("layer_norm_no_affine", lambda x: layer_norm(x, 5), lambda x: ref_layer_norm(x, 1), [randn(3, 5)],
           tol32=(1e-4, 1e-4)),
    OpCase("layer_norm_weight_only", lambda x, w: layer_norm(x, 4, w), lambda x, w: ref_layer_norm(x, 1, w),
           [randn(2, 2, 4), randn(4)], tol32=(1e-4, 1e-4)),
    OpCase("group_norm", lambda x, w, b: group_norm(x, 3, w, b), lambda x, w, b: ref_group_norm(x, 3, w, b),
           [randn(2, 6, 2, 2), randn(6), randn(6)], tol32=(1e-4, 1e-4)),
]

# |x - mean| > 256: in float16 the squares overflow, the variance is inf and the output was 0 everywhere.
# The harness checks float16 against float32 on the same float16 inputs (and float32 as usual).
WIDE = (np.float16, np.float32)
LARGE = [
    OpCase("layer_norm_deviations_over_256", lambda x, w, b: layer_norm(x, 16, w, b),
           lambda x, w, b: ref_layer_norm(x, 1, w, b), [randn(4, 16, scale=300), randn(16), randn(16)],
           dtypes=WIDE),
    OpCase("batch_norm_deviations_over_256", bn_train, ref_batch_norm,
           [randn(8, 3, 2, 2, scale=300), randn(3), randn(3)], dtypes=WIDE),
    OpCase("group_norm_deviations_over_256", lambda x, w, b: group_norm(x, 2, w, b),
           lambda x, w, b: ref_group_norm(x, 2, w, b), [randn(2, 4, 3, 3, scale=300), randn(4), randn(4)],
           dtypes=WIDE),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES + LARGE)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float16_batch_norm_running_statistics(backend):
    """Batch statistics of float16 come from float32 sums; the float16 buffers are updated in place."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((16, 3, 2)) * 300).astype(np.float16)
    with minidl.use_backend(backend):
        rm, rv = minidl.zeros(3, dtype=np.float16), minidl.ones(3, dtype=np.float16)
        y = batch_norm(minidl.tensor(x), rm, rv, training=True, momentum=0.5)
    assert y.dtype == rm.dtype == rv.dtype == np.float16
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(rm.numpy(), 0.5 * x32.mean(axis=(0, 2)), rtol=2e-3, atol=1e-2)
    np.testing.assert_allclose(rv.numpy(), 0.5 + 0.5 * x32.var(axis=(0, 2), ddof=1), rtol=2e-3)
    np.testing.assert_allclose(y.numpy(), ref_batch_norm(x32), rtol=4e-3, atol=4e-3)


def test_running_statistics_follow_the_formula():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 2 + 1
    rm, rv = minidl.zeros(3), minidl.ones(3)
    batch_norm(minidl.tensor(x), rm, rv, training=True, momentum=0.25)
    m = x.size // 3
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) * m / (m - 1)  # the unbiased variance
    np.testing.assert_allclose(rm.numpy(), 0.75 * 0 + 0.25 * mean, rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), 0.75 * 1 + 0.25 * var, rtol=1e-5)
    assert rm.dtype == rv.dtype == np.float32


def test_batch_norm_training_needs_more_than_one_value():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(minidl.randn(1, 3), None, None, training=True)


@pytest.mark.parametrize("call", [
    lambda: batch_norm(minidl.randn(4, 3), minidl.zeros(4), minidl.ones(4)),
    lambda: layer_norm(minidl.randn(2, 3), (4,)),
    lambda: layer_norm(minidl.randn(2, 3), 3, minidl.ones(4)),
    lambda: group_norm(minidl.randn(2, 5, 3), 2),
])
def test_shape_errors(call):
    with pytest.raises(ValueError, match="norm"):
        call()


def test_double_backward_goes_through_the_composite_path():
    # d/dx of sum((dL/dx)^2) must not be zero: the fused kernel alone would give no graph
    x = minidl.randn(4, 3, dtype=minidl.float64, requires_grad=True)
    w = minidl.randn(3, dtype=minidl.float64, requires_grad=True)
    y = layer_norm(x, 3, w)
    (gx,) = minidl.grad((y * y * y).sum(), x, create_graph=True)
    (ggx,) = minidl.grad((gx * gx).sum(), x)
    assert float(abs(ggx).sum()) > 0


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 6, 3, 3)), rng.standard_normal(6), rng.standard_normal(6)
    g = rng.standard_normal(x.shape)
    calls = [
        (lambda m, mw, mb: batch_norm(m, None, None, mw, mb, training=True),
         lambda t, tw, tb: F.batch_norm(t, None, None, tw, tb, training=True)),
        (lambda m, mw, mb: group_norm(m, 2, mw, mb), lambda t, tw, tb: F.group_norm(t, 2, tw, tb)),
        (lambda m, mw, mb: layer_norm(m.reshape(4, 3, 3, 6), 6, mw, mb).reshape(4, 6, 3, 3),
         lambda t, tw, tb: F.layer_norm(t.reshape(4, 3, 3, 6), (6,), tw, tb).reshape(4, 6, 3, 3)),
    ]
    for ours, theirs in calls:
        m = [minidl.tensor(a, requires_grad=True) for a in (x, w, b)]
        t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        my, ty = ours(*m), theirs(*t)
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        my.backward(minidl.tensor(g))
        ty.backward(torch.tensor(g))
        for a, c in zip(m, t):
            np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-9, atol=1e-10)
    # running statistics
    rm, rv = minidl.zeros(6, dtype=minidl.float64), minidl.ones(6, dtype=minidl.float64)
    trm, trv = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    for _ in range(2):
        batch_norm(minidl.tensor(x), rm, rv, training=True, momentum=0.3)
        F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
