"""Reductions and softmax through the shared harness."""

import numpy as np
import pytest

import minidl
from minidl.testing import OpCase, distinct, fixed, make_op_tests, randn


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
    OpCase("max_axis", lambda x: x.max(1), lambda x: x.max(1), [distinct(3, 4)]),
    OpCase("min_axis_keepdims", lambda x: x.min(0, keepdims=True), lambda x: x.min(0, keepdims=True),
           [distinct(3, 4)]),
    OpCase("logsumexp", lambda x: x.logsumexp(-1), lambda x: _logsumexp(x, -1), [randn(3, 5, scale=3)]),
    OpCase("logsumexp_all", lambda x: minidl.logsumexp(x), _logsumexp, [randn(3, 5)]),
    OpCase("softmax", lambda x: x.softmax(-1), _softmax, [randn(3, 5, scale=2)]),
    OpCase("softmax_axis0", lambda x: minidl.softmax(x, 0), lambda x: _softmax(x, 0), [randn(4, 3)]),
    OpCase("log_softmax", lambda x: x.log_softmax(1), lambda x: np.log(_softmax(x, 1)), [randn(2, 6, 2)]),
    OpCase("softmax_large_logits", lambda x: x.softmax(-1), _softmax, [fixed([[1e4, -1e4, 0.0], [5.0, 5.0, 5.0]])],
           backward=False),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


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
