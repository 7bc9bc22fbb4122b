"""The autograd engine: higher-order gradients, long chains, memory, graph freeing, grad modes."""

import gc
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import minidl
from minidl.backends.numpy_backend import NumpyBackend
from minidl.tensor import Tensor


def test_second_derivative_of_tanh_matches_closed_form():
    x0 = np.linspace(-2, 2, 9)
    x = minidl.tensor(x0, requires_grad=True)
    (dy,) = minidl.grad(x.tanh().sum(), x, create_graph=True)
    (d2y,) = minidl.grad(dy.sum(), x)
    t = np.tanh(x0)
    np.testing.assert_allclose(dy.detach().numpy(), 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2y.numpy(), -2 * t * (1 - t**2), rtol=1e-12)


def test_third_derivative_of_power():
    x = minidl.tensor(1.5, dtype=np.float64, requires_grad=True)
    g1 = minidl.grad(x**4, x, create_graph=True)[0]
    g2 = minidl.grad(g1, x, create_graph=True)[0]
    g3 = minidl.grad(g2, x)[0]
    assert (g1.item(), g2.item(), g3.item()) == pytest.approx((4 * 1.5**3, 12 * 1.5**2, 24 * 1.5))


def test_hessian_vector_product_of_small_mlp_matches_closed_form():
    # f(x) = w2 . tanh(W1 x);  H = W1^T diag(w2 * tanh''(W1 x)) W1 with tanh'' = -2 t (1 - t^2)
    rng = np.random.default_rng(0)
    W1, w2 = rng.standard_normal((5, 3)), rng.standard_normal(5)
    x0, v = rng.standard_normal(3), rng.standard_normal(3)
    x = minidl.tensor(x0, requires_grad=True)
    f = (minidl.tensor(W1) @ x).tanh() @ minidl.tensor(w2)
    (g,) = minidl.grad(f, x, create_graph=True)
    (hvp,) = minidl.grad((g * minidl.tensor(v)).sum(), x)
    t = np.tanh(W1 @ x0)
    expected = W1.T @ (w2 * (-2 * t * (1 - t**2)) * (W1 @ v))
    np.testing.assert_allclose(g.detach().numpy(), W1.T @ (w2 * (1 - t**2)), rtol=1e-12)
    np.testing.assert_allclose(hvp.numpy(), expected, rtol=1e-10)


def test_backward_through_a_100000_op_chain():
    x = minidl.tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_gradients_accumulate_into_leaves_like_pytorch():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    assert x.grad is None


def test_shared_subexpression_gets_both_contributions():
    x = minidl.tensor(2.0, requires_grad=True)
    a = x * x
    (a + a * x).backward()  # d/dx (x^2 + x^3) = 2x + 3x^2
    assert x.grad.item() == pytest.approx(4 + 12)


def test_leaves_given_the_same_gradient_array_get_separate_grads():
    """``x + y`` hands one gradient array to both inputs: each leaf's .grad must own its memory."""
    x, y = minidl.ones(3, requires_grad=True), minidl.ones(3, requires_grad=True)
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    x.grad.numpy()[:] = 7.0  # an in-place update of one gradient (clipping, say) leaves the other alone
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0, 1.0])
    # the same through an explicit root gradient, which the caller still holds
    a, b = minidl.ones(2, requires_grad=True), minidl.ones(2, requires_grad=True)
    g = np.array([2.0, 3.0], dtype=np.float32)
    (a + b).backward(minidl.tensor(g))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), g) and not np.shares_memory(b.grad.numpy(), g)
    np.testing.assert_array_equal(a.grad.numpy(), g)
    np.testing.assert_array_equal(b.grad.numpy(), g)


@pytest.mark.parametrize(("small", "large"), [((4, 1), (4, 5)), ((1, 5), (4, 5)), ((1, 1), (4, 5)), ((5,), (4, 5))])
def test_broadcast_inputs_get_gradients_summed_back_to_their_shape(small, large):
    """(4, 1) + (4, 5): each of the 4 values was used 5 times, so its gradient is 5 (same rank and lower rank)."""
    a, b = minidl.ones(*small, requires_grad=True), minidl.ones(*large, requires_grad=True)
    (a + b).sum().backward()
    expected = np.full(small, np.prod(large) / np.prod(small))
    assert a.grad.shape == small
    np.testing.assert_array_equal(a.grad.numpy(), expected)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(large))
    w = np.arange(20.0).reshape(4, 5)  # a non-uniform upstream gradient: sums, not counts
    a.grad = None
    (a * minidl.tensor(w)).sum().backward()
    padded = (1,) * (len(large) - len(small)) + small  # small's shape as broadcasting lines it up
    axes = tuple(i for i, n in enumerate(padded) if n == 1)
    np.testing.assert_array_equal(a.grad.numpy(), w.sum(axis=axes, keepdims=True).reshape(small))


def test_second_backward_through_freed_graph_raises():
    x = minidl.tensor([1.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = minidl.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 4.0


def test_backward_on_non_scalar_needs_a_grad():
    x = minidl.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="one element"):
        (x * 2).backward()
    (x * 2).backward(minidl.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 4.0])


def test_grad_does_not_touch_dot_grad_and_reports_unused_inputs():
    x, z = minidl.ones(2, requires_grad=True), minidl.ones(2, requires_grad=True)
    (gx,) = minidl.grad((x * 3).sum(), x)
    assert x.grad is None and gx.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="allow_unused"):
        minidl.grad((x * 3).sum(), [x, z])
    assert minidl.grad((x * 3).sum(), [x, z], allow_unused=True)[1] is None


