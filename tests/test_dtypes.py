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


def _float16_calls():
    from minidl.ops.norm import batch_norm, group_norm, layer_norm

    return [
        ("mean", lambda m: m.mean(), lambda t: t.mean()),
        ("sum_axis0", lambda m: m.sum(0), lambda t: t.sum(0)),
        ("var", lambda m: m.var(0), lambda t: t.var(0)),
        ("std", lambda m: m.std(0), lambda t: t.std(0)),
        ("softmax", lambda m: m.softmax(0), lambda t: t.softmax(0)),
        ("log_softmax", lambda m: m.log_softmax(0), lambda t: t.log_softmax(0)),
        ("logsumexp", lambda m: m.logsumexp(0), lambda t: t.logsumexp(0)),
        ("layer_norm", lambda m: layer_norm(m, 8), lambda t: F(t).layer_norm(t, (8,))),
        ("batch_norm", lambda m: batch_norm(m, None, None, training=True),
         lambda t: F(t).batch_norm(t, None, None, training=True)),
        ("group_norm", lambda m: group_norm(m, 2), lambda t: F(t).group_norm(t, 2)),
    ]


def F(t):
    import torch.nn.functional

    return torch.nn.functional


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("scale", [1.0, 200.0])  # 200: squared deviations pass 65504, the variance not
def test_float16_reductions_and_norms_match_pytorch(backend, scale):
    """float16 in, float16 out, computed in float32 inside: the same numbers as PyTorch's half ops
    (summing in float16 gave inf for the mean of 4096 x 30 and 0 for layer/batch norm of |x| > 256)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((4096, 8)) * scale).astype(np.float16)
    for name, ours, theirs in _float16_calls():
        with minidl.use_backend(backend):
            got = ours(minidl.tensor(x))
        want = theirs(torch.tensor(x)).float().numpy()
        assert got.dtype == np.float16, name
        np.testing.assert_allclose(got.numpy().astype(np.float32), want, rtol=4e-3, atol=4e-3 * scale, err_msg=name)
    with minidl.use_backend(backend):
        assert minidl.tensor(np.full(4096, 30, np.float16)).mean().item() == 30.0
