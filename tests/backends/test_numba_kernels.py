"""Every kernel the Numba backend overrides, against the NumPy reference, on awkward shapes.

First every tiny row of the kernel table (``minidl/testing/kernel_cases.py``, shared with the GPU self-test
and asv), which must have a row for each kernel this backend overrides. Then the value-specific edge cases a
kernel gets wrong first (odd sizes, padding, stride, dilation, groups, ties and NaN in max pooling,
ignore_index, repeated indices, AMSGrad, ...), in float32 and float64, and through both the serial kernels
and their ``prange`` twins (``PARALLEL_MIN_SIZE`` patched to force one or the other).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from minidl.backends import numba_backend  # noqa: E402
from minidl.backends.numba_backend import NumbaBackend  # noqa: E402
from minidl.backends.numpy_backend import NumpyBackend  # noqa: E402
from minidl.testing.kernel_cases import CASES, check_case, fast_paths_reached, overridden_kernels  # noqa: E402

REF, NB = NumpyBackend(), NumbaBackend()
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    """Run each test through the serial kernels and, in float32, through their parallel twins too (the twins
    only split the same loops across threads; compiling a prange kernel costs ~1 s, so once is enough)."""
    params = getattr(request.node, "callspec", None)
    if request.param == "parallel" and params is not None and params.params.get("dtype", np.float32) != np.float32:
        pytest.skip("the parallel twins are checked in float32")
    monkeypatch.setattr(numba_backend, "PARALLEL_MIN_SIZE", 0 if request.param == "parallel" else 1 << 62)
    return request.param


def tol(dtype, scale: float = 1.0) -> dict[str, float]:
    return {"rtol": 1e-4, "atol": 1e-5 * scale} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12 * scale}


def check(got, want, dtype, scale: float = 1.0) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, **tol(dtype, scale))


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------- the kernel table
def test_every_override_has_a_case():
    missing = overridden_kernels(NB) - {c.kernel for c in CASES}
    assert not missing, f"minidl/testing/kernel_cases.py has no tiny row for {sorted(missing)}"


def test_every_override_declares_its_condition():
    undeclared = {k for k in overridden_kernels(NB) if not hasattr(getattr(NumbaBackend, k), "applies")}
    assert not undeclared, f"overrides without @fast_path(...) in numba_backend.py: {sorted(undeclared)}"


def test_the_table_reaches_every_fast_path(monkeypatch):
    """A tiny row that only ever meets the reference would check nothing of the Numba kernel."""
    monkeypatch.setattr(numba_backend, "SOFTMAX_MIN_SIZE", 0)  # the row kernels are for large inputs only
    missed = overridden_kernels(NB) - fast_paths_reached(NB, CASES, tuple(DTYPES))
    assert not missed, f"no tiny row of minidl/testing/kernel_cases.py reaches the fast path of {sorted(missed)}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kernel_table(case, dtype):
    check_case(NB, case, dtype)


# ---------------------------------------------------------------------------------------------- convolution
CONVS = [  # x shape, weight shape, stride, padding, dilation, groups
    ((4, 1, 28, 28), (32, 1, 3, 3), (1, 1), (0, 0), (1, 1), 1),  # W1's conv (K = 9: im2col + BLAS)
    ((3, 3, 32, 32), (6, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1),  # LeNet (direct)
    ((2, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0), (1, 1), 1),
    ((2, 5, 9, 7), (4, 5, 3, 3), (1, 1), (1, 2), (1, 1), 1),  # odd sizes, unequal padding
    ((2, 4, 11, 10), (6, 2, 3, 2), (1, 1), (2, 1), (2, 3), 2),  # dilation, groups
    ((1, 6, 8, 9), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 6),  # depthwise
    ((2, 3, 5, 6), (2, 3, 3, 3), (1, 1), (4, 3), (1, 1), 1),  # padding wider than the kernel reaches
    ((2, 3, 13, 12), (4, 3, 3, 5), (2, 3), (1, 2), (1, 1), 1),  # strided: the im2col path
    ((1, 17, 6, 6), (3, 17, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1 kernel
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CONVS)
def test_conv2d(xs, ws, stride, padding, dilation, groups, dtype, mode):
    rng = np.random.default_rng(0)
    x, w, b = randn(rng, xs, dtype), randn(rng, ws, dtype), randn(rng, ws[:1], dtype)
    geometry = (stride, padding, dilation, groups)
    y = REF.conv2d_forward(x, w, b, *geometry)
    scale = np.sqrt(w[0].size)
    check(NB.conv2d_forward(x, w, b, *geometry), y, dtype, scale)
    check(NB.conv2d_forward(x, w, None, *geometry), REF.conv2d_forward(x, w, None, *geometry), dtype, scale)
    gy = randn(rng, y.shape, dtype)
    check(NB.conv2d_backward_input(gy, w, xs, *geometry), REF.conv2d_backward_input(gy, w, xs, *geometry), dtype,
          scale)
    check(NB.conv2d_backward_weight(x, gy, ws, *geometry), REF.conv2d_backward_weight(x, gy, ws, *geometry), dtype,
          np.sqrt(gy[:, 0].size))


def test_conv2d_non_contiguous_input():
    rng = np.random.default_rng(1)
    x = randn(rng, (3, 8, 10, 4), np.float32).transpose(0, 3, 1, 2)  # (3, 4, 8, 10), not C-contiguous
    w = randn(rng, (5, 4, 3, 3), np.float32)
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    check(NB.conv2d_forward(x, w, None, *geometry), REF.conv2d_forward(x, w, None, *geometry), np.float32, 6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, k, stride, padding, dilation", [
    ((2, 3, 7, 9), (3, 2), (2, 1), (1, 0), (1, 2)),
    ((1, 2, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1)),
    ((2, 2, 8, 8), (2, 2), (3, 3), (0, 1), (2, 1)),
])
def test_col2im(xs, k, stride, padding, dilation, dtype, mode):
    rng = np.random.default_rng(2)
    cols = REF.im2col(randn(rng, xs, dtype), k, stride, padding, dilation)
    cols = randn(rng, cols.shape, dtype)
    check(NB.col2im(cols, xs, k, stride, padding, dilation), REF.col2im(cols, xs, k, stride, padding, dilation),
          dtype, 4)


# ---------------------------------------------------------------------------------------------- max pooling
POOLS = [  # x shape, kernel, stride, padding
    ((2, 3, 26, 26), (2, 2), (2, 2), (0, 0)),  # the specialised 2x2 kernel
    ((2, 3, 9, 7), (2, 2), (2, 2), (0, 0)),  # odd: the last row and column are dropped
    ((2, 2, 9, 11), (3, 3), (2, 2), (1, 1)),  # overlapping windows with padding
    ((1, 2, 6, 7), (3, 2), (1, 2), (1, 1)),
    ((1, 1, 4, 4), (4, 4), (1, 1), (2, 2)),  # windows made mostly of padding
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["random", "ties", "nan", "inf"])
@pytest.mark.parametrize("xs, k, stride, padding", POOLS)
def test_maxpool2d(xs, k, stride, padding, values, dtype, mode):
    rng = np.random.default_rng(3)
    x = randn(rng, xs, dtype)
    if values == "ties":
        x = np.round(x * 0.7).astype(dtype)  # many equal values: the first maximum must win
    elif values == "nan":
        x.reshape(-1)[rng.choice(x.size, x.size // 5, replace=False)] = np.nan
    elif values == "inf":
        x.reshape(-1)[rng.choice(x.size, x.size // 3, replace=False)] = -np.inf
        x.reshape(-1)[rng.choice(x.size, 3, replace=False)] = np.inf
    y, idx = REF.maxpool2d_forward(x, k, stride, padding)
    y_nb, idx_nb = NB.maxpool2d_forward(x, k, stride, padding)
    np.testing.assert_array_equal(y_nb, y)  # NaN in the same places, exact values
    assert y_nb.dtype == y.dtype and idx_nb.dtype == np.int64
    np.testing.assert_array_equal(idx_nb, idx)
    gy = randn(rng, y.shape, dtype)
    valid = (idx >= 0) & (idx < xs[2] * xs[3])  # a window of padding only points outside the plane
    if valid.all():
        check(NB.maxpool2d_backward(gy, idx, xs, k, stride, padding),
              REF.maxpool2d_backward(gy, idx, xs, k, stride, padding), dtype)


# ---------------------------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c", [(1, 1), (7, 3), (64, 10), (33, 65), (5, 1000)])
def test_softmax_cross_entropy(n, c, dtype, mode):
    rng = np.random.default_rng(4)
    x = randn(rng, (n, c), dtype) * 4
    x[0, 0] = 30  # a dominant logit
    target = rng.integers(0, c, n)
    target[::3] = -100  # ignored rows
    loss, lse = REF.softmax_cross_entropy(x, target, -100)
    loss_nb, lse_nb = NB.softmax_cross_entropy(x, target, -100)
    check(loss_nb, loss, dtype, 10)
    check(lse_nb, lse, dtype, 10)
    gloss = rng.random(n).astype(dtype)
    check(NB.softmax_cross_entropy_backward(x, target, lse, gloss, -100),
          REF.softmax_cross_entropy_backward(x, target, lse, gloss, -100), dtype)


def test_softmax_cross_entropy_other_ignore_index_and_bad_target():
    x = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    target = np.array([0, 3, 4, 3])
    for got, want in zip(NB.softmax_cross_entropy(x, target, 3), REF.softmax_cross_entropy(x, target, 3)):
        check(got, want, np.float32)
    with pytest.raises(IndexError):
        NB.softmax_cross_entropy(x, np.array([0, 1, 5, 2]), -100)


# ---------------------------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rows, d", [(1, 1), (7, 33), (64, 128)])
def test_layer_norm(rows, d, affine, dtype, mode):
    rng = np.random.default_rng(6)
    x = randn(rng, (rows, d), dtype) * 3 + 10  # an offset: the variance must not cancel
    w, b = (randn(rng, (d,), dtype), randn(rng, (d,), dtype)) if affine else (None, None)
    y, mean, rstd = REF.layer_norm_forward(x, w, b, 1e-5)
    for got, want in zip(NB.layer_norm_forward(x, w, b, 1e-5), (y, mean, rstd)):
        check(got, want, dtype, 10)
    gy = randn(rng, (rows, d), dtype)
    # against the float64 reference: NumPy's float32 column sums (gw, gb) are the less accurate of the two
    want = REF.layer_norm_backward(*(None if a is None else a.astype(np.float64) for a in (gy, x, w, mean, rstd)))
    for got, ref in zip(NB.layer_norm_backward(gy, x, w, mean, rstd), want):
        if ref is None:
            assert got is None
        else:
            check(got, ref.astype(dtype), dtype, 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(2, 3), (4, 7, 9), (8, 6, 14, 13), (3, 2, 2, 3, 4)])
def test_batch_norm(shape, affine, dtype, mode):
    rng = np.random.default_rng(7)
    x = randn(rng, shape, dtype) * 2 + 5
    C = shape[1]
    w, b = (randn(rng, (C,), dtype), randn(rng, (C,), dtype)) if affine else (None, None)
    y, mean, var = REF.batch_norm_forward(x, w, b, 1e-5)
    for got, want in zip(NB.batch_norm_forward(x, w, b, 1e-5), (y, mean, var)):
        check(got, want, dtype, 10)
    rstd = (1 / np.sqrt(var + 1e-5)).astype(dtype)
    gy = randn(rng, shape, dtype)
    want = REF.batch_norm_backward(*(None if a is None else a.astype(np.float64) for a in (gy, x, w, mean, rstd)))
    for got, ref in zip(NB.batch_norm_backward(gy, x, w, mean, rstd), want):
        check(got, ref.astype(dtype), dtype, 100)


# ---------------------------------------------------------------------------------------------- optimizers
def _states(rng, n, dtype, k):
    return [np.abs(randn(rng, (n,), dtype)) for _ in range(k)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled, amsgrad, maximize, weight_decay", [
    (False, False, False, 0.0), (False, False, True, 0.1), (True, False, False, 0.01), (True, True, True, 0.01),
    (False, True, False, 0.0),
])
def test_adam_update(decoupled, amsgrad, maximize, weight_decay, dtype, mode):
    rng = np.random.default_rng(8)
    n = 1003
    p, g = randn(rng, (n,), dtype), randn(rng, (n,), dtype)
    state = _states(rng, n, dtype, 3 if amsgrad else 2)
    ours, theirs = [p.copy(), *(s.copy() for s in state)], [p.copy(), *(s.copy() for s in state)]
    for backend, (q, m, v, *vmax) in ((NB, ours), (REF, theirs)):
        for step in (1, 2, 7):
            backend.adam_update(q, g, m, v, 1e-2, 0.9, 0.999, 1e-8, weight_decay, step, decoupled,
                                vmax[0] if vmax else None, maximize)
    for a, b in zip(ours, theirs):
        check(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, dampening, nesterov, maximize, weight_decay", [
    (0.0, 0.0, False, False, 0.0), (0.0, 0.0, False, True, 0.1), (0.9, 0.0, False, False, 0.0),
    (0.9, 0.3, False, True, 0.01), (0.9, 0.0, True, False, 0.01),
])
def test_sgd_update(momentum, dampening, nesterov, maximize, weight_decay, dtype, mode):
    rng = np.random.default_rng(9)
    p, g = randn(rng, (5, 7), dtype), randn(rng, (5, 7), dtype)
    results = []
    for backend in (NB, REF):
        q, buf = p.copy(), None
        for _ in range(3):
            buf = backend.sgd_update(q, g, buf, 0.1, momentum, dampening, weight_decay, nesterov, maximize)
        assert (buf is None) == (momentum == 0)
        results.append((q, buf))
    check(results[0][0], results[1][0], dtype)
    if momentum:
        check(results[0][1], results[1][1], dtype)


def test_optimizer_non_contiguous_param_goes_to_the_reference():
    p = np.arange(12, dtype=np.float32).reshape(3, 4).T  # not C-contiguous: flat views would be copies
    q = np.ascontiguousarray(p)
    g = np.ones((4, 3), np.float32)
    NB.sgd_update(p, g, None, 0.5, 0.0, 0.0, 0.0, False, False)
    REF.sgd_update(q, g, None, 0.5, 0.0, 0.0, 0.0, False, False)
    np.testing.assert_array_equal(p, q)


# ---------------------------------------------------------------------------------------------- recurrent cells
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, H", [(1, 1), (3, 5), (32, 64)])
def test_lstm_cell(B, H, dtype, mode):
    rng = np.random.default_rng(10)
    z = randn(rng, (B, 4 * H), dtype) * 4  # saturating gates and near-0 ones
    z[0, :4] = [0, 1e-4, -30, 30]
    c_prev = randn(rng, (B, H), dtype)
    want = REF.lstm_cell_forward(z, c_prev)
    for got, ref in zip(NB.lstm_cell_forward(z, c_prev), want):
        check(got, ref, dtype)
    gh, gc = randn(rng, (B, H), dtype), randn(rng, (B, H), dtype)
    _, c, acts = want
    args = (gh, gc, acts, c_prev, c)
    for got, ref in zip(NB.lstm_cell_backward(*args), REF.lstm_cell_backward(*args)):
        check(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B, H", [(1, 1), (3, 5), (32, 64)])
def test_gru_cell(B, H, dtype, mode):
    rng = np.random.default_rng(11)
    a, b, h_prev = randn(rng, (B, 3 * H), dtype) * 4, randn(rng, (B, 3 * H), dtype) * 4, randn(rng, (B, H), dtype)
    want = REF.gru_cell_forward(a, b, h_prev)
    for got, ref in zip(NB.gru_cell_forward(a, b, h_prev), want):
        check(got, ref, dtype)
    gh = randn(rng, (B, H), dtype)
    for got, ref in zip(NB.gru_cell_backward(gh, want[1], h_prev), REF.gru_cell_backward(gh, want[1], h_prev)):
        check(got, ref, dtype)


def test_fast_activations_float32_accuracy():
    from numba import njit

    from minidl.backends.numba_kernels.fastexp import fast_exp, fast_sigmoid, fast_tanh

    @njit
    def apply(x, out):
        for j in range(x.shape[0]):
            out[0, j], out[1, j], out[2, j] = fast_exp(-abs(x[j])), fast_sigmoid(x[j]), fast_tanh(x[j])

    x = np.concatenate([np.linspace(-80, 80, 200_001), [0.0, 1e-30, -1e-8, 0.625, -0.625]]).astype(np.float32)
    out = np.empty((3, x.size), np.float32)
    apply(x, out)
    x64 = x.astype(np.float64)
    for got, want in zip(out, (np.exp(-np.abs(x64)), 1 / (1 + np.exp(-x64)), np.tanh(x64))):
        np.testing.assert_allclose(got, want, rtol=5e-6, atol=1e-37)
    special = np.array([np.inf, -np.inf, np.nan], np.float32)
    out = np.empty((3, 3), np.float32)
    apply(special, out)
    np.testing.assert_array_equal(out[:, :2], [[0, 0], [1, 0], [1, -1]])
    assert np.isnan(out[:, 2]).all()


# ---------------------------------------------------------------------------------------------- scatter-add
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 0, 4])
@pytest.mark.parametrize("index_shape, V, D", [((0,), 5, 3), ((6,), 5, 1), ((4, 9), 7, 16), ((2, 3, 5), 40, 33)])
def test_embedding_backward(index_shape, V, D, padding_idx, dtype, mode):
    rng = np.random.default_rng(12)
    indices = rng.integers(0, V, index_shape)  # many repeats
    grad = randn(rng, index_shape + (D,), dtype)
    if padding_idx is not None and padding_idx >= V:
        pytest.skip("padding_idx out of range")
    check(NB.embedding_backward(indices, grad, V, padding_idx), REF.embedding_backward(indices, grad, V, padding_idx),
          dtype, 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add(dtype, mode):
    rng = np.random.default_rng(13)
    index = np.array([3, -1, 3, 0, 3, 4])  # repeats and a negative index
    for shape in [(5,), (5, 4), (5, 2, 3)]:
        values = randn(rng, index.shape + shape[1:], dtype)
        check(NB.index_add(shape, index, values), REF.index_add(shape, index, values), dtype)
    index2 = rng.integers(0, 6, (3, 4))  # a 2-d index array
    values = randn(rng, (3, 4, 2), dtype)
    check(NB.index_add((6, 2), index2, values), REF.index_add((6, 2), index2, values), dtype)
    sl = (slice(1, 3), np.array([0, 0]))  # any other index goes to the reference
    values = randn(rng, (2, 2), dtype)
    check(NB.index_add((4, 3), sl, values), REF.index_add((4, 3), sl, values), dtype)
    with pytest.raises(IndexError):
        NB.index_add((3,), np.array([0, 3]), np.ones(2, dtype))


# ---------------------------------------------------------------------------------------------- attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked, dropout", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7, 4), (1, 2, 16, 9, 8)])  # B, H, L, S, E (L != S)
def test_attention(shape, masked, dropout, causal, dtype, mode):
    rng = np.random.default_rng(14)
    B, H, L, S, E = shape
    q, k, v = randn(rng, (B, H, L, E), dtype), randn(rng, (B, H, S, E), dtype), randn(rng, (B, H, S, E + 1), dtype)
    mask = None
    if masked:
        mask = np.where(rng.random((L, S)) < 0.3, -np.inf, 0).astype(dtype)
        mask[1] = -np.inf  # a query that sees no key at all: its row is 0
    keep = (rng.random((B, H, L, S)) < 0.8).astype(dtype) / dtype(0.8) if dropout else None
    out, p = REF.attention_forward(q, k, v, mask, 0.4, causal, keep)
    out_nb, p_nb = NB.attention_forward(q, k, v, mask, 0.4, causal, keep)
    check(out_nb, out, dtype)
    check(p_nb, p, dtype)
    gout = randn(rng, out.shape, dtype)
    for got, want in zip(NB.attention_backward(gout, q, k, v, out, p, mask, 0.4, causal, keep),
                         REF.attention_backward(gout, q, k, v, out, p, mask, 0.4, causal, keep)):
        check(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_max_through_integer_keys(dtype):
    from numba import njit

    from minidl.backends.numba_kernels.fastexp import row_max

    rmax = njit(lambda x: row_max(x))
    rng = np.random.default_rng(15)
    for n in (1, 2, 9, 1000):
        x = randn(rng, (n,), dtype)
        assert rmax(x) == x.max()
    for values, want in [([-np.inf, -3, -0.0, 0.0, -1e-30], 0.0), ([-np.inf, -np.inf], -np.inf), ([-5, -2, -7], -2),
                         ([np.inf, 3], np.inf), ([-1e-38, -2e-38], -1e-38)]:
        assert rmax(np.array(values, dtype)) == dtype(want)
    assert np.isnan(rmax(np.array([1, np.nan, 2], dtype)))


# ---------------------------------------------------------------------------------------------- row softmax
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (2, 3, 65), (64, 1000)])
def test_softmax_and_log_softmax(shape, dtype, monkeypatch):
    monkeypatch.setattr(numba_backend, "SOFTMAX_MIN_SIZE", 0)  # the numba kernels even for tiny inputs
    rng = np.random.default_rng(16)
    x = randn(rng, shape, dtype) * 5
    if shape[-1] > 1:
        x.reshape(-1)[0] = -np.inf  # a masked entry
    check(NB.softmax(x, -1), REF.softmax(x, -1), dtype)
    check(NB.log_softmax(x, -1), REF.log_softmax(x, -1), dtype, 10)


def test_mismatched_shapes_reach_the_reference_and_raise_like_it():
    """The compiled loops do not check bounds: a shape they were not written for must not reach them."""
    x = np.ones((4, 5), np.float32)
    cases = [
        ("softmax_cross_entropy", (x, np.zeros(3, np.int64), -100)),
        ("layer_norm_backward", (np.ones((4, 6), np.float32), x, None, np.zeros(4, np.float32), x[:, 0])),
        ("lstm_cell_forward", (np.ones((3, 8), np.float32), np.ones((2, 2), np.float32))),
        ("maxpool2d_backward", (np.ones((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 3), np.int64), (1, 1, 4, 4),
                                (2, 2), (2, 2), (0, 0))),
    ]
    for name, args in cases:
        with pytest.raises(Exception) as want:
            getattr(REF, name)(*args)
        with pytest.raises(want.type):
            getattr(NB, name)(*args)
