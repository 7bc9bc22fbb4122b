"""Eager-mode workflow: prepare / calibrate / convert, QAT, and quantized state_dicts in the safe format."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import quantization as mq
from minidl.ao.nn import qat as nnqat
from minidl.ao.nn import quantized as nnq
from minidl.ao.nn.intrinsic import qat as nniqat
from minidl.ao.nn.intrinsic import quantized as nniq

torch = pytest.importorskip("torch")


def small_cnn():
    minidl.manual_seed(0)
    return nn.Sequential(mq.QuantStub(), nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 8), nn.ReLU(), nn.Linear(8, 3), mq.DeQuantStub())


def images(n=16, seed=0):
    return minidl.tensor(np.random.default_rng(seed).random((n, 1, 8, 8)).astype(np.float32))


def static_int8(model, batches):
    model = mq.fuse_modules(model.eval(), [["1", "2"], ["5", "6"]])
    model.qconfig = mq.get_default_qconfig("x86")
    prepared = mq.prepare(model)
    for x in batches:
        prepared(x)
    return prepared, mq.convert(prepared)


def test_prepare_observes_and_convert_swaps():
    model = small_cnn()
    prepared, q = static_int8(model, [images(seed=s) for s in range(3)])
    obs = prepared[1].activation_post_process
    assert isinstance(obs, mq.MinMaxObserver) and obs.min_val.item() == 0.0  # a fused ReLU's output
    assert isinstance(q[0], nnq.Quantize) and isinstance(q[1], nniq.ConvReLU2d) and isinstance(q[3], nnq.MaxPool2d)
    assert isinstance(q[5], nniq.LinearReLU) and isinstance(q[7], nnq.Linear) and isinstance(q[8], nnq.DeQuantize)
    # the output scales are the observers' (calibrated on the same batches)
    scale, zp = prepared[7].activation_post_process.calculate_qparams()
    assert q[7].scale.item() == pytest.approx(scale.item()) and q[7].zero_point.item() == zp.item()
    x = images(seed=9)
    with minidl.no_grad():
        want = model(x).numpy()
    got = q(x).numpy()
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert not any(hasattr(m, "qconfig") for m in q.modules())


def test_prepared_model_matches_torch_observers():
    """The same float weights and calibration data give PyTorch's activation ranges and output scales."""
    model = small_cnn()
    t_model = torch.nn.Sequential(tq().QuantStub(), torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                  torch.nn.Flatten(), torch.nn.Linear(36, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                                  tq().DeQuantStub())
    t_model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    t_model.eval()
    t_model = tq().fuse_modules(t_model, [["1", "2"], ["5", "6"]])
    t_model.qconfig = tq().QConfig(activation=tq().MinMaxObserver.with_args(dtype=torch.quint8),
                                   weight=tq().default_per_channel_weight_observer)
    t_prepared = tq().prepare(t_model)
    batches = [images(seed=s) for s in range(3)]
    for x in batches:
        t_prepared(torch.from_numpy(x.numpy()))
    prepared, _ = static_int8(model, batches)
    for i in ("0", "1", "5", "7"):
        ours = prepared.get_submodule(i).activation_post_process.calculate_qparams()
        theirs = t_prepared.get_submodule(i).activation_post_process.calculate_qparams()
        assert ours[0].item() == pytest.approx(theirs[0].item(), rel=1e-6), i
        assert ours[1].item() == theirs[1].item(), i


def tq():
    return torch.ao.quantization


def test_quantized_state_dict_saves_safely_and_loads(tmp_path):
    _, q = static_int8(small_cnn(), [images()])
    state = q.state_dict()
    assert state["7.int_weight"].dtype == np.int8 and state["7.weight_scale"].shape == (3,)
    path = tmp_path / "int8.pt"
    minidl.save(state, path)
    loaded = minidl.load(path)
    assert loaded["1.int_weight"].dtype == np.int8
    _, fresh = static_int8(small_cnn(), [images(seed=5)])  # other scales until the load
    assert fresh[7].scale.item() != q[7].scale.item()
    fresh.load_state_dict(loaded)
    x = images(seed=3)
    np.testing.assert_array_equal(fresh(x).numpy(), q(x).numpy())
    # int8 weights: about 4x smaller than the float32 state
    float_bytes = sum(v.numel() * 4 for v in small_cnn().state_dict().values())
    int8_bytes = sum(v.numel() * v.element_size() for v in state.values())
    assert int8_bytes < float_bytes / 2.5


def test_fake_quantize_forward_and_ste_gradient_equal_torch():
    x = np.linspace(-3, 3, 41).astype(np.float32)
    ours = minidl.tensor(x, requires_grad=True)
    y = mq.fake_quantize_per_tensor_affine(ours, 0.05, 10, 0, 100)  # clips below -0.5 and above 4.5
    theirs = torch.tensor(x, requires_grad=True)
    t_y = torch.fake_quantize_per_tensor_affine(theirs, 0.05, 10, 0, 100)
    np.testing.assert_array_equal(y.detach().numpy(), t_y.detach().numpy())
    g = np.random.default_rng(0).standard_normal(41).astype(np.float32)
    (y * minidl.tensor(g)).sum().backward()
    (t_y * torch.from_numpy(g)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    assert 0 < ours.grad.numpy().astype(bool).sum() < 41  # some pass, the clipped ones do not


def test_fake_quantize_per_channel_equals_torch():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32) * 2
    scale, zp = np.array([0.02, 0.05, 0.1], np.float32), np.array([0, 1, -2])
    ours = minidl.tensor(x, requires_grad=True)
    y = mq.fake_quantize_per_channel_affine(ours, scale, zp, 0, -128, 127)
    theirs = torch.tensor(x, requires_grad=True)
    t_y = torch.fake_quantize_per_channel_affine(theirs, torch.from_numpy(scale), torch.from_numpy(zp).int(), 0,
                                                 -128, 127)
    np.testing.assert_allclose(y.detach().numpy(), t_y.detach().numpy(), rtol=1e-6, atol=1e-7)
    y.sum().backward()
    t_y.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_learnable_scale_gradient_equals_torch():
    x = np.random.default_rng(2).standard_normal(50).astype(np.float32) * 3
    g = np.random.default_rng(3).standard_normal(50).astype(np.float32)
    fq = mq.FakeQuantize(learnable=True, quant_min=0, quant_max=255)
    fq.scale.array[...] = 0.02  # a range narrower than the data: some values clip on both sides
    fq.zero_point.array[...] = 120.0
    fq.disable_observer()
    ours = minidl.tensor(x, requires_grad=True)
    (fq(ours) * minidl.tensor(g)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    s, z = torch.tensor([0.02], requires_grad=True), torch.tensor([120.0], requires_grad=True)
    t_y = torch._fake_quantize_learnable_per_tensor_affine(theirs, s, z, 0, 255, 1.0)
    (t_y * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    np.testing.assert_allclose(fq.scale.grad.numpy(), s.grad.numpy(), rtol=1e-4)
    np.testing.assert_allclose(fq.zero_point.grad.numpy(), z.grad.numpy(), rtol=1e-4)


def test_qat_trains_and_converts():
    model = mq.fuse_modules(small_cnn().eval(), [["1", "2"], ["5", "6"]]).train()
    model.qconfig = mq.get_default_qat_qconfig("x86")
    qat = mq.prepare_qat(model, inplace=True)
    assert isinstance(qat[1], nniqat.ConvReLU2d) and isinstance(qat[7], nnqat.Linear)
    assert qat[7].weight is model[7].weight  # the same parameters are trained
    x = images(32)
    left = x.numpy()[:, 0, :, :4].mean((1, 2))
    y = minidl.tensor(np.digitize(left, np.quantile(left, [1 / 3, 2 / 3])))  # which third: a learnable labelling
    opt = minidl.optim.Adam(qat.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(qat(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert qat[7].weight.grad is not None and np.abs(qat[7].weight.grad.numpy()).sum() > 0
    q = mq.convert(qat.eval())
    assert isinstance(q[1], nniq.ConvReLU2d) and isinstance(q[7], nnq.Linear)
    with minidl.no_grad():
        want = qat(x).numpy()
    assert np.abs(q(x).numpy() - want).max() < 0.1 * np.abs(want).max() + 0.05


def test_prepare_needs_a_qconfig():
    with pytest.raises(ValueError, match="no qconfig"):
        mq.prepare(small_cnn())
    with pytest.raises(RuntimeError, match="no activation_post_process"):
        nnq.Linear.from_float(nn.Linear(2, 2))


def test_unfused_relu_and_the_api_page_example_run(tmp_path, monkeypatch):
    """docs/api/quantization.md's example (an unfused ReLU after QAT included) runs as written."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "api" / "quantization.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/api/quantization.md", "exec"), namespace)
    assert isinstance(namespace["int8_model"][2], nnq.ReLU)
    x = namespace["calibration_batches"][1]
    with minidl.no_grad():
        want = namespace["float_model"](x).numpy()
    got = namespace["static"](x).numpy()
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max() + 0.02
