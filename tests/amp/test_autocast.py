"""minidl.autocast against torch.autocast("cpu"): output dtypes per op, values, and float32 gradients."""

import numpy as np
import pytest
import torch

import minidl
import minidl.nn.functional as F
from minidl.errors import DTypeError

TF = torch.nn.functional
RNG = np.random.default_rng(0)
A = {name: RNG.standard_normal(shape).astype(np.float32) for name, shape in
     [("x", (4, 8)), ("w", (3, 8)), ("b", (3,)), ("img", (2, 3, 8, 8)), ("k", (4, 3, 3, 3)), ("seq", (2, 3, 10)),
      ("k1", (4, 3, 3)), ("q", (2, 5, 8)), ("kt", (3, 4, 3, 3))]}
T = np.array([0, 1, 2, 0])


def _m(name, dtype=None):
    t = minidl.tensor(A[name])
    return t if dtype is None else t.to(getattr(minidl, dtype))


def _t(name, dtype=None):
    t = torch.from_numpy(A[name])
    return t if dtype is None else t.to(getattr(torch, dtype))


# (name, minidl call, torch call): each gets the inputs by name, and a dtype for the ones cast beforehand
OPS = [
    ("matmul", lambda g: g("x") @ g("w").mT, lambda g: g("x") @ g("w").mT),
    ("mm", lambda g: minidl.mm(g("x"), g("w").mT), lambda g: torch.mm(g("x"), g("w").mT)),
    ("bmm", lambda g: minidl.bmm(g("q"), g("q").mT), lambda g: torch.bmm(g("q"), g("q").mT)),
    ("linear", lambda g: F.linear(g("x"), g("w"), g("b")), lambda g: TF.linear(g("x"), g("w"), g("b"))),
    ("conv2d", lambda g: F.conv2d(g("img"), g("k")), lambda g: TF.conv2d(g("img"), g("k"))),
    ("conv1d", lambda g: F.conv1d(g("seq"), g("k1")), lambda g: TF.conv1d(g("seq"), g("k1"))),
    ("conv_transpose2d", lambda g: F.conv_transpose2d(g("img"), g("kt")),
     lambda g: TF.conv_transpose2d(g("img"), g("kt"))),
    ("einsum", lambda g: minidl.einsum("ij,kj->ik", g("x"), g("w")),
     lambda g: torch.einsum("ij,kj->ik", g("x"), g("w"))),
    ("sdpa", lambda g: F.scaled_dot_product_attention(g("q"), g("q"), g("q")),
     lambda g: TF.scaled_dot_product_attention(g("q"), g("q"), g("q"))),
    ("softmax", lambda g: F.softmax(g("x"), -1), lambda g: torch.softmax(g("x"), -1)),
    ("softmax_bf16", lambda g: F.softmax(g("x", "bfloat16"), -1), lambda g: torch.softmax(g("x", "bfloat16"), -1)),
    ("log_softmax_bf16", lambda g: F.log_softmax(g("x", "bfloat16"), -1),
     lambda g: torch.log_softmax(g("x", "bfloat16"), -1)),
    ("layer_norm_bf16", lambda g: F.layer_norm(g("x", "bfloat16"), (8,)),
     lambda g: TF.layer_norm(g("x", "bfloat16"), (8,))),
    ("cross_entropy_bf16", lambda g: F.cross_entropy(g("x", "bfloat16"), minidl.tensor(T)),
     lambda g: TF.cross_entropy(g("x", "bfloat16"), torch.from_numpy(T))),
    ("relu", lambda g: F.relu(g("x")), lambda g: torch.relu(g("x"))),
    ("relu_bf16", lambda g: F.relu(g("x", "bfloat16")), lambda g: torch.relu(g("x", "bfloat16"))),
    ("add_bf16_f32", lambda g: g("x", "bfloat16") + g("x"), lambda g: g("x", "bfloat16") + g("x")),
    ("sum_bf16", lambda g: g("x", "bfloat16").sum(), lambda g: g("x", "bfloat16").sum()),
    ("exp_bf16", lambda g: g("x", "bfloat16").exp(), lambda g: g("x", "bfloat16").exp()),
    ("matmul_f64", lambda g: g("x", "float64") @ g("w", "float64").mT,
     lambda g: g("x", "float64") @ g("w", "float64").mT),
]
# PyTorch's CPU fp32 list casts these losses up; minidl builds them from elementwise ops and a mean, which
# autocast cannot see (only Function classes carry a policy): they stay in their input's dtype.
COMPOSITE_LOSSES = [
    ("mse_loss_bf16", lambda g: F.mse_loss(g("x", "bfloat16"), g("x")),
     lambda g: TF.mse_loss(g("x", "bfloat16"), g("x"))),
    ("nll_loss_bf16", lambda g: F.nll_loss(g("x", "bfloat16"), minidl.tensor(T)),
     lambda g: TF.nll_loss(g("x", "bfloat16"), torch.from_numpy(T))),
]


def _name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(("name", "mine", "theirs"), OPS, ids=[op[0] for op in OPS])
def test_output_dtype_equals_torch_autocast_cpu(name, mine, theirs, dtype):
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        want = theirs(_t)
    with minidl.autocast("cpu", dtype=getattr(minidl, dtype)):
        got = mine(_m)
    assert _name(got.dtype) == _name(want.dtype), name
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=2 ** -6, atol=2 ** -5)


