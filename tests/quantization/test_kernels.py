"""The int8 kernels on every CPU backend against float64 references (the kernel cases' tiny rows compare the
backends with each other; these compare with independent arithmetic, at sizes and extremes the rows lack)."""

import numpy as np
import pytest

import minidl
from minidl.backends import get_backend

BACKENDS = [b for b in ("numpy", "numba") if b in minidl.available_backends()]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("M, K, N, signed", [(9, 5408, 13, False), (4, 3, 5, True), (7, 1, 2, False)])
def test_int8_matmul_is_exact(backend, M, K, N, signed):
    """int32 sums of int8 products are exact: equal to the float64 product of the same integers."""
    rng = np.random.default_rng(K)
    a = rng.integers(-128, 128, (M, K)).astype(np.int8) if signed else rng.integers(0, 256, (M, K)).astype(np.uint8)
    b = rng.integers(-128, 128, (N, K)).astype(np.int8)
    zp = 0 if signed else 77
    acc = get_backend(backend).int8_matmul(a, zp, b)
    assert acc.dtype == np.int32 and acc.shape == (M, N)
    np.testing.assert_array_equal(acc, (a.astype(np.float64) - zp) @ b.astype(np.float64).T)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_matmul_extremes_do_not_overflow(backend):
    """255 x -128 over 65,000 terms: -2.12e9, inside int32 (the bound the kernel's docstring gives)."""
    a, b = np.full((5, 65000), 255, np.uint8), np.full((3, 65000), -128, np.int8)
    acc = get_backend(backend).int8_matmul(a, 0, b)
    assert np.all(acc == -255 * 128 * 65000)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("relu", [False, True])
def test_requantize_rounds_to_the_nearest_output_step(backend, relu):
    rng = np.random.default_rng(1)
    acc = rng.integers(-30000, 30000, (6, 5)).astype(np.int32)
    multiplier = rng.uniform(1e-5, 1e-4, 5).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    scale, zp = 0.02, 100
    q = get_backend(backend).requantize(acc, multiplier, bias, scale, zp, zp if relu else 0, 255)
    real = acc * multiplier.astype(np.float64) + bias
    want = np.clip(real, 0 if relu else -zp * scale, (255 - zp) * scale)
    assert q.dtype == np.uint8
    np.testing.assert_allclose((q.astype(np.float64) - zp) * scale, want, atol=scale / 2 + 1e-6, rtol=0)
