"""Quantized layers against float references, with the quantization error bound, and against PyTorch's."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import quantization as mq
from minidl.ao.nn import intrinsic as nni
from minidl.ao.nn import quantized as nnq
from minidl.ao.nn.intrinsic import quantized as nniq
from minidl.ao.nn.quantized import dynamic as nnqd

torch = pytest.importorskip("torch")
BACKENDS = [b for b in ("numpy", "numba") if b in minidl.available_backends()]


def rng(seed=0):
    return np.random.default_rng(seed)


def qinput(x, backend):
    lo, hi = min(x.min(), 0), max(x.max(), 0)
    scale = float((hi - lo) / 255)
    return mq.quantize_per_tensor(minidl.tensor(x, backend=backend), scale, int(round(-lo / scale)), mq.quint8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, relu", [(nnq.Linear, False), (nniq.LinearReLU, True)])
def test_static_linear_is_the_float_layer_on_the_int8_grid(backend, cls, relu):
    """The int32 sums are exact: the only error left is the output's rounding, at most half its step."""
    float_layer = nn.Linear(37, 9)
    x = qinput(rng().standard_normal((6, 37)).astype(np.float32), backend)
    layer = cls.from_float(float_layer, output_scale=0.01, output_zero_point=100)
    y = layer(x)
    assert y.dtype is mq.quint8 and y.q_scale() == 0.01 and y.q_zero_point() == 100
    w = layer.weight().dequantize().numpy()
    want = x.dequantize().numpy() @ w.T + float_layer.bias.detach().numpy()
    want = np.clip(want, (0 if relu else -100) * 0.01, 155 * 0.01)
    np.testing.assert_allclose(y.dequantize().numpy(), want, atol=0.005 + 1e-5, rtol=0)
    # and the int8 weights are the float ones to half a step per output channel
    err = np.abs(w - float_layer.weight.detach().numpy())
    assert np.max(err / layer.weight_scale.numpy()[:, None]) <= 0.5 + 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, padding, stride", [(nnq.Conv2d, 0, 1), (nniq.ConvReLU2d, 1, 2), (nnq.Conv2d, 2, 1)])
def test_static_conv2d_is_the_float_conv_on_the_int8_grid(backend, cls, padding, stride):
    conv = nn.Conv2d(3, 5, 3, stride=stride, padding=padding)
    x = qinput((rng(1).standard_normal((2, 3, 7, 8)) + 0.7).astype(np.float32), backend)  # zero point != 0
    assert x.q_zero_point() > 0
    layer = cls.from_float(conv, output_scale=0.02, output_zero_point=120)
    y = layer(x)
    w = minidl.tensor(layer.weight().dequantize().numpy())
    want = minidl.nn.functional.conv2d(x.dequantize(), w, conv.bias.detach(), stride, padding).numpy()
    want = np.clip(want, (0 if cls is nniq.ConvReLU2d else -120) * 0.02, 135 * 0.02)
    assert y.shape == want.shape
    np.testing.assert_allclose(y.dequantize().numpy(), want, atol=0.01 + 1e-5, rtol=0)


def test_quantized_relu_pool_flatten():
    x = qinput(rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32), "numpy")
    np.testing.assert_array_equal(nnq.ReLU()(x).dequantize().numpy(), np.maximum(x.dequantize().numpy(), 0))
    pooled = nnq.MaxPool2d(2)(x)
    want = minidl.nn.functional.max_pool2d(x.dequantize(), 2).numpy()
    np.testing.assert_array_equal(pooled.dequantize().numpy(), want)
    assert nnq.Flatten()(pooled).shape == (2, 12)


def test_quantized_layers_refuse_float_input():
    layer = nnq.Linear.from_float(nn.Linear(3, 2), output_scale=0.1, output_zero_point=0)
    with pytest.raises(TypeError, match="expected a per-tensor quint8 QTensor .*got Tensor"):
        layer(minidl.zeros(1, 3))
    x = qinput(np.ones((1, 4), np.float32), "numpy")
    with pytest.raises(ValueError, match="input has 4 features .* expected 3"):
        layer(x)


