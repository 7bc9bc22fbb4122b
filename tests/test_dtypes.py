"""float32 stays float32 through every op and gradient; Python scalars never upcast (NumPy 2 rules)."""

import numpy as np
import pytest

import minidl

UNARY = ["exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", UNARY)
def test_unary_ops_keep_dtype(name, dtype):
    x = minidl.tensor([0.5, 1.5], dtype=dtype, requires_grad=True)
    y = getattr(x, name)()
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype


@pytest.mark.parametrize(
    "expr",
    [lambda x: x * 0.5, lambda x: 0.5 * x, lambda x: x / 3, lambda x: 2.0 / x, lambda x: x**2, lambda x: x**0.5,
     lambda x: 2.0**x, lambda x: x - 1, lambda x: 1 - x, lambda x: x + 1e-300, lambda x: x.mean(), lambda x: x.var(),
     lambda x: x.std(), lambda x: x.softmax(), lambda x: x.log_softmax(), lambda x: x.logsumexp(),
     lambda x: minidl.where(x > 1, x, 0.0), lambda x: x.clip(0.7, 1.2), lambda x: minidl.maximum(x, 1.0)],
)
def test_python_scalars_never_upcast_float32(expr):
    x = minidl.tensor([0.5, 1.5], requires_grad=True)
    assert x.dtype == np.float32
    y = expr(x)
    y.sum().backward()
    assert y.dtype == np.float32
    assert x.grad.dtype == np.float32


def test_creation_defaults_follow_pytorch():
    assert minidl.tensor([1.0, 2.0]).dtype == np.float32
    assert minidl.tensor([1, 2]).dtype == np.int64
    assert minidl.tensor(np.zeros(2)).dtype == np.float64  # numpy arrays keep their dtype
    assert minidl.zeros(2).dtype == np.float32
    assert minidl.arange(3).dtype == np.int64 and minidl.arange(0, 1, 0.5).dtype == np.float32
    assert minidl.randn(2, dtype=np.float64).dtype == np.float64
