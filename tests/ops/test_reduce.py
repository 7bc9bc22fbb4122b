"""Reductions and softmax through the shared harness."""

import numpy as np
import pytest

import minidl
from minidl.nn.functional import cross_entropy
from minidl.testing import OpCase, distinct, fixed, integers, make_op_tests, randn, uniform


def _logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


CASES = [
    OpCase("sum_all", lambda x: x.sum(), np.sum, [randn(3, 4)]),
    OpCase("sum_axis", lambda x: x.sum(1), lambda x: x.sum(1), [randn(2, 3, 4)]),
    OpCase("sum_axes_keepdims", lambda x: x.sum((0, 2), keepdims=True), lambda x: x.sum((0, 2), keepdims=True),
           [randn(2, 3, 4)]),
    OpCase("sum_dim_keepdim", lambda x: x.sum(dim=-1, keepdim=True), lambda x: x.sum(-1, keepdims=True), [randn(2, 3)]),
    OpCase("mean", lambda x: x.mean(0), lambda x: x.mean(0), [randn(4, 3)]),
    OpCase("var", lambda x: x.var(1), lambda x: x.var(1, ddof=1), [randn(3, 5)]),
    OpCase("var_biased", lambda x: x.var(correction=0), lambda x: x.var(), [randn(3, 5)]),
    OpCase("std", lambda x: x.std(0, keepdims=True), lambda x: x.std(0, ddof=1, keepdims=True), [randn(6, 2)]),
    OpCase("max_all", lambda x: x.max(), np.max, [distinct(3, 4)]),
    OpCase("amax_axis", lambda x: x.amax(1), lambda x: x.max(1), [distinct(3, 4)]),
    OpCase("max_dim_values_indices", lambda x: x.max(1), lambda x: (x.max(1), x.argmax(1)), [distinct(3, 4)]),
    OpCase("min_dim_keepdim_values", lambda x: x.min(0, keepdim=True).values, lambda x: x.min(0, keepdims=True),
           [distinct(3, 4)]),
    OpCase("amin_axis_keepdims", lambda x: x.amin(0, keepdims=True), lambda x: x.min(0, keepdims=True),
           [distinct(3, 4)]),
    OpCase("logsumexp", lambda x: x.logsumexp(-1), lambda x: _logsumexp(x, -1), [randn(3, 5, scale=3)]),
    OpCase("logsumexp_all", lambda x: minidl.logsumexp(x), _logsumexp, [randn(3, 5)]),
    OpCase("softmax", lambda x: x.softmax(-1), _softmax, [randn(3, 5, scale=2)]),
    OpCase("softmax_axis0", lambda x: minidl.softmax(x, 0), lambda x: _softmax(x, 0), [randn(4, 3)]),
    OpCase("log_softmax", lambda x: x.log_softmax(1), lambda x: np.log(_softmax(x, 1)), [randn(2, 6, 2)]),
    OpCase("softmax_large_logits", lambda x: x.softmax(-1), _softmax, [fixed([[1e4, -1e4, 0.0], [5.0, 5.0, 5.0]])],
           backward=False),
]

# Values that float16 can hold but whose float16 running totals cannot: sums above 65504, totals past
# 2048 (where adding 1 no longer changes a float16 number), squared deviations above 256^2. The harness
# checks float16 against float32 on the same (float16) inputs; summing in float16 gave inf, 2048 or 0.
# (float64 would only repeat the gradchecks of CASES on 12,288 elements.)
WIDE = (np.float16, np.float32)
LARGE = [
    OpCase("mean_sum_over_65504", lambda x: x.mean(), np.mean, [fixed(np.full(4096, 30.0))], dtypes=WIDE),
    OpCase("sum_past_2048", lambda x: x.sum(0), lambda x: x.sum(0), [uniform(4096, 3, low=0.5, high=1.5)],
           dtypes=WIDE, tol16=(2e-3, 1e-6)),
    OpCase("mean_past_2048", lambda x: x.mean(0), lambda x: x.mean(0), [uniform(4096, 3, low=0.5, high=1.5)],
           dtypes=WIDE, tol16=(2e-3, 1e-6)),
    OpCase("var_squares_over_65504", lambda x: x.var(1), lambda x: x.var(1, ddof=1), [randn(3, 64, scale=150)],
           dtypes=WIDE),
    OpCase("std_var_over_65504", lambda x: x.std(1), lambda x: x.std(1, ddof=1), [randn(3, 64, scale=400)],
           dtypes=WIDE),
    OpCase("softmax_sum_past_2048", lambda x: minidl.softmax(x, 0), lambda x: _softmax(x, 0),
           [uniform(4096, 3, low=-0.1, high=0.1)], dtypes=WIDE, tol16=(4e-3, 1e-6)),  # outputs near 1/4096
    # 2600 x 2: the harness's weighted sum of the outputs (about -8 each) stays below 65504
    OpCase("log_softmax_sum_past_2048", lambda x: x.log_softmax(0), lambda x: np.log(_softmax(x, 0)),
           [uniform(2600, 2, low=-0.1, high=0.1)], double_backward=False, dtypes=WIDE),
    OpCase("logsumexp_sum_past_2048", lambda x: x.logsumexp(0), lambda x: _logsumexp(x, 0),
           [uniform(4096, 3, low=-0.1, high=0.1)], double_backward=False, dtypes=WIDE),
    OpCase("cross_entropy_sum_past_2048", lambda x, t: cross_entropy(x, t, reduction="none"),
           lambda x, t: -np.log(_softmax(x, 1))[np.arange(3), t], [uniform(3, 4096, low=-0.1, high=0.1),
                                                                    integers(3, high=4096)], dtypes=WIDE),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES + LARGE)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float16_reductions_add_up_in_float32(backend):
    """The issue's reproducer: PyTorch gives 30; summing in float16 gave inf (4096 * 30 > 65504)."""
    with minidl.use_backend(backend):
        x = minidl.tensor(np.full(4096, 30, np.float16), requires_grad=True)
        m = x.mean()
        assert m.dtype == np.float16 and m.item() == 30.0
        m.backward()
        assert x.grad.dtype == np.float16
        np.testing.assert_allclose(x.grad.numpy(), np.float16(1 / 4096))
        # a broadcast bias's gradient is a sum over the batch too (sum_to in the autograd core)
        b = minidl.zeros(3, dtype=np.float16, requires_grad=True)
        (minidl.ones(4096, 3, dtype=np.float16) + b).sum().backward()
        np.testing.assert_array_equal(b.grad.numpy(), np.full(3, 4096, np.float16))


def test_integer_and_bool_sums_keep_numpy_promotion():
    assert minidl.tensor([True, True, False]).sum().item() == 2
    assert minidl.tensor([1, 2, 4]).sum().dtype == np.int64


def test_max_ties_share_gradient():
    x = minidl.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])


def test_log_softmax_is_finite_for_huge_logits():
    x = minidl.tensor([[1e4, -1e4, 0.0]], dtype=np.float32, requires_grad=True)
    y = x.log_softmax(-1)
    np.testing.assert_allclose(y.detach().numpy(), [[0.0, -2e4, -1e4]], rtol=1e-6)
    y[:, 1].sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), [[-1.0, 1.0, 0.0]], atol=1e-6)


def test_reduction_axis_out_of_range():
    with pytest.raises(IndexError, match="axis 2"):
        minidl.zeros(2, 3).sum(2)
