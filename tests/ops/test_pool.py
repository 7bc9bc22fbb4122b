"""Pooling through the harness: forward against direct nested loops, gradients against finite
differences (distinct values, so no max ever ties or swaps), double backward; PyTorch cross-check."""

import numpy as np
import pytest

import minidl
from minidl.ops.pool import adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from minidl.testing import OpCase, distinct, make_op_tests, randn


def _pair(v):
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def ref_pool2d(x, kernel, stride=None, padding=0, mode="max", count_include_pad=True, dilation=1, ceil_mode=False,
               divisor_override=None):
    """Loop over every output pixel; padding is -inf for max and 0 for avg. ceil_mode rounds the output size up
    but drops a last window starting past the input and the left padding; an avg window's divisor counts up to
    the padded edge (count_include_pad) or only the input elements (PyTorch's rules)."""
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel if stride is None else stride)
    N, C, H, W = x.shape

    def out(n, k, s, p, d):
        span = n + 2 * p - d * (k - 1) - 1
        o = -(-span // s) + 1 if ceil_mode else span // s + 1
        return o - 1 if ceil_mode and (o - 1) * s >= n + p else o

    OH, OW = out(H, kh, sh, ph, dh), out(W, kw, sw, pw, dw)
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * sh - ph, j * sw - pw
            rows = [h for h in range(h0, h0 + dh * (kh - 1) + 1, dh) if 0 <= h < H]
            cols = [w for w in range(w0, w0 + dw * (kw - 1) + 1, dw) if 0 <= w < W]
            window = x[:, :, rows][:, :, :, cols]
            if mode == "max":
                y[:, :, i, j] = window.max(axis=(2, 3))
            else:
                whole = (min(h0 + kh, H + ph) - h0) * (min(w0 + kw, W + pw) - w0)
                divisor = whole if count_include_pad else len(rows) * len(cols)
                divisor = divisor_override or divisor
                y[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return y


def ref_pool1d(x, kernel, stride=None, padding=0, mode="max", count_include_pad=True, dilation=1, ceil_mode=False):
    return ref_pool2d(x[:, :, None], (1, kernel), (1, kernel if stride is None else stride), (0, padding), mode,
                      count_include_pad, (1, dilation), ceil_mode)[:, :, 0]


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
    # ceil_mode: a last window hanging over the bottom/right edge; dilation: taps d apart
    OpCase("max_pool2d_ceil", lambda x: max_pool2d(x, 2, ceil_mode=True), lambda x: ref_pool2d(x, 2, ceil_mode=True),
           [distinct(1, 2, 5, 7)]),
    OpCase("max_pool2d_ceil_pad_stride", lambda x: max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
           lambda x: ref_pool2d(x, 3, 2, 1, ceil_mode=True), [distinct(2, 2, 6, 5)]),
    OpCase("max_pool2d_dilation", lambda x: max_pool2d(x, 2, stride=1, dilation=2),
           lambda x: ref_pool2d(x, 2, 1, dilation=2), [distinct(1, 2, 5, 6)]),
    OpCase("max_pool2d_dilation_pad_ceil", lambda x: max_pool2d(x, (3, 2), (2, 3), (1, 1), (2, 3), ceil_mode=True),
           lambda x: ref_pool2d(x, (3, 2), (2, 3), 1, dilation=(2, 3), ceil_mode=True), [distinct(2, 2, 8, 9)]),
    OpCase("max_pool1d_dilation_ceil", lambda x: max_pool1d(x, 3, 2, 1, dilation=2, ceil_mode=True),
           lambda x: ref_pool1d(x, 3, 2, 1, dilation=2, ceil_mode=True), [distinct(2, 3, 8)]),
    OpCase("avg_pool2d_ceil", lambda x: avg_pool2d(x, 2, ceil_mode=True),
           lambda x: ref_pool2d(x, 2, mode="avg", ceil_mode=True), [randn(2, 2, 5, 7)]),
    OpCase("avg_pool2d_ceil_pad", lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True),
           lambda x: ref_pool2d(x, 3, 2, 1, "avg", ceil_mode=True), [randn(1, 2, 6, 7)]),
    OpCase("avg_pool2d_ceil_pad_exclude", lambda x: avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
           lambda x: ref_pool2d(x, 3, 2, 1, "avg", False, ceil_mode=True), [randn(1, 2, 6, 7)]),
    OpCase("avg_pool2d_ceil_divisor_override", lambda x: avg_pool2d(x, 3, 2, ceil_mode=True, divisor_override=2),
           lambda x: ref_pool2d(x, 3, 2, mode="avg", ceil_mode=True, divisor_override=2),
           [randn(1, 2, 4, 5)]),
    OpCase("avg_pool1d_ceil", lambda x: avg_pool1d(x, 3, 2, 1, ceil_mode=True),
           lambda x: ref_pool1d(x, 3, 2, 1, "avg", ceil_mode=True), [randn(2, 2, 8)]),
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
    (lambda: max_pool2d(minidl.randn(1, 1, 2, 2), 2, dilation=2), ValueError, "too small"),
    (lambda: max_pool2d(minidl.randn(1, 1, 4, 4), 2, dilation=0), ValueError, "positive"),
    (lambda: avg_pool2d(minidl.randn(1, 1, 4, 4), 2, divisor_override=0), ValueError, "zero"),
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


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ceil_mode_and_dilation_against_torch(backend):
    """Outputs, indices and gradients on shapes where ceil_mode adds a window that starts in the input, one
    that would start in the right padding (PyTorch drops it), and dilated windows that start in the padding."""
    torch = pytest.importorskip("torch")
    if backend == "numba":
        pytest.importorskip("numba")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    calls = [  # (input shape, minidl call, torch call)
        ((2, 3, 7, 8), lambda m: max_pool2d(m, 2, ceil_mode=True, return_indices=True),
         lambda t: F.max_pool2d(t, 2, ceil_mode=True, return_indices=True)),
        ((1, 2, 6, 6), lambda m: max_pool2d(m, 3, 2, 1, ceil_mode=True, return_indices=True),  # 6+2-3: 3 windows,
         lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True, return_indices=True)),  # not 4 (starts in the padding)
        ((2, 2, 9, 10), lambda m: max_pool2d(m, 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True),
         lambda t: F.max_pool2d(t, 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True)),
        ((2, 2, 9, 10), lambda m: max_pool2d(m, (2, 3), (1, 2), (1, 0), dilation=(3, 2), return_indices=True),
         lambda t: F.max_pool2d(t, (2, 3), (1, 2), (1, 0), dilation=(3, 2), return_indices=True)),
        ((2, 3, 11), lambda m: max_pool1d(m, 4, 3, 2, dilation=2, ceil_mode=True, return_indices=True),
         lambda t: F.max_pool1d(t, 4, 3, 2, dilation=2, ceil_mode=True, return_indices=True)),
        ((2, 3, 7, 8), lambda m: avg_pool2d(m, 3, 2, 1, ceil_mode=True),
         lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True)),
        ((2, 3, 7, 8), lambda m: avg_pool2d(m, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
        ((2, 3, 7, 8), lambda m: avg_pool2d(m, 3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=5),
         lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=5)),
        ((2, 3, 10), lambda m: avg_pool1d(m, 4, 3, 1, ceil_mode=True),
         lambda t: F.avg_pool1d(t, 4, 3, 1, ceil_mode=True)),
    ]
    for shape, ours, theirs in calls:
        x = rng.standard_normal(shape)
        mx, tx = minidl.tensor(x, requires_grad=True, backend=backend), torch.tensor(x, requires_grad=True)
        mo, to = ours(mx), theirs(tx)
        (my, mi), (ty, ti) = (mo, to) if isinstance(to, tuple) else ((mo, None), (to, None))
        assert my.shape == tuple(ty.shape)
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        if ti is not None:
            np.testing.assert_array_equal(mi.numpy(), ti.numpy())
        g = rng.standard_normal(tuple(ty.shape))
        my.backward(minidl.tensor(g, backend=backend))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_ceil_mode_output_sizes_follow_torch():
    """Every small geometry: the same output size as PyTorch, or an error where PyTorch refuses."""
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 5, 6))
    for k, s, p, d in [(k, s, p, d) for k in (1, 2, 3, 4) for s in (1, 2, 3) for p in (0, 1, 2) for d in (1, 2)]:
        try:
            want = tuple(torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode=True).shape)
        except RuntimeError:
            with pytest.raises(ValueError):
                max_pool2d(minidl.tensor(x), k, s, p, d, ceil_mode=True)
            continue
        assert max_pool2d(minidl.tensor(x), k, s, p, d, ceil_mode=True).shape == want, (k, s, p, d)


def test_pool_layers_pass_ceil_mode_and_dilation():
    x = minidl.tensor(np.arange(2 * 25, dtype=np.float32).reshape(1, 2, 5, 5))
    assert minidl.nn.MaxPool2d(2, ceil_mode=True)(x).shape == (1, 2, 3, 3)
    assert minidl.nn.MaxPool2d(2, stride=1, dilation=2)(x).shape == (1, 2, 3, 3)
    assert minidl.nn.AvgPool2d(2, ceil_mode=True)(x).shape == (1, 2, 3, 3)
    assert minidl.nn.MaxPool1d(2, ceil_mode=True)(x[:, :, 0]).shape == (1, 2, 3)
    assert minidl.nn.AvgPool1d(2, ceil_mode=True)(x[:, :, 0]).shape == (1, 2, 3)
    np.testing.assert_array_equal(minidl.nn.MaxPool2d(2, ceil_mode=True)(x).numpy()[0, 0],
                                  [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
