"""Quantized tensors and observers against torch.ao.quantization on the same data."""

import numpy as np
import pytest

import minidl
from minidl import quantization as mq

torch = pytest.importorskip("torch")
tq = torch.ao.quantization
QDTYPES = {"quint8": (mq.quint8, torch.quint8), "qint8": (mq.qint8, torch.qint8)}


def data(seed=0, shape=(6, 50), scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("name", QDTYPES)
@pytest.mark.parametrize("scale, zp", [(0.05, 0), (0.0173, 3), (0.1, -5)])
def test_quantize_per_tensor_equals_torch(name, scale, zp):
    ours, theirs = QDTYPES[name]
    zp = zp if name == "qint8" else abs(zp) + 100
    x = data()
    x[0, :5] = [0.025, -0.075, 0.125, 1e6, -1e6]  # ties at scale 0.05 and clipped values
    q = mq.quantize_per_tensor(minidl.tensor(x), scale, zp, ours)
    t = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, theirs)
    np.testing.assert_array_equal(q.int_repr().numpy(), t.int_repr().numpy())
    np.testing.assert_array_equal(q.dequantize().numpy(), t.dequantize().numpy())
    assert q.q_scale() == scale and q.q_zero_point() == zp and q.qscheme() == mq.per_tensor_affine


@pytest.mark.parametrize("axis", [0, 1])
def test_quantize_per_channel_equals_torch(axis):
    x = data(1, (4, 5, 6))
    rng = np.random.default_rng(2)
    scales = (rng.random(x.shape[axis]) * 0.05 + 0.01).astype(np.float32)
    zps = rng.integers(-3, 4, size=x.shape[axis])
    q = mq.quantize_per_channel(minidl.tensor(x), scales, zps, axis, mq.qint8)
    t = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales).double(), torch.from_numpy(zps),
                                   axis, torch.qint8)
    np.testing.assert_array_equal(q.int_repr().numpy(), t.int_repr().numpy())
    np.testing.assert_allclose(q.dequantize().numpy(), t.dequantize().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(q.q_per_channel_scales().numpy(), scales)
    assert q.q_per_channel_axis() == axis
    with pytest.raises(RuntimeError, match="per channel"):
        q.q_scale()


def test_quantize_rejects_bad_input():
    with pytest.raises(TypeError, match="quantize_per_tensor: expected a floating point Tensor"):
        mq.quantize_per_tensor(minidl.tensor([1, 2]), 0.1, 0, mq.quint8)
    with pytest.raises(ValueError, match="3 channels along axis 0"):
        mq.quantize_per_channel(minidl.zeros(3, 2), [0.1, 0.1], [0, 0], 0, mq.qint8)


def batches(n=3):
    return [data(10 + i, (8, 3, 5), scale=1 + i) + 0.3 * i for i in range(n)]


OBSERVERS = [
    ("MinMaxObserver", {}),
    ("MinMaxObserver", {"reduce_range": True}),
    ("MinMaxObserver", {"dtype": "qint8", "qscheme": "per_tensor_symmetric"}),
    ("MinMaxObserver", {"dtype": "quint8", "qscheme": "per_tensor_symmetric"}),
    ("MovingAverageMinMaxObserver", {"averaging_constant": 0.2}),
    ("PerChannelMinMaxObserver", {"ch_axis": 1}),
    ("PerChannelMinMaxObserver", {"ch_axis": 0, "dtype": "qint8", "qscheme": "per_channel_symmetric"}),
    ("MovingAveragePerChannelMinMaxObserver", {"ch_axis": 2, "averaging_constant": 0.5}),
]


def _kwargs(kwargs, lib):
    out = {}
    for k, v in kwargs.items():
        if k == "dtype":
            v = QDTYPES[v][0 if lib is mq else 1]
        elif k == "qscheme":
            v = getattr(mq if lib is mq else torch, v)
        out[k] = v
    return out


@pytest.mark.parametrize("name, kwargs", OBSERVERS, ids=[f"{n}-{k}" for n, k in OBSERVERS])
def test_observer_qparams_equal_torch(name, kwargs):
    ours, theirs = getattr(mq, name)(**_kwargs(kwargs, mq)), getattr(tq, name)(**_kwargs(kwargs, torch))
    for x in batches():
        ours(minidl.tensor(x))
        theirs(torch.from_numpy(x))
    scale, zp = ours.calculate_qparams()
    t_scale, t_zp = theirs.calculate_qparams()
    np.testing.assert_array_equal(ours.min_val.numpy(), theirs.min_val.numpy())
    np.testing.assert_array_equal(ours.max_val.numpy(), theirs.max_val.numpy())
    np.testing.assert_allclose(scale.numpy().reshape(-1), t_scale.numpy().reshape(-1), rtol=1e-7)
    np.testing.assert_array_equal(zp.numpy().reshape(-1), t_zp.numpy().reshape(-1))


def test_observer_all_positive_and_empty():
    obs = mq.MinMaxObserver()
    with pytest.raises(RuntimeError, match="seen no data"):
        obs.calculate_qparams()
    obs(minidl.tensor([0.5, 2.0]))  # the range is widened to contain 0: zero point 0, scale 2 / 255
    scale, zp = obs.calculate_qparams()
    assert zp.item() == 0 and scale.item() == pytest.approx(2 / 255, rel=1e-7)


def test_percentile_observer_ignores_an_outlier():
    x = data(5, (10000,), 1.0)
    x[0] = 100.0
    obs, minmax = mq.PercentileObserver(percentile=0.1), mq.MinMaxObserver()
    obs(minidl.tensor(x))
    minmax(minidl.tensor(x))
    lo, hi = np.percentile(x, [0.1, 99.9])
    assert obs.min_val.item() == pytest.approx(lo, rel=1e-6) and obs.max_val.item() == pytest.approx(hi, rel=1e-6)
    assert obs.calculate_qparams()[0].item() < minmax.calculate_qparams()[0].item() / 10