def test_graph_frees_itself():
    x = minidl.ones(4, requires_grad=True)
    y = (x * 2).exp()
    creator = weakref.ref(y.creator)
    del y
    gc.collect()
    assert creator() is None


def test_memory_stays_flat_over_1000_iterations():
    w = minidl.randn(64, 64, requires_grad=True)
    x = minidl.randn(32, 64)

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        loss.backward()
        w.grad = None

    tracemalloc.start()
    for _ in range(500):  # warm-up: numpy's small-allocation caches fill up (bounded, a few KiB)
        step()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # a leak of even one 64x64 float32 gradient per step would add 16 MB here
    assert after - before < 16 * 1024, (before, after)


def test_no_grad_and_enable_grad_as_context_and_decorator():
    x = minidl.ones(2, requires_grad=True)
    with minidl.no_grad():
        assert not (x * 2).requires_grad
        with minidl.enable_grad():
            assert (x * 2).requires_grad

    @minidl.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad and minidl.is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = minidl.ones(2, requires_grad=True)
    seen = []
    with minidl.no_grad():
        t = threading.Thread(target=lambda: seen.append((x * 2).requires_grad))
        t.start()
        t.join()
    assert seen == [True]


def test_detach_cuts_the_graph():
    x = minidl.ones(2, requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    z = x * 2
    assert not z.is_leaf and x.is_leaf


def test_ops_refuse_tensors_on_different_devices():
    class FakeGpuBackend(NumpyBackend):  # numpy arrays, but claims another device
        name, is_gpu = "fake-gpu", True

    a = minidl.ones(2)
    b = Tensor._wrap(np.ones(2, np.float32), FakeGpuBackend(), False)
    with pytest.raises(minidl.BackendMismatchError, match="'numpy' and 'fake-gpu'"):
        a + b


def test_two_cpu_backends_work_together_on_the_faster_one():
    class FastCpuBackend(NumpyBackend):  # stands in for numba: same arrays, same device
        name = "fast-cpu"

    fast = FastCpuBackend()
    a = minidl.tensor([1.0, 2.0], requires_grad=True)
    b = Tensor._wrap(np.array([3.0, 4.0], np.float32), fast, False)
    b.requires_grad = True
    y = (a * b).sum()
    assert y.backend is fast and (b + a).backend is fast
    y.backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [1.0, 2.0]


def test_missing_backend_names_what_to_do():
    with pytest.raises(minidl.BackendUnavailableError, match="cupy"):
        minidl.get_backend("cupy")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        minidl.get_backend("tpu")


def test_use_backend_is_scoped():
    with minidl.use_backend("numpy") as be:
        assert minidl.zeros(1).backend is be
    assert minidl.zeros(1).backend.name == "numpy"


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(minidl.DTypeError, match="floating point"):
        minidl.tensor([1, 2], requires_grad=True)


def _function_classes():
    import importlib
    import pkgutil

    from minidl.autograd import Function

    for module in pkgutil.walk_packages(minidl.__path__, "minidl."):
        if not any(part in module.name for part in ("examples", "__main__", "cupy", "cuda")):
            importlib.import_module(module.name)
    found, todo = [], list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_function_that_reads_its_outputs_says_so():
    """The walk frees an output before its creator's backward unless ``uses_outputs`` is set."""
    import inspect

    classes = _function_classes()
    assert len(classes) > 50
    readers = [c.__name__ for c in classes if "self.output(" in inspect.getsource(c)]
    assert "Exp" in readers and "SoftmaxFunction" in readers
    assert [c.__name__ for c in classes if "self.output(" in inspect.getsource(c) and not c.uses_outputs] == []


def test_an_unheld_output_is_freed_before_its_creators_backward():
    """relu(conv) -> pool: the relu's output is freed before the relu backpropagates (PyTorch's
    memory behaviour), while exp, whose gradient is its output, still gets it."""
    x = minidl.randn(8, requires_grad=True)
    seen = []

    class Spy(minidl.autograd.Function):
        def forward(self, a):
            return a * 1

        def backward(self, gy):
            seen.append(self._outputs[0]() is None)
            return gy

    (Spy()(x) * 2).sum().backward()
    assert seen == [True]
    x.grad = None
    y = x.exp()  # only the graph holds exp's output after this line's ``del``
    loss = (y * 2).sum()
    del y
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.detach().numpy()), rtol=1e-6)


def test_saved_values_are_declared_listed_and_freed_after_backward():
    logits = minidl.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, requires_grad=True)
    loss = minidl.nn.functional.cross_entropy(logits, minidl.tensor([0, 1, 3]))
    fn = loss.creator
    while not fn.name.startswith("SoftmaxCrossEntropy"):
        fn = fn.inputs[0].creator
    (lse,) = fn.saved_tensors
    x = np.arange(12).reshape(3, 4) / 10
    np.testing.assert_allclose(np.ravel(lse), np.log(np.exp(x).sum(1)), rtol=1e-6)
    assert fn.saved_nbytes() == np.asarray(lse).nbytes
    loss.backward()
    assert fn.saved_nbytes() == 0
    with pytest.raises(RuntimeError, match="nothing saved for backward"):
        _ = fn.saved_tensors
