"""The backward walk and Function.__call__ after their overhead cuts (issue 16): every path the lean code
takes, against PyTorch. The walk hands out (tensor, gradient) pairs, the roots' first, then each function's
inputs'; it queues a function on its output's first gradient and fills leaves' .grad at the end."""

import numpy as np
import pytest
import torch

import minidl
from minidl import profiler

BACKENDS = ["numpy", "numba"]


def _pair(array, backend):
    return (minidl.tensor(array, requires_grad=True, backend=backend),
            torch.tensor(array, requires_grad=True))


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_inputs_broadcasting_and_an_unused_output_match_torch(backend):
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    (x, tx), (w, tw) = _pair(x0, backend), _pair(w0, backend)
    outs = []
    for lib, xx, ww in ((minidl, x, w), (torch, tx, tw)):
        h = xx * ww  # w broadcast over rows: its gradient is summed back by the walk
        first, _unused, third = lib.split(h, [1, 2, 1], 1)  # a 3-output op; the middle output gets zero gradient
        loss = (first * third).sum() + (h * xx).mean() + ww.sum()  # x and w used twice, h three times
        loss.backward()
        outs.append(loss)
    np.testing.assert_allclose(outs[0].item(), outs[1].item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    assert x.grad.grad_fn is None and not x.grad.requires_grad


@pytest.mark.parametrize("backend", BACKENDS)
def test_retain_graph_backpropagates_twice_and_accumulates_like_torch(backend):
    (a, ta), (b, tb) = _pair(np.array([1.0, -2.0, 3.0]), backend), _pair(np.array([0.5, 4.0, -1.0]), backend)
    y, ty = (a * b).sum(), (ta * tb).sum()
    y.backward(retain_graph=True)
    ty.backward(retain_graph=True)
    y.backward()
    ty.backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=0)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=0)
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_leaves_given_one_gradient_array_get_their_own_memory(backend):
    (a, _), (b, _) = _pair(np.ones(3), backend), _pair(np.ones(3), backend)
    (a + b).sum().backward()  # Add's backward hands the same gradient tensor to both leaves
    assert not np.shares_memory(a.grad.array, b.grad.array)
    a.grad.array[0] = 5.0
    assert b.grad.numpy().tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_root_gradient_that_has_a_graph_reaches_grad_detached_and_copied(backend):
    (x, _), (w, _) = _pair(np.array([1.0, 2.0]), backend), _pair(np.array([3.0, -1.0]), backend)
    g = w * 2.0  # made by an op: it has a grad_fn
    x.backward(g)  # x is the root and a leaf: its gradient is g itself
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    assert x.grad.numpy().tolist() == [6.0, -2.0]
    assert not np.shares_memory(x.grad.array, g.array)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_leaf_hook_that_returns_a_tensor_needing_grad_leaves_grad_outside_the_graph(backend):
    (x, tx), (w, tw) = _pair(np.array([1.0, 2.0]), backend), _pair(np.array([3.0, -1.0]), backend)
    x.register_hook(lambda g: w)
    tx.register_hook(lambda g: tw)
    (x * x).sum().backward()
    (tx * tx).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=0)
    assert x.grad.grad_fn is None and not x.grad.requires_grad and not tx.grad.requires_grad


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_place_change_of_a_saved_input_is_refused_with_its_version(backend):
    (x, _), (w, _) = _pair(np.array([1.0, 2.0]), backend), _pair(np.array([3.0, 4.0]), backend)
    y = (x * w).sum()  # Mul saved w (input 1) at version 0
    with minidl.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match=r"input 1, of shape \(2,\).* is at version 1; expected version 0"):
        y.backward()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_op_with_a_python_number_is_one_call_and_one_profiler_span(backend):
    x, tx = _pair(np.array([1.0, -2.0]), backend)
    with profiler.profile() as prof:
        y = x * 3
    assert [e.name for e in prof.events() if e.kind == "op"] == ["Mul"]
    assert y.dtype == np.float64 and y.grad_fn.name == "Mul"
    assert [tuple(t.shape) for t in y.grad_fn.inputs] == [(2,), ()]
    y.sum().backward()
    (tx * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=0)


def test_an_op_without_any_tensor_says_so():
    from minidl.ops.elementwise import Mul

    with pytest.raises(TypeError, match="Mul: needs at least one Tensor input"):
        Mul()(2.0, 3.0)
    with pytest.raises(TypeError, match="Mul: needs at least one Tensor input"):
        Mul()()


@pytest.mark.parametrize("backend", BACKENDS)
def test_create_graph_gradients_stay_in_the_graph_and_match_torch(backend):
    x, tx = _pair(np.array([0.3, -1.2, 2.0]), backend)
    for lib, xx in ((minidl, x), (torch, tx)):
        y = (xx * xx * xx).sum()
        (g,) = lib.autograd.grad(y, xx, create_graph=True)
        g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)  # d/dx sum(3x^2) = 6x


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_product_with_a_constant_computes_only_the_gradient_that_is_needed(backend):
    x, tx = _pair(np.array([1.0, -2.0, 0.5]), backend)
    c0 = np.array([3.0, 0.25, -1.0])
    for name, fn in (("Mul", lambda u, v: u * v), ("Div", lambda u, v: u / v), ("Sub", lambda u, v: u - v)):
        x.grad = tx.grad = None
        with profiler.profile() as prof:
            fn(x, minidl.tensor(c0, backend=backend)).sum().backward()
        fn(tx, torch.tensor(c0)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15)
        inside = [e.name for e in prof.events() if e.kind == "op" and e.phase == "backward"]
        expected = {"Mul": ["Mul"], "Div": ["Div"], "Sub": []}[name]  # the constant's gradient is never made
        assert [n for n in inside if n in ("Mul", "Div", "Neg")] == expected, inside
