"""Every kernel the Numba backend overrides, against the NumPy reference, on awkward shapes.

The op test suite already runs every op on the numba backend; these tests call the kernels directly, on
the edge cases a kernel gets wrong first (odd sizes, padding, stride, dilation, groups, ties and NaN in
max pooling, ignore_index, repeated indices, AMSGrad, ...), in float32 and float64, and through both the
serial kernels and their ``prange`` twins (``PARALLEL_MIN_SIZE`` patched to force one or the other).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from minidl.backends import numba_backend  # noqa: E402
from minidl.backends.numba_backend import NumbaBackend  # noqa: E402
from minidl.backends.numpy_backend import NumpyBackend  # noqa: E402

REF, NB = NumpyBackend(), NumbaBackend()
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    """Run each test once through the serial kernels and once through the parallel ones."""
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
