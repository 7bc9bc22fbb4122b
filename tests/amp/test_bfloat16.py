"""bfloat16 (ml_dtypes) as minidl.bfloat16: conversions bit for bit as torch's, PyTorch's promotion, and
reductions/products that accumulate in float32 (checked against torch on the same bfloat16 values)."""

import ml_dtypes
import numpy as np
import pytest
import torch

import minidl
import minidl.nn.functional as F

BACKENDS = ["numpy", "numba"]


def _bits_torch(x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(x).bfloat16().view(torch.int16).numpy().view(np.uint16)


def test_round_trip_equals_torch_bit_for_bit():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(10000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 10000),
                        np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, 1e-40, 1.00390625, 1.01171875, 65504.0],
                                 dtype=np.float32)]).astype(np.float32)
    mine = minidl.tensor(x).bfloat16()
    assert mine.dtype == minidl.bfloat16
    np.testing.assert_array_equal(mine.array.view(np.uint16), _bits_torch(x))
    np.testing.assert_array_equal(mine.float().numpy(), torch.from_numpy(x).bfloat16().float().numpy())
    # ties round to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7
    assert minidl.tensor([1.00390625]).bfloat16().float().item() == 1.0


def test_nan_stays_nan():
    x = minidl.tensor([np.nan, 1.0]).bfloat16()
    assert np.isnan(x.float().numpy()[0])


@pytest.mark.parametrize(("a", "b"), [("bfloat16", "float16"), ("bfloat16", "float32"), ("bfloat16", "float64"),
                                      ("bfloat16", "int64"), ("bfloat16", "int8"), ("bfloat16", "bool"),
                                      ("float16", "bfloat16"), ("bfloat16", "bfloat16")])
def test_promotion_equals_torch(a, b):
    want = torch.promote_types(getattr(torch, a), getattr(torch, b))
    got = minidl.promote_types(getattr(minidl, a if a != "bool" else "bool_"),
                               getattr(minidl, b if b != "bool" else "bool_"))
    assert str(got) == str(want).removeprefix("torch.")
    # and the binary ops follow it, as torch's do
    ta = torch.ones(3, dtype=getattr(torch, a)) + torch.ones(3, dtype=getattr(torch, b))
    ma = minidl.ones(3).to(getattr(minidl, a if a != "bool" else "bool_")) + \
        minidl.ones(3).to(getattr(minidl, b if b != "bool" else "bool_"))
    assert str(ma.dtype) == str(ta.dtype).removeprefix("torch.")


def test_zero_dim_does_not_widen_and_scalars_keep_bfloat16():
    x = minidl.ones(3).bfloat16()
    assert (x + minidl.tensor(1.0)).dtype == minidl.bfloat16  # a 0-d float32 does not widen, as in torch
    assert (x * 0.5).dtype == minidl.bfloat16
    assert (x + 1).dtype == minidl.bfloat16
    assert (minidl.ones(3, dtype=minidl.int64) + minidl.tensor(1.0).bfloat16()).dtype == minidl.bfloat16
    assert (torch.ones(3, dtype=torch.int64) + torch.tensor(1.0).bfloat16()).dtype == torch.bfloat16


def test_tensor_and_module_methods():
    x = minidl.randn(2, 3)
    assert x.bfloat16().is_floating_point()
    assert x.bfloat16().type() == "minidl.BFloat16Tensor"
    assert x.half().dtype == minidl.float16 and x.bfloat16().float().dtype == minidl.float32
    w = minidl.randn(3).bfloat16().requires_grad_()
    assert w.requires_grad
    layer = minidl.nn.Linear(3, 2).bfloat16()
    assert layer.weight.dtype == minidl.bfloat16 and layer.bias.dtype == minidl.bfloat16
    assert minidl.nn.Linear(3, 2).half().weight.dtype == minidl.float16


@pytest.mark.parametrize("backend", BACKENDS)
def test_sum_accumulates_in_float32(backend):
    # 10000 ones: a bfloat16 running total stalls at 256 (the spacing there is 2)
    x = minidl.ones(10000, backend=backend).bfloat16()
    assert x.sum().dtype == minidl.bfloat16
    assert x.sum().float().item() == torch.ones(10000).bfloat16().sum().float().item() == 9984.0  # 10000 rounded
    assert x.mean().float().item() == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["matmul", "linear", "conv2d", "softmax", "log_softmax", "layer_norm", "relu",
                                "max_pool2d", "cross_entropy", "sdpa"])
