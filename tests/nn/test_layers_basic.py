"""Linear, Dropout, Embedding, Flatten and the activation/loss modules: the ops through the harness,
parameter names and shapes equal to PyTorch's, and (when torch is installed) outputs and gradients
equal to torch's for the same weights."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.testing import OpCase, make_op_tests, randn

IDX = np.array([[1, 4, 1], [0, 2, 4]])  # index 1 and 4 repeat: their gradients accumulate


def _dropout_ref(x, p=0.3, seed=5):
    keep = np.random.Generator(np.random.PCG64(seed)).random(x.shape, dtype=np.float32) >= p
    return x * keep / (1 - p)


CASES = [
    OpCase("linear", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, [randn(4, 3), randn(2, 3),
                                                                                      randn(2)]),
    OpCase("linear_3d_no_bias", lambda x, w: F.linear(x, w), lambda x, w: x @ w.T, [randn(2, 3, 4), randn(5, 4)]),
    OpCase("embedding", lambda w: F.embedding(IDX, w), lambda w: w[IDX], [randn(5, 3)]),
    # the padding row's gradient is 0 by design (not the true derivative): forward only here
    OpCase("embedding_padding", lambda w: F.embedding(IDX, w, padding_idx=1), lambda w: w[IDX], [randn(5, 3)],
           backward=False),
    OpCase("dropout", lambda x: F.dropout(x, 0.3, generator=minidl.Generator(5)), _dropout_ref, [randn(4, 6)]),
]
test_forward, test_backward, test_double_backward = make_op_tests(CASES)


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(5, 3, padding_idx=1)
    assert not emb.weight.detach().numpy()[1].any()
    (emb(minidl.tensor(IDX)) * minidl.randn(2, 3, 3)).sum().backward()
    g = emb.weight.grad.numpy()
    assert not g[1].any() and g[4].any() and not g[3].any()  # row 3 unused, row 1 is padding


def test_embedding_from_pretrained_and_errors():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(minidl.tensor([3, 0])).numpy(), table[[3, 0]])
    assert nn.Embedding.from_pretrained(minidl.tensor(table), freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match=r"indices must be in \[0, 4\)"):
        emb(minidl.tensor([4]))
    with pytest.raises(TypeError, match="integers"):
        emb(minidl.tensor([1.0]))
    assert repr(nn.Embedding(10, 4, padding_idx=0)) == "Embedding(10, 4, padding_idx=0)"


def test_dropout_train_eval_and_statistics():
    drop = nn.Dropout(0.25, generator=minidl.Generator(0))
    y = drop(minidl.ones(100_000)).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01 and abs(y.mean() - 1) < 0.01  # inverted: the mean is kept
    x = minidl.randn(3, 4)
    assert drop.eval()(x) is x
    assert not nn.Dropout(1.0)(minidl.ones(5)).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    a = F.dropout(minidl.ones(50), 0.5, generator=minidl.Generator(1)).numpy()
    b = F.dropout(minidl.ones(50), 0.5, generator=minidl.Generator(1)).numpy()
    np.testing.assert_array_equal(a, b)


def test_dropout2d_drops_whole_channels():
    y = nn.Dropout2d(0.5, generator=minidl.Generator(0))(minidl.ones(8, 16, 3, 3)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()


def test_flatten_unflatten():
    x = minidl.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    with pytest.raises(ValueError, match="Unflatten"):
        nn.Unflatten(1, (7, 8))(nn.Flatten()(x))


def test_loss_modules_take_weights_as_lists_and_move_them_with_to():
    loss_fn = nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5])
    assert loss_fn.weight.dtype == np.float32 and "weight" not in loss_fn.state_dict()
    x = minidl.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
    t = minidl.tensor([1, 2])
    logp = x.log_softmax(-1).numpy()
    expected = -(2.0 * logp[0, 1] + 0.5 * logp[1, 2]) / 2.5
    assert float(loss_fn(x, t)) == pytest.approx(expected, rel=1e-6)
    loss_fn.to(np.float64)
    assert loss_fn.weight.dtype == np.float64


def test_linear_init_bounds_and_dtype():
    layer = nn.Linear(16, 8, generator=minidl.Generator(0))
    bound = 1 / 4
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert np.abs(layer.weight.detach().numpy()).max() <= bound and np.abs(layer.bias.detach().numpy()).max() <= bound
    same = nn.Linear(16, 8, generator=minidl.Generator(0))
    np.testing.assert_array_equal(layer.weight.detach().numpy(), same.weight.detach().numpy())
    assert nn.Linear(2, 2, dtype=np.float64).weight.dtype == np.float64
    assert "bias" not in nn.Linear(2, 2, bias=False).state_dict()


# --------------------------------------------------------------------------- against PyTorch
MODULE_PAIRS = [  # (minidl module, torch module name, args)
    ("Linear", (5, 3)), ("Embedding", (10, 4)), ("ReLU", ()), ("LeakyReLU", (0.1,)), ("ELU", (0.7,)),
    ("GELU", ()), ("SiLU", ()), ("Tanh", ()), ("Sigmoid", ()), ("Softmax", (1,)), ("LogSoftmax", (1,)),
    ("Softplus", (2.0, 5.0)), ("Flatten", ()), ("Identity", ()),
]


@pytest.mark.parametrize(("name", "args"), MODULE_PAIRS, ids=[p[0] for p in MODULE_PAIRS])
def test_modules_match_torch(name, args):
    torch = pytest.importorskip("torch")
    ours, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in
                                                                  ref.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (2, 3)) if name == "Embedding" else (rng.standard_normal((4, 5)) * 3).astype(np.float32)
    tx = torch.from_numpy(x)
    xt = minidl.tensor(x, requires_grad=x.dtype.kind == "f")
    tx.requires_grad_(x.dtype.kind == "f")
    y, ty = ours(xt), ref(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    w = rng.standard_normal(y.shape).astype(np.float32)
    (y * minidl.tensor(w)).sum().backward()
    (ty * torch.from_numpy(w)).sum().backward()
    if x.dtype.kind == "f":
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    for (n, p), tp in zip(ours.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_gelu_tanh_and_embedding_padding_match_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    np.testing.assert_allclose(nn.GELU("tanh")(minidl.tensor(x)).numpy(),
                               torch.nn.GELU("tanh")(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-7)
    ref = torch.nn.Embedding(6, 2, padding_idx=2)
    ours = nn.Embedding(6, 2, padding_idx=2)
    ours.load_state_dict(ref.state_dict())
    idx = np.array([2, 3, 2, 5])
    ours(minidl.tensor(idx)).sum().backward()
    ref(torch.from_numpy(idx)).sum().backward()
    np.testing.assert_array_equal(ours.weight.grad.numpy(), ref.weight.grad.numpy())


LOSSES = [  # (name, kwargs, target kind)
    ("CrossEntropyLoss", {}, "class"), ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 0}, "class"),
    ("CrossEntropyLoss", {"reduction": "sum"}, "prob"), ("NLLLoss", {"reduction": "none"}, "class"),
    ("BCELoss", {}, "binary"), ("BCEWithLogitsLoss", {}, "binary"), ("MSELoss", {}, "real"),
    ("L1Loss", {"reduction": "sum"}, "real"), ("HuberLoss", {"delta": 0.5}, "real"),
    ("SmoothL1Loss", {"beta": 0.5}, "real"), ("KLDivLoss", {"reduction": "batchmean"}, "prob"),
]


@pytest.mark.parametrize(("name", "kwargs", "kind"), LOSSES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LOSSES)])
def test_loss_modules_match_torch(name, kwargs, kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    if name == "BCELoss":
        x = 1 / (1 + np.exp(-x))
    if name in ("NLLLoss", "KLDivLoss"):
        x = x - np.log(np.exp(x).sum(1, keepdims=True))
    target = {"class": rng.integers(0, 4, 6), "binary": rng.uniform(0, 1, (6, 4)).astype(np.float32),
              "real": rng.standard_normal((6, 4)).astype(np.float32),
              "prob": rng.dirichlet(np.ones(4), 6).astype(np.float32)}[kind]
    xt, tx = minidl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss = getattr(nn, name)(**kwargs)(xt, minidl.tensor(target))
    ref = getattr(torch.nn, name)(**kwargs)(tx, torch.from_numpy(target))
    np.testing.assert_allclose(loss.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert loss.dtype == np.float32 and xt.grad.dtype == np.float32