@pytest.mark.xfail(strict=True, reason="composite losses stay in their input's dtype under minidl.autocast")
@pytest.mark.parametrize(("name", "mine", "theirs"), COMPOSITE_LOSSES, ids=[op[0] for op in COMPOSITE_LOSSES])
def test_composite_losses_differ_from_torch(name, mine, theirs):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = theirs(_t)
    with minidl.autocast("cpu", dtype=minidl.bfloat16):
        got = mine(_m)
    assert _name(got.dtype) == _name(want.dtype)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gradients_reach_float32_parameters_as_torchs(dtype, backend):
    """A conv -> relu -> linear -> cross_entropy step under autocast: loss and every parameter's gradient
    (float32, the master weights') equal torch's under torch.autocast within low-precision rounding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    params = {"k": rng.standard_normal((3, 2, 3, 3)).astype(np.float32) * 0.3,
              "kb": rng.standard_normal(3).astype(np.float32) * 0.1,
              "w": rng.standard_normal((3, 48)).astype(np.float32) * 0.2,
              "wb": rng.standard_normal(3).astype(np.float32) * 0.1}
    mp = {k: minidl.tensor(v, backend=backend, requires_grad=True) for k, v in params.items()}
    tp = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
    with minidl.autocast("cpu", dtype=getattr(minidl, dtype)):
        h = F.relu(F.conv2d(minidl.tensor(x, backend=backend), mp["k"], mp["kb"]))
        loss = F.cross_entropy(F.linear(h.reshape(4, -1), mp["w"], mp["wb"]), minidl.tensor(y, backend=backend))
    loss.backward()
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        th = torch.relu(TF.conv2d(torch.from_numpy(x), tp["k"], tp["kb"]))
        tloss = TF.cross_entropy(TF.linear(th.reshape(4, -1), tp["w"], tp["wb"]), torch.from_numpy(y))
    tloss.backward()
    assert loss.dtype == minidl.float32 and tloss.dtype == torch.float32
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=2e-2)
    for k in params:
        assert mp[k].grad.dtype == minidl.float32 and mp[k].dtype == minidl.float32
        np.testing.assert_allclose(mp[k].grad.numpy(), tp[k].grad.numpy(), rtol=5e-2, atol=2e-2)


def test_decorator_nesting_and_enabled():
    @minidl.autocast("cpu")
    def f(x, w):
        return F.linear(x, w)

    assert f(_m("x"), _m("w")).dtype == minidl.bfloat16
    assert not minidl.is_autocast_enabled()
    with minidl.autocast("cpu", dtype=minidl.float16):
        assert minidl.is_autocast_enabled() and minidl.is_autocast_enabled("cpu")
        assert not minidl.is_autocast_enabled("cuda")
        assert minidl.amp.get_autocast_dtype("cpu") == minidl.float16
        with minidl.autocast("cpu", enabled=False):
            assert F.linear(_m("x"), _m("w")).dtype == minidl.float32
        assert F.linear(_m("x"), _m("w")).dtype == minidl.float16
    assert minidl.amp.get_autocast_dtype("cpu") == minidl.bfloat16  # PyTorch's CPU default
    assert F.linear(_m("x"), _m("w")).dtype == minidl.float32


def test_cuda_autocast_leaves_cpu_tensors_alone():
    with minidl.autocast("cuda", dtype=minidl.float16):
        assert F.linear(_m("x"), _m("w")).dtype == minidl.float32
        with pytest.raises(DTypeError, match="LinearFunction under autocast"):
            F.linear(_m("x", "bfloat16"), _m("w"))  # a CPU bfloat16 input meets a float32 weight: refused


def test_float64_is_not_cast_and_mixing_it_is_refused():
    with minidl.autocast("cpu"):
        assert (_m("x", "float64") @ _m("w", "float64").mT).dtype == minidl.float64
        with pytest.raises(DTypeError, match="float64"):
            _m("x", "float64") @ _m("w").mT
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(RuntimeError):
        _t("x", "float64") @ _t("w").mT  # torch refuses it too


def test_bad_arguments():
    with pytest.raises(ValueError, match="device_type"):
        minidl.autocast("tpu")
    with pytest.raises(DTypeError, match="float16 or minidl.bfloat16"):
        minidl.autocast("cpu", dtype=minidl.float64)


def test_backward_inside_the_block_runs_in_forwards_dtypes():
    w = minidl.tensor(A["w"], requires_grad=True)
    with minidl.autocast("cpu"):
        y = F.linear(_m("x"), w)
        F.cross_entropy(y, minidl.tensor(np.array([0, 1, 2, 0]))).backward()
        assert minidl.is_autocast_enabled()
    assert y.dtype == minidl.bfloat16 and w.grad.dtype == minidl.float32


def test_autocast_is_per_context_not_global():
    import threading

    seen = []
    with minidl.autocast("cpu"):
        thread = threading.Thread(target=lambda: seen.append(F.linear(_m("x"), _m("w")).dtype))
        thread.start()
        thread.join()
    assert seen == [minidl.float32]  # another thread does not inherit the block


def test_module_stays_float32_and_trains():
    minidl.manual_seed(0)
    model = minidl.nn.Sequential(minidl.nn.Linear(8, 16), minidl.nn.ReLU(), minidl.nn.Linear(16, 3))
    opt = minidl.optim.SGD(model.parameters(), lr=0.5)
    x, y = _m("x"), minidl.tensor(T)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        with minidl.autocast("cpu"):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == minidl.float32 for p in model.parameters())
    assert losses[-1] < 0.1 * losses[0]
