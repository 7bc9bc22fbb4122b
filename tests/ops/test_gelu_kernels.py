"""GELU and erf kernels on every CPU backend against PyTorch, on many values (the tiny kernel-case rows check the
Numba loops against the NumPy reference; this checks both against an independent implementation, tails included)."""

import numpy as np
import pytest

import minidl
from minidl.backends import available, get_backend

torch = pytest.importorskip("torch")
BACKENDS = [b for b in ("numpy", "numba") if b in available()]
TOL = {np.float32: (2e-6, 2e-6), np.float64: (1e-12, 1e-13)}  # (rtol, atol)


def _values(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20_000) * 3, np.linspace(-12, 12, 2001), [0.0, -0.0, 4.0, -4.0, 40.0]])
    return x.astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_forward_and_backward_match_torch(backend, dtype, approximate):
    x = _values(dtype)
    gy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.gelu(tx, approximate=approximate)
    ty.backward(torch.tensor(gy))
    b = get_backend(backend)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(b.gelu_forward(x, approximate), ty.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(b.gelu_backward(gy, x, approximate), tx.grad.numpy(), rtol=rtol, atol=atol * 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_torch_and_keeps_nan(backend, dtype):
    x = np.concatenate([_values(dtype), np.array([np.nan, np.inf, -np.inf], dtype=dtype)])
    got = get_backend(backend).erf(x)
    assert got.dtype == dtype
    want = torch.erf(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-7 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gelu_module_step_matches_torch(backend):
    """nn.GELU inside a graph on (4, 8, 16) float32: the output and dL/dx of sum(gelu(x)^2)."""
    x = np.random.default_rng(2).standard_normal((4, 8, 16)).astype(np.float32) * 2
    with minidl.use_backend(backend):
        mx = minidl.tensor(x, requires_grad=True)
    y = minidl.nn.GELU()(mx)
    (y * y).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.GELU()(tx)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