def test_ops_on_bfloat16_match_torch(backend, op):
    """Each op on bfloat16 inputs: the dtype torch gives, and values within a few bfloat16 ulps of torch's
    (both accumulate in float32; the last bit may differ by summation order)."""
    rng = np.random.default_rng(1)
    arrays = {"matmul": [(8, 16), (16, 5)], "linear": [(8, 16), (5, 16), (5,)], "conv2d": [(2, 3, 9, 9), (4, 3, 3, 3)],
              "softmax": [(6, 40)], "log_softmax": [(6, 40)], "layer_norm": [(6, 40)], "relu": [(6, 40)],
              "max_pool2d": [(2, 3, 8, 8)], "cross_entropy": [(6, 10)], "sdpa": [(2, 5, 8), (2, 5, 8), (2, 5, 8)]}[op]
    xs = [rng.standard_normal(s).astype(np.float32).astype(ml_dtypes.bfloat16) for s in arrays]
    ms = [minidl.tensor(x, backend=backend) for x in xs]
    ts = [torch.from_numpy(x.astype(np.float32)).bfloat16() for x in xs]
    target = np.arange(6) % 10
    fns = {"matmul": (lambda a, b: a @ b, lambda a, b: a @ b),
           "linear": (F.linear, torch.nn.functional.linear),
           "conv2d": (F.conv2d, torch.nn.functional.conv2d),
           "softmax": (lambda a: F.softmax(a, -1), lambda a: torch.softmax(a, -1)),
           "log_softmax": (lambda a: F.log_softmax(a, -1), lambda a: torch.log_softmax(a, -1)),
           "layer_norm": (lambda a: F.layer_norm(a, (40,)), lambda a: torch.nn.functional.layer_norm(a, (40,))),
           "relu": (F.relu, torch.relu),
           "max_pool2d": (lambda a: F.max_pool2d(a, 2), lambda a: torch.nn.functional.max_pool2d(a, 2)),
           "cross_entropy": (lambda a: F.cross_entropy(a, minidl.tensor(target)),
                             lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(target))),
           "sdpa": (F.scaled_dot_product_attention, torch.nn.functional.scaled_dot_product_attention)}[op]
    got, want = fns[0](*ms), fns[1](*ts)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.") == "bfloat16"
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=2 ** -6, atol=2 ** -6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_of_a_bfloat16_layer(backend):
    rng = np.random.default_rng(2)
    x, w = (rng.standard_normal(s).astype(np.float32).astype(ml_dtypes.bfloat16) for s in [(8, 16), (5, 16)])
    mw = minidl.tensor(w, backend=backend, requires_grad=True)
    F.linear(minidl.tensor(x, backend=backend), mw).float().square().sum().backward()
    tw = torch.from_numpy(w.astype(np.float32)).bfloat16().requires_grad_()
    torch.nn.functional.linear(torch.from_numpy(x.astype(np.float32)).bfloat16(), tw).float().square().sum().backward()
    assert mw.grad.dtype == minidl.bfloat16
    np.testing.assert_allclose(mw.grad.float().numpy(), tw.grad.float().numpy(), rtol=2 ** -6, atol=2 ** -5)


def test_checkpoint_keeps_bfloat16(tmp_path):
    """A bfloat16 model saves and loads bit for bit as bfloat16 (NumPy's .npy has no bfloat16: stored as uint16)."""
    layer = minidl.nn.Linear(4, 3).bfloat16()
    minidl.save(layer.state_dict(), tmp_path / "w.npz")
    loaded = minidl.load(tmp_path / "w.npz")
    for name, t in layer.state_dict().items():
        assert loaded[name].dtype == minidl.bfloat16
        np.testing.assert_array_equal(loaded[name].array.view(np.uint16), t.array.view(np.uint16))
    fresh = minidl.nn.Linear(4, 3).bfloat16()
    fresh.load_state_dict(loaded)
    np.testing.assert_array_equal(fresh.weight.float().detach().numpy(), layer.weight.float().detach().numpy())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_numba_pool_and_conv_run_their_float32_loops_on_16_bit_inputs(dtype, monkeypatch):
    """numba's compiled loops take float32/float64 only: 16-bit inputs are copied to float32, run through the
    fast kernel (seen here by a spy) and rounded back once; results equal the NumPy reference's."""
    from minidl.backends import get_backend, numba_backend

    calls = []
    real = numba_backend.pool_kernels.maxpool2x2_forward_planes
    monkeypatch.setattr(numba_backend.pool_kernels, "maxpool2x2_forward_planes",
                        lambda *a: calls.append(a[0].dtype) or real(*a))
    nb, ref = get_backend("numba"), get_backend("numpy")
    low = getattr(minidl, dtype)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32).astype(low)
    y, idx = nb.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    y_ref, idx_ref = ref.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert calls == [np.float32] and y.dtype == low and idx.dtype == np.int64
    np.testing.assert_array_equal(y.astype(np.float32), y_ref.astype(np.float32))  # a max is exact
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(np.float32).astype(low)
    gx = nb.maxpool2d_backward(gy, idx, x.shape, (2, 2), (2, 2), (0, 0))
    assert gx.dtype == low
    np.testing.assert_array_equal(gx.astype(np.float32), ref.maxpool2d_backward(gy, idx, x.shape, (2, 2), (2, 2),
                                                                                (0, 0)).astype(np.float32))
    g = rng.standard_normal((2, 4, 6, 6)).astype(np.float32).astype(low)
    gw = nb.conv2d_backward_weight(x, g, (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1)
    exact = ref.conv2d_backward_weight(x.astype(np.float64), g.astype(np.float64), (4, 3, 3, 3), (1, 1), (0, 0),
                                       (1, 1), 1)
    assert gw.dtype == low
    # summed in float32 and rounded once: within half a 16-bit step of the exact sum (the reference rounds each
    # sample's product first, so it may be a step further)
    half_step = 2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11
    np.testing.assert_allclose(gw.astype(np.float64), exact, rtol=half_step * 1.01, atol=1e-6)
