"""Pooling through the harness: forward against direct nested loops, gradients against finite
differences (distinct values, so no max ever ties or swaps), double backward; PyTorch cross-check."""

import numpy as np
import pytest

import minidl
from minidl.ops.pool import adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from minidl.testing import OpCase, distinct, make_op_tests, randn


def _pair(v):
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def ref_pool2d(x, kernel, stride=None, padding=0, mode="max", count_include_pad=True):
    """Loop over every output pixel; padding is -inf for max and 0 for avg."""
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(kernel if stride is None else stride)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * sh - ph, j * sw - pw
            window = x[:, :, max(h0, 0):h0 + kh, max(w0, 0):w0 + kw]
            if mode == "max":
                y[:, :, i, j] = window.max(axis=(2, 3))
            else:
                divisor = kh * kw if count_include_pad else window.shape[2] * window.shape[3]
                y[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return y


def ref_pool1d(x, kernel, stride=None, padding=0, mode="max", count_include_pad=True):
    return ref_pool2d(x[:, :, None], (1, kernel), (1, kernel if stride is None else stride), (0, padding), mode,
                      count_include_pad)[:, :, 0]


def ref_adaptive_avg(x, out_sizes):
    """PyTorch's windows: start = floor(i * n / out), end = ceil((i + 1) * n / out), over the last axes."""
    axes = range(x.ndim - len(out_sizes), x.ndim)
    for axis, out in zip(axes, out_sizes):
        n = x.shape[axis]
        parts = [np.take(x, range(i * n // out, -(-(i + 1) * n // out)), axis=axis).mean(axis=axis, keepdims=True)
                 for i in range(out)]
        x = np.concatenate(parts, axis=axis)
    return x


CASES = [
    OpCase("max_pool2d", lambda x: max_pool2d(x, 2), lambda x: ref_pool2d(x, 2), [distinct(2, 3, 4, 6)]),
    OpCase("max_pool2d_odd_size", lambda x: max_pool2d(x, 2), lambda x: ref_pool2d(x, 2), [distinct(1, 2, 5, 5)]),
    OpCase("max_pool2d_overlap_pad", lambda x: max_pool2d(x, 3, stride=2, padding=1),
           lambda x: ref_pool2d(x, 3, 2, 1), [distinct(2, 2, 5, 6)]),
    OpCase("max_pool2d_rect", lambda x: max_pool2d(x, (3, 2), stride=(1, 2), padding=(1, 0)),
           lambda x: ref_pool2d(x, (3, 2), (1, 2), (1, 0)), [distinct(1, 2, 4, 5)]),
    OpCase("max_pool1d", lambda x: max_pool1d(x, 3, stride=2, padding=1),
           lambda x: ref_pool1d(x, 3, 2, 1), [distinct(2, 3, 7)]),
    OpCase("avg_pool2d", lambda x: avg_pool2d(x, 2), lambda x: ref_pool2d(x, 2, mode="avg"), [randn(2, 3, 4, 5)]),
    OpCase("avg_pool2d_pad", lambda x: avg_pool2d(x, 3, stride=2, padding=1),
           lambda x: ref_pool2d(x, 3, 2, 1, "avg"), [randn(2, 2, 5, 6)]),
    OpCase("avg_pool2d_pad_exclude", lambda x: avg_pool2d(x, (3, 2), stride=(2, 1), padding=1, count_include_pad=False),
           lambda x: ref_pool2d(x, (3, 2), (2, 1), 1, "avg", False), [randn(1, 2, 5, 4)]),
    OpCase("avg_pool2d_divisor_override", lambda x: avg_pool2d(x, 2, divisor_override=3),
           lambda x: ref_pool2d(x, 2, mode="avg") * 4 / 3, [randn(1, 2, 4, 4)]),
    OpCase("avg_pool1d", lambda x: avg_pool1d(x, 3, stride=1, padding=1, count_include_pad=False),
           lambda x: ref_pool1d(x, 3, 1, 1, "avg", False), [randn(2, 2, 6)]),
    OpCase("adaptive_avg_pool2d", lambda x: adaptive_avg_pool2d(x, (3, 2)), lambda x: ref_adaptive_avg(x, (3, 2)),
           [randn(2, 2, 7, 5)]),
    OpCase("adaptive_avg_pool2d_divisible", lambda x: adaptive_avg_pool2d(x, 2), lambda x: ref_adaptive_avg(x, (2, 2)),
           [randn(2, 2, 4, 6)]),
    OpCase("adaptive_avg_pool2d_none_global", lambda x: adaptive_avg_pool2d(x, (None, 1)),
           lambda x: ref_adaptive_avg(x, (3, 1)), [randn(1, 2, 3, 5)]),
    OpCase("adaptive_avg_pool1d", lambda x: adaptive_avg_pool1d(x, 4), lambda x: ref_adaptive_avg(x, (4,)),
           [randn(2, 3, 10)]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_max_pool_indices_and_ties():
    x = minidl.tensor([[[[1.0, 5.0, 5.0], [2.0, 0.0, 5.0], [7.0, 7.0, 1.0]]]], requires_grad=True)
    y, idx = max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(y.detach().numpy(), [[[[5.0, 5.0], [7.0, 7.0]]]])
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), [[[[1, 1], [6, 7]]]])  # the first maximum wins ties
    y.sum().backward()  # overlapping windows add up where they share the maximum
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 2, 0], [0, 0, 0], [1, 1, 0]]]])
    y1, idx1 = max_pool1d(minidl.tensor([[[3.0, 1.0, 4.0, 1.0, 5.0]]]), 2, return_indices=True)
    np.testing.assert_array_equal(idx1.numpy(), [[[0, 2]]])


def test_padding_never_wins_a_max():
    y = max_pool2d(-minidl.ones(1, 1, 2, 2) * 5.0, 2, stride=1, padding=1)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 3, 3), -5.0))


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: max_pool2d(minidl.randn(2, 3, 4), 2), ValueError, "4-d input"),
    (lambda: max_pool2d(minidl.randn(1, 1, 4, 4), 2, padding=2), ValueError, "at most half"),
    (lambda: avg_pool2d(minidl.randn(1, 1, 2, 2), 3), ValueError, "at least as large"),
    (lambda: max_pool1d(minidl.randn(1, 4, 4, 4), 2), ValueError, "3-d input"),
    (lambda: max_pool2d(minidl.randn(1, 1, 4, 4), 2, ceil_mode=True), NotImplementedError, "ceil_mode"),
    (lambda: adaptive_avg_pool2d(minidl.randn(1, 1, 4, 4), (2, 0)), ValueError, "positive"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 8))
    g = rng.standard_normal((2, 3, 5, 4))
    calls = [
        (lambda m, t: max_pool2d(m, 3, 2, 1), lambda t: F.max_pool2d(t, 3, 2, 1)),
        (lambda m, t: avg_pool2d(m, 3, 2, 1, count_include_pad=False),
         lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False)),
        (lambda m, t: adaptive_avg_pool2d(m, (5, 4)), lambda t: F.adaptive_avg_pool2d(t, (5, 4))),
    ]
    for ours, theirs in calls:
        mx, tx = minidl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        my, ty = ours(mx, tx), theirs(tx)
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        my.backward(minidl.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    _, ti = F.max_pool2d(torch.tensor(x), 2, 1, return_indices=True)
    _, mi = max_pool2d(minidl.tensor(x), 2, 1, return_indices=True)
    np.testing.assert_array_equal(mi.numpy(), ti.numpy())