def dynamic_bound(x, w, s_x, s_w):
    """|x W^T - x_q W_q^T| <= sum_k |x_k| s_w/2 + |w_k| s_x/2 + s_x s_w / 4 (each factor off by half a step)."""
    return np.abs(x) @ (np.ones_like(w).T * s_w / 2) + (s_x / 2) * np.abs(w).sum(1) + w.shape[1] * s_x * s_w / 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_dynamic_linear_within_the_bound_and_near_torch(backend):
    torch.manual_seed(0)
    t_layer = torch.nn.Linear(64, 16)
    layer = nn.Linear(64, 16)
    layer.load_state_dict(t_layer.state_dict())
    x = (rng(3).standard_normal((5, 64)) * 2).astype(np.float32)
    q = mq.quantize_dynamic(nn.Sequential(layer), {nn.Linear})[0]
    assert isinstance(q, nnqd.Linear)
    ours = q(minidl.tensor(x, backend=backend)).numpy()
    want = x @ t_layer.weight.detach().numpy().T + t_layer.bias.detach().numpy()
    s_x = (max(x.max(), 0) - min(x.min(), 0)) / 255
    bound = dynamic_bound(x, layer.weight.detach().numpy(), s_x, q.weight_scale.numpy())
    assert np.all(np.abs(ours - want) <= bound + 1e-5)
    assert np.abs(ours - want).max() < 0.1 * np.abs(want).max()
    t_q = tq_dynamic(t_layer)
    theirs = t_q(torch.from_numpy(x)).detach().numpy()
    # PyTorch (x86) quantizes activations to 7 bits (reduce_range): its step is twice ours
    assert np.all(np.abs(ours - theirs) <= bound + dynamic_bound(x, layer.weight.detach().numpy(), 2 * s_x,
                                                                 q.weight_scale.numpy()) + 1e-5)


def tq_dynamic(t_module):
    tq = torch.ao.quantization
    return tq.quantize_dynamic(torch.nn.Sequential(t_module), {torch.nn.Linear, torch.nn.LSTM},
                               dtype=torch.qint8)[0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layers, bidirectional, batch_first", [(1, False, True), (2, True, False)])
def test_dynamic_lstm_near_float_and_torch(backend, layers, bidirectional, batch_first):
    torch.manual_seed(1)
    t_lstm = torch.nn.LSTM(12, 20, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    lstm = nn.LSTM(12, 20, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    lstm.load_state_dict(t_lstm.state_dict())
    x = rng(4).standard_normal((3, 7, 12)).astype(np.float32)
    q = mq.quantize_dynamic(lstm, {nn.LSTM})
    assert isinstance(q, nnqd.LSTM)
    out, (h, c) = q(minidl.tensor(x, backend=backend))
    with minidl.no_grad():
        f_out, (f_h, f_c) = lstm(minidl.tensor(x))
    t_out, (t_h, t_c) = tq_dynamic(t_lstm)(torch.from_numpy(x))
    assert out.shape == f_out.shape and h.shape == f_h.shape and c.shape == f_c.shape
    # an 8-bit LSTM drifts a little from float over the steps: |error| of a few hundredths on outputs in (-1, 1)
    assert np.abs(out.numpy() - f_out.numpy()).max() < 0.03
    assert np.abs(h.numpy() - f_h.numpy()).max() < 0.03
    assert np.abs(out.numpy() - t_out.detach().numpy()).max() < 0.03
    assert np.abs(out.numpy() - f_out.numpy()).max() > 0  # it is quantized: not the float result


def test_dynamic_lstm_state_is_carried():
    """Two chunks with the state carried = the whole sequence, up to the per-call activation ranges."""
    lstm = nn.LSTM(4, 6, batch_first=True)
    q = mq.quantize_dynamic(lstm, {nn.LSTM})
    x = minidl.tensor(rng(5).standard_normal((2, 6, 4)).astype(np.float32))
    whole, _ = q(x)
    first, state = q(x[:, :3])
    second, _ = q(x[:, 3:], state)
    fresh, _ = q(x[:, 3:])
    carried = np.concatenate([first.numpy(), second.numpy()], 1)
    assert np.abs(carried - whole.numpy()).max() < 0.01
    assert np.abs(fresh.numpy() - second.numpy()).max() > 0.05  # without the state the result is different


def test_fuse_modules_and_quantize_dynamic_errors():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    fused = mq.fuse_modules(model, [["0", "1"]])
    assert isinstance(fused[0], nni.LinearReLU) and isinstance(fused[1], nn.Identity)
    assert isinstance(model[0], nn.Linear)  # not in place
    with pytest.raises(ValueError, match="cannot fuse \\['ReLU', 'Linear'\\]"):
        mq.fuse_modules(model, [["1", "0"]])
    with pytest.raises(ValueError, match="no dynamic quantized version of \\['Conv2d'\\]"):
        mq.quantize_dynamic(model, {nn.Conv2d})
