"""Conv, pooling and normalization layers: PyTorch constructor signatures, parameter names, shapes and
default init; BatchNorm's train/eval behaviour and running statistics; the issue's acceptance models
(the seed MNIST CNN and LeNet) train; PyTorch cross-checks when torch is installed."""

import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.optim import SGD


def arr(t):
    return t.detach().numpy()


def mnist_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def lenet():
    return nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


# --------------------------------------------------------------------------- parameters and init
@pytest.mark.parametrize(("layer", "weight_shape", "fan_in"), [
    (lambda: nn.Conv1d(4, 6, 3), (6, 4, 3), 12),
    (lambda: nn.Conv2d(4, 6, (3, 2), groups=2), (6, 2, 3, 2), 12),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), (4, 3, 3, 3), 27),
])
def test_conv_parameters_and_default_init(layer, weight_shape, fan_in):
    m = layer()
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == weight_shape and m.bias.shape == (6,)
    assert m.weight.dtype == m.bias.dtype == np.float32
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound


def test_conv_init_statistics_and_no_bias():
    m = nn.Conv2d(64, 64, 3, bias=False, generator=minidl.Generator(0))
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    bound = 1 / math.sqrt(64 * 9)
    np.testing.assert_allclose(m.weight.detach().numpy().std(), bound / math.sqrt(3), rtol=0.02)


def test_layers_match_the_functional_ops():
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((2, 4, 9, 9)).astype(np.float32))
    conv = nn.Conv2d(4, 6, 3, stride=2, padding="valid", dilation=1, groups=2)
    np.testing.assert_allclose(arr(conv(x)), arr(F.conv2d(x, conv.weight, conv.bias, 2, 0, 1, 2)))
    same = nn.Conv2d(4, 4, 4, padding="same")
    assert same(x).shape == (2, 4, 9, 9)
    c1 = nn.Conv1d(4, 2, 3, padding=1, stride=2)
    x1 = x[:, :, 0]
    np.testing.assert_allclose(arr(c1(x1)), arr(F.conv1d(x1, c1.weight, c1.bias, 2, 1)))
    t = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
    assert t(x).shape == (2, 3, 18, 18)
    assert t(x, output_size=(17, 17)).shape == (2, 3, 17, 17)


