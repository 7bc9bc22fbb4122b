"""Gradient hooks on tensors, retain_grad, and Module forward / backward hooks (PyTorch's semantics)."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn


def test_tensor_hook_sees_and_replaces_the_gradient_of_a_non_leaf():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x  # dh/dx = 2x
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 0.5)  # hooks run in order; this one halves what flows on
    (h * 4).sum().backward()
    np.testing.assert_allclose(seen[0], [4.0, 4.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * 4 * 2 * np.array([1.0, 2.0, 3.0]))


def test_leaf_hook_runs_once_on_the_summed_gradient_and_fills_grad_with_its_result():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    calls = []

    def hook(g):
        calls.append(g.numpy().copy())
        return g + 1

    x.register_hook(hook)
    (x * 2 + x * 3).sum().backward()  # two paths into x: the hook sees their sum, once
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [5.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_handle_remove_and_with_block():
    x = minidl.tensor([1.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 1).sum().backward()
    handle.remove()
    handle.remove()  # twice is harmless
    (x * 1).sum().backward()
    assert calls == [1]
    with x.register_hook(lambda g: calls.append(2)):
        (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert calls == [1, 2]


def test_hook_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minidl.ones(2).register_hook(lambda g: g)
    x = minidl.ones(2, requires_grad=True)
    x.register_hook(lambda g: minidl.ones(3))
    with pytest.raises(RuntimeError, match="returned"):
        (x * 1).sum().backward()


def test_retain_grad_fills_a_non_leaf_and_accumulates():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    assert not h.retains_grad
    h.retain_grad()
    assert h.retains_grad
    out = (h * h).sum()
    out.backward(retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])  # d(h^2)/dh = 2h
    out.backward()
    np.testing.assert_allclose(h.grad.numpy(), [12.0, 24.0])
    plain = x * 2
    (plain * 1).sum().backward()
    assert plain.grad is None  # only retain_grad fills a non-leaf's .grad


def test_hooks_with_create_graph_and_minidl_grad():
    x = minidl.tensor([2.0], requires_grad=True)
    y = x ** 3
    y.register_hook(lambda g: g * 2)
    (gx,) = minidl.grad(y, x, create_graph=True)  # 2 * 3x^2 = 24
    np.testing.assert_allclose(gx.detach().numpy(), [24.0])
    (ggx,) = minidl.grad(gx, x)  # 2 * 6x = 24
    np.testing.assert_allclose(ggx.numpy(), [24.0])


class _Scale(nn.Module):
    def forward(self, x, factor):
        return x * factor


def test_forward_pre_hook_and_forward_hook_can_replace_args_and_output():
    layer = nn.Linear(3, 2)
    x = minidl.ones(4, 3)
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    np.testing.assert_allclose(layer(x).detach().numpy(), np.broadcast_to(layer.bias.detach().numpy(), (4, 2)))
    pre.remove()
    post = layer.register_forward_hook(lambda m, args, out: out.sum(1))
    assert layer(x).shape == (4,)
    post.remove()
    assert layer(x).shape == (4, 2)
    kw = []
    scale = _Scale()
    scale.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": 10.0}), with_kwargs=True)
    scale.register_forward_hook(lambda m, args, kwargs, out: kw.append(kwargs), with_kwargs=True)
    np.testing.assert_allclose(scale(minidl.ones(2), factor=2.0).numpy(), [10.0, 10.0])
    assert kw == [{"factor": 10.0}]


def test_prepend_runs_first():
    layer = nn.ReLU()
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("first"))
    layer.register_forward_hook(lambda m, a, o: order.append("prepended"), prepend=True)
    layer(minidl.ones(1))
    assert order == ["prepended", "first"]


def test_full_backward_hook_grad_input_grad_output_and_replacement():
    layer = nn.Linear(3, 2)
    x = minidl.randn(4, 3, requires_grad=True)
    record = {}

    def hook(module, grad_input, grad_output):
        record["in"], record["out"] = grad_input, grad_output
        return (grad_input[0] * 0,)

    handle = layer.register_full_backward_hook(hook)
    layer(x).sum().backward()
    (gi,), (go,) = record["in"], record["out"]
    np.testing.assert_allclose(go.numpy(), np.ones((4, 2)))
    np.testing.assert_allclose(gi.numpy(), np.ones((4, 2)) @ layer.weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 0.0)  # the hook's replacement reached x
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.ones((2, 4)) @ x.detach().numpy(), rtol=1e-6)
    handle.remove()
    x.grad = None
    layer(x).sum().backward()
    assert np.abs(x.grad.numpy()).sum() > 0


def test_full_backward_hook_with_non_tensor_args_and_inputs_without_grad():
    scale = _Scale()
    got = []
    scale.register_full_backward_hook(lambda m, gi, go: got.append((gi, go)))
    w = minidl.tensor([1.0, 2.0], requires_grad=True)
    scale(w, 3.0).sum().backward()
    (gi, go), = got
    assert len(gi) == 2 and gi[1] is None
    np.testing.assert_allclose(gi[0].numpy(), [3.0, 3.0])
    got.clear()
    layer = nn.Linear(2, 1)
    layer.register_full_backward_hook(lambda m, gi, go: got.append((gi, go)))
    layer(minidl.ones(3, 2)).sum().backward()  # the input needs no gradient: grad_input is (None,)
    assert got[0][0] == (None,) and got[0][1][0].shape == (3, 1)


def _record_hooks(lib, nn_mod, x_requires_grad):
    """The sequence of hook calls for a small model (one script for both libraries).

    One path through the graph: where two branches are independent, PyTorch runs the most recently
    created op first and minidl the deepest (its generation), two valid orders that interleave
    branches differently."""
    lib.manual_seed(0)
    model = nn_mod.Sequential(nn_mod.Linear(3, 4), nn_mod.Tanh(), nn_mod.Linear(4, 4), nn_mod.ReLU(),
                              nn_mod.Linear(4, 2))
    log = []
    for name, mod in model.named_modules():
        name = name or "model"
        mod.register_forward_pre_hook(lambda m, a, n=name: log.append(("pre", n)))
        mod.register_forward_hook(lambda m, a, o, n=name: log.append(("forward", n)))
        mod.register_full_backward_pre_hook(lambda m, go, n=name: log.append(("backward_pre", n)))
        mod.register_full_backward_hook(
            lambda m, gi, go, n=name: log.append(("backward", n, tuple(None if g is None else tuple(g.shape)
                                                                        for g in gi))))
    for name, p in model.named_parameters():
        p.register_hook(lambda g, n=name: log.append(("param", n)))
    def watch_activation(module, args, output):  # a tensor hook on a non-leaf, set from a forward hook
        output.register_hook(lambda g: log.append(("activation", tuple(g.shape))))

    model[1].register_forward_hook(watch_activation)
    x = lib.ones(5, 3, requires_grad=x_requires_grad)
    if x_requires_grad:
        x.register_hook(lambda g: log.append(("x",)))
    model(x).sum().backward()
    # Within one op PyTorch accumulates a Linear's bias before its weight (addmm's argument order), minidl
    # the weight first (linear's): compare the parameters of one op as a set.
    merged, i = [], 0
    while i < len(log):
        if log[i][0] == "param":
            j = i
            while j < len(log) and log[j][0] == "param":
                j += 1
            merged.append(("params", tuple(sorted(e[1] for e in log[i:j]))))
            i = j
        else:
            merged.append(log[i])
            i += 1
    return merged


@pytest.mark.parametrize("x_requires_grad", [True, False])
def test_hooks_fire_in_pytorchs_order(x_requires_grad):
    torch = pytest.importorskip("torch")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's note that a full backward hook fires at the outputs
        expected = _record_hooks(torch, torch.nn, x_requires_grad)
    got = _record_hooks(minidl, nn, x_requires_grad)
    assert got == expected
    assert ("activation", (5, 4)) in got and any(e[0] == "backward" for e in got)
