"""Module: registration order, walks, modes, state_dict round trips and strict errors, to(), repr."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4))
        self.register_buffer("running", minidl.zeros(4))
        self.register_buffer("scratch", minidl.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale + self.running


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.act = nn.ReLU()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 2)])
        self.head_bias = nn.Parameter(np.zeros(2))

    def forward(self, x):
        x = self.act(self.first(x))
        for layer in self.layers:
            x = layer(x)
        return x + self.head_bias


NET_PARAMS = [
    ("head_bias", (2,)),
    ("first.scale", (4,)),
    ("first.fc.weight", (4, 3)),
    ("first.fc.bias", (4,)),
    ("layers.0.weight", (4, 4)),
    ("layers.0.bias", (4,)),
    ("layers.1.weight", (2, 4)),
    ("layers.1.bias", (2,)),
]


def test_parameters_are_registered_in_definition_order():
    names = [(n, p.shape) for n, p in Net().named_parameters()]
    # own parameters first, then each child's in the order the children were assigned (PyTorch's order)
    assert names == NET_PARAMS
    assert [n for n, _ in Net().named_children()] == ["first", "act", "layers"]
    assert [n for n, _ in Net().named_modules()] == ["", "first", "first.fc", "act", "layers", "layers.0", "layers.1"]
    assert [n for n, _ in Net().named_buffers()] == ["first.running", "first.scratch"]


def test_parameter_defaults():
    p = nn.Parameter(np.zeros((2, 3)))
    assert p.requires_grad and p.dtype == np.float32 and p.is_leaf
    assert nn.Parameter(minidl.zeros(2, dtype=np.float64)).dtype == np.float64  # a Tensor keeps its dtype
    assert repr(nn.Parameter([1.0])).startswith("Parameter containing:\ntensor([1.]")


def test_reassignment_moves_between_registries_and_errors():
    m = nn.Module()
    m.x = nn.Parameter([1.0])
    m.x = nn.Linear(1, 1)  # now a submodule, no longer a parameter
    assert list(m._parameters) == [] and list(m._modules) == ["x"]
    del m.x
    assert not hasattr(m, "x")
    m.w = nn.Parameter([1.0])
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'w'"):
        m.w = minidl.tensor([2.0])

    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_shared_parameter_counted_once():
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    net[1].weight = net[0].weight  # tied weights
    assert len(list(net.parameters())) == 3
    assert net.num_parameters() == 9 + 3 + 3
    assert "1.weight" in net.state_dict()  # state_dict still names both, like PyTorch


def test_train_eval_propagate():
    net = Net()
    assert net.training and net.first.fc.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(minidl.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_children_first():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Block", "ReLU", "Linear", "Linear", "ModuleList", "Net"]


def test_state_dict_round_trip():
    src, dst = Net(), Net()
    state = src.state_dict()
    assert list(state) == [n for n, _ in NET_PARAMS[:1]] + ["first.scale", "first.running", "first.fc.weight",
                                                            "first.fc.bias"] + [n for n, _ in NET_PARAMS[4:]]
    assert "first.scratch" not in state  # non-persistent buffer
    assert not any(t.requires_grad for t in state.values())
    assert dst.load_state_dict(state) == ([], [])
    x = minidl.randn(5, 3)
    np.testing.assert_array_equal(src(x).detach().numpy(), dst(x).detach().numpy())
    # loading copies values: the two modules do not share memory afterwards
    src.first.fc.weight.array[...] = 7
    assert not (dst.first.fc.weight.detach().numpy() == 7).any()


def test_load_from_numpy_dict_casts_to_the_parameter_dtype():
    net = Net()
    state = {k: np.full(v.shape, 0.5, dtype=np.float64) for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    assert net.first.fc.weight.dtype == np.float32
    np.testing.assert_array_equal(net.first.fc.weight.detach().numpy(), np.full((4, 3), 0.5, np.float32))


class _ArrayLike:  # anything with __array__ (e.g. a jax or torch array)
    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


def test_load_from_array_likes_and_dlpack():
    net = nn.Linear(3, 2)
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.0, 2.0], dtype=np.float32)
    net.load_state_dict({"weight": _ArrayLike(w), "bias": minidl.tensor(b)})
    np.testing.assert_array_equal(net.weight.detach().numpy(), w)
    net.load_state_dict({"weight": w * 2, "bias": np.from_dlpack(b * 3)})  # numpy arrays speak dlpack too
    np.testing.assert_array_equal(net.bias.detach().numpy(), b * 3)


def test_strict_errors_list_every_problem_and_change_nothing():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    state = {k: np.zeros(v.shape) for k, v in net.state_dict().items()}
    del state["head_bias"]
    state["layers.0.weight"] = np.zeros((5, 4))
    state["first.fc.bias"] = np.zeros(3)
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    msg = str(info.value)
    assert "missing keys: 'head_bias'" in msg
    assert "unexpected keys: 'extra.weight'" in msg
    assert "layers.0.weight: the checkpoint has shape (5, 4), the module has shape (4, 4)" in msg
    assert "first.fc.bias: the checkpoint has shape (3,), the module has shape (4,)" in msg
    for k, v in net.state_dict().items():  # nothing was loaded, not even the valid entries
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_non_strict_returns_the_keys_but_still_rejects_shapes():
    net = nn.Linear(3, 2)
    result = net.load_state_dict({"weight": np.ones((2, 3)), "junk": np.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["junk"]
    assert (net.weight.detach().numpy() == 1).all()
    with pytest.raises(RuntimeError, match="shape"):
        net.load_state_dict({"weight": np.ones((3, 3))}, strict=False)


def test_load_rejects_unconvertible_values():
    with pytest.raises(TypeError, match="'weight' is a str"):
        nn.Linear(1, 1).load_state_dict({"weight": "hello", "bias": np.zeros(1)})


def test_to_dtype_and_backend_keep_parameter_identity():
    net = Net()
    params = list(net.parameters())
    net(minidl.ones(1, 3)).sum().backward()
    net.double()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert list(net.parameters()) == params  # same objects: an optimizer made earlier still works
    assert net.first.running.dtype == np.float64
    net.to("numba")
    assert all(p.backend.name == "numba" for p in net.parameters())
    assert net(minidl.ones(1, 3, dtype=np.float64, backend="numba")).backend.name == "numba"
    with pytest.raises(TypeError, match="floating point"):
        net.to(np.int32)


def test_deepcopy_gives_independent_parameters():
    import copy

    net = Net()
    twin = copy.deepcopy(net)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in NET_PARAMS]
    assert isinstance(twin.first.scale, nn.Parameter) and twin.first.scale is not net.first.scale
    twin.first.fc.weight.array[...] = 3
    assert not (net.first.fc.weight.detach().numpy() == 3).any()


def test_repr_is_a_pytorch_like_tree():
    assert repr(Net()) == (
        "Net(\n"
        "  (first): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "  )\n"
        "  (act): ReLU()\n"
        "  (layers): ModuleList(\n"
        "    (0): Linear(in_features=4, out_features=4, bias=True)\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert [n for n, _ in seq[1:].named_children()] == ["1", "2"]
    seq.append(nn.Identity())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    x = minidl.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(), seq[2](seq[1](seq[0](x))).detach().numpy())

    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]

    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml += [nn.ReLU()]
    ml.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "ReLU"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    del ml[0]
    assert [n for n, _ in ml.named_children()] == ["0", "1"]
    with pytest.raises(IndexError, match="out of range"):
        ml[5]

    md = nn.ModuleDict({"b": nn.Linear(1, 2), "a": nn.ReLU()})
    md["c"] = nn.Linear(2, 1)
    assert list(md) == ["b", "a", "c"] and "a" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["b.weight", "b.bias", "c.weight", "c.bias"]
    assert nn.Identity(54, unused="x")(x) is x


def test_load_a_torch_state_dict():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())  # torch tensors as they are
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(minidl.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_child_assigned_again_keeps_its_place():
    """PyTorch's order: seq[0] = m, add_module and attribute assignment replace a child where it is."""
    seq = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    seq[0] = nn.Identity()
    seq.add_module("1", nn.ReLU())
    assert [type(m).__name__ for m in seq] == ["Identity", "ReLU", "Sigmoid"]
    x = minidl.tensor([-1.0, 2.0])
    np.testing.assert_allclose(seq(x).numpy(), 1 / (1 + np.exp(-np.maximum([-1.0, 2.0], 0))), rtol=1e-6)
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(minidl.zeros(2, 2))
    assert list(dict(layer.named_parameters())) == ["weight", "bias"]