def test_pooling_layers():
    x = minidl.randn(2, 3, 8, 7)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 3)
    y, idx = nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(x)
    assert y.shape == idx.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(nn.AvgPool2d(2, count_include_pad=False)(x).numpy(), F.avg_pool2d(x, 2).numpy())
    assert nn.AdaptiveAvgPool2d((None, 2))(x).shape == (2, 3, 8, 2)
    assert nn.MaxPool1d(2)(x[:, :, 0]).shape == nn.AvgPool1d(2)(x[:, :, 0]).shape == (2, 3, 3)
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(1)(x[:, :, 0]).numpy()[..., 0], x[:, :, 0].numpy().mean(-1),
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- normalization
def test_batch_norm_buffers_and_running_statistics():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    rng = np.random.default_rng(1)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = (rng.standard_normal((4, 3, 2, 2)) * 3 + 2).astype(np.float32)
        y = bn(minidl.tensor(x))
        xm, xv = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        np.testing.assert_allclose(y.detach().numpy(), (x - xm.reshape(1, 3, 1, 1)) /
                                   np.sqrt(xv.reshape(1, 3, 1, 1) + 1e-5), rtol=1e-4, atol=1e-5)
        mean = 0.8 * mean + 0.2 * xm
        var = 0.8 * var + 0.2 * x.var(axis=(0, 2, 3), ddof=1)  # the running variance is unbiased
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3 and bn.num_batches_tracked.dtype == np.int64
    bn.eval()  # eval: the running statistics, and no update
    x = minidl.randn(2, 3, 2, 2)
    expected = (x.numpy() - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(bn(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3


def test_batch_norm_cumulative_average_and_no_tracking():
    bn = nn.BatchNorm1d(2, momentum=None, affine=False)
    assert list(bn.parameters()) == []
    xs = [np.random.default_rng(i).standard_normal((5, 2)).astype(np.float32) for i in range(3)]
    for x in xs:
        bn(minidl.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5)
    free = nn.BatchNorm1d(2, track_running_stats=False).eval()  # eval without running stats: batch statistics
    assert free.running_mean is None
    y = free(minidl.tensor(xs[0])).detach().numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    assert nn.BatchNorm1d(2)(minidl.randn(4, 2, 5)).shape == (4, 2, 5)
    with pytest.raises(ValueError, match="BatchNorm2d"):
        nn.BatchNorm2d(2)(minidl.randn(4, 2))
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm1d(3)(minidl.randn(4, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_gradients_match_the_closed_form(dtype):
    """L = sum(g * y), y = w xhat + b, xhat = (x - mean) / sqrt(var + eps) per channel over m = N*H*W values:
    dL/db = sum g,  dL/dw = sum g xhat,  dL/dx = w / sqrt(var + eps) * (g - mean(g) - xhat mean(g xhat)).
    In eval mode the statistics are constants: dL/dx = g w / sqrt(running_var + eps)."""
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(2, dtype=dtype)
    w, b = rng.uniform(0.5, 2.0, 2), rng.standard_normal(2)
    bn.load_state_dict({**{k: v.numpy() for k, v in bn.state_dict().items()}, "weight": w, "bias": b})
    x0, g = rng.standard_normal((3, 2, 2, 2)) * 2 + 1, rng.standard_normal((3, 2, 2, 2))
    x = minidl.tensor(x0.astype(dtype), requires_grad=True)
    (bn(x) * minidl.tensor(g.astype(dtype))).sum().backward()

    axes, c = (0, 2, 3), (1, 2, 1, 1)
    rstd = 1 / np.sqrt(x0.var(axes, keepdims=True) + 1e-5)
    xhat = (x0 - x0.mean(axes, keepdims=True)) * rstd
    gx = w.reshape(c) * rstd * (g - g.mean(axes, keepdims=True) - xhat * (g * xhat).mean(axes, keepdims=True))
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(bn.bias.grad.numpy(), g.sum(axes), **tol)
    np.testing.assert_allclose(bn.weight.grad.numpy(), (g * xhat).sum(axes), **tol)
    np.testing.assert_allclose(x.grad.numpy(), gx, **tol)
    assert bn.weight.grad.dtype == bn.bias.grad.dtype == x.grad.dtype == dtype

    bn.eval()
    bn.zero_grad()
    x = minidl.tensor(x0.astype(dtype), requires_grad=True)
    (bn(x) * minidl.tensor(g.astype(dtype))).sum().backward()
    running_var = bn.running_var.numpy().astype(np.float64).reshape(c)
    running_mean = bn.running_mean.numpy().astype(np.float64).reshape(c)
    np.testing.assert_allclose(x.grad.numpy(), g * w.reshape(c) / np.sqrt(running_var + 1e-5), **tol)
    xhat_eval = (x0 - running_mean) / np.sqrt(running_var + 1e-5)
    np.testing.assert_allclose(bn.weight.grad.numpy(), (g * xhat_eval).sum(axes), **tol)
    np.testing.assert_allclose(bn.bias.grad.numpy(), g.sum(axes), **tol)


def test_layer_and_group_norm_layers():
    ln = nn.LayerNorm((3, 4), bias=False)
    assert [n for n, _ in ln.named_parameters()] == ["weight"] and ln.weight.shape == (3, 4)
    x = minidl.randn(2, 3, 4)
    np.testing.assert_allclose(arr(ln(x)), arr(F.layer_norm(x, (3, 4))), rtol=1e-6, atol=1e-6)
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    gn = nn.GroupNorm(2, 4)
    assert gn.weight.shape == gn.bias.shape == (4,)
    x = minidl.randn(2, 4, 3)
    np.testing.assert_allclose(arr(gn(x)), arr(F.group_norm(x, 2)), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


# --------------------------------------------------------------------------- acceptance: the models train
@pytest.mark.parametrize(("build", "shape", "n_params"), [
    (mnist_cnn, (8, 1, 28, 28), 32 * 9 + 32 + 5408 * 128 + 128 + 128 * 10 + 10),
    (lenet, (8, 3, 32, 32), 456 + 2416 + 48120 + 10164 + 850),
])
def test_acceptance_models_build_and_a_training_step_lowers_the_loss(build, shape, n_params):
    minidl.manual_seed(0)
    model = build()
    assert model.num_parameters() == n_params
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal(shape).astype(np.float32))
    y = minidl.tensor(rng.integers(0, 10, size=shape[0]))
    opt = SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert loss.dtype == np.float32
    assert losses[2] < losses[1] < losses[0], losses


# --------------------------------------------------------------------------- PyTorch
def test_layers_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 4, 10, 9)).astype(np.float32)
    g = None
    pairs = [
        (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)),
        (nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1), torch.nn.ConvTranspose2d(4, 2, 3, 2,
                                                                                           output_padding=1)),
        (nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
    ]
    for ours, theirs in pairs:
        ours.load_state_dict(theirs.state_dict())  # the same names and shapes load as they are
        for _ in range(2):
            mx, tx = minidl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            my, ty = ours(mx), theirs(tx)
            np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
            g = rng.standard_normal(ty.shape).astype(np.float32)
            my.backward(minidl.tensor(g))
            ty.backward(torch.tensor(g))
            np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
            for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
                np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-3, err_msg=name)
        for key, value in theirs.state_dict().items():  # running statistics after two training steps
            np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
        ours.eval(), theirs.eval()
        np.testing.assert_allclose(ours(minidl.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
