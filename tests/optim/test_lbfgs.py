"""LBFGS without PyTorch: hand-computed first steps, known minima, the closure contract, saving and resuming."""

import numpy as np
import pytest

import minidl
from minidl import optim


def quadratic(seed=0, n=6):
    """f(x) = x^T A x / 2 - c^T x with A symmetric positive definite: the minimum is A^-1 c."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, n))
    A, c = q @ q.T / n + np.eye(n), rng.standard_normal(n)
    return minidl.tensor(A), minidl.tensor(c), np.linalg.solve(A, c), rng.standard_normal(n)


def make_closure(opt, loss_fn, calls=None):
    def closure():
        if calls is not None:
            calls.append(minidl.is_grad_enabled())
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    return closure


def test_first_iteration_is_a_scaled_gradient_step():
    x0 = np.array([3.0, -1.0, 0.5])
    x = minidl.tensor(x0, requires_grad=True)
    opt = optim.LBFGS([x], lr=0.7, max_iter=1)
    opt.step(make_closure(opt, lambda: (x * x).sum()))
    g = 2 * x0
    t = min(1.0, 1.0 / np.abs(g).sum()) * 0.7  # the first step is scaled down by the gradient's 1-norm
    np.testing.assert_array_equal(x.array, x0 - t * g)


def test_second_iteration_uses_the_curvature_pair():
    # on f = sum(w x^2) / 2 after one step the direction is -gamma g with gamma = s.y / y.y (history of one)
    w = np.array([1.0, 4.0])
    x0 = np.array([1.0, 1.0])
    x = minidl.tensor(x0, requires_grad=True)
    opt = optim.LBFGS([x], lr=1, max_iter=2, max_eval=10)  # the default max_eval (2) would stop after one
    opt.step(make_closure(opt, lambda: (minidl.tensor(w) * x * x).sum() / 2))
    g0 = w * x0
    x1 = x0 - min(1.0, 1.0 / np.abs(g0).sum()) * g0
    s, y = x1 - x0, w * x1 - g0
    rho, a = 1 / y.dot(s), None
    q = -w * x1
    a = s.dot(q) * rho
    q = q - a * y
    r = q * (s.dot(y) / y.dot(y))
    r = r + (a - y.dot(r) * rho) * s
    np.testing.assert_allclose(x.array, x1 + r, rtol=1e-14)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_finds_the_minimum_of_a_quadratic(line_search_fn):
    A, c, x_star, x0 = quadratic()
    x = minidl.tensor(x0, requires_grad=True)
    opt = optim.LBFGS([x], lr=1 if line_search_fn else 0.5, line_search_fn=line_search_fn, tolerance_grad=1e-10,
                      tolerance_change=1e-14)  # the default stops when the loss changes by < 1e-9: |x - x*| ~ 1e-5
    closure = make_closure(opt, lambda: (x @ (A @ x)) / 2 - c @ x)
    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(x.array, x_star, atol=1e-6)


def test_rosenbrock_with_strong_wolfe():
    x = minidl.tensor([-1.5, 2.0], dtype=minidl.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")
    closure = make_closure(opt, lambda: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.array, [1.0, 1.0], atol=1e-4)


def test_closure_contract():
    x = minidl.tensor([1.0, -2.0], dtype=minidl.float64, requires_grad=True)
    opt = optim.LBFGS([x], max_iter=4, max_eval=6, line_search_fn="strong_wolfe")
    calls, losses = [], []

    def closure():
        calls.append(minidl.is_grad_enabled())
        opt.zero_grad()
        loss = (x**4).sum()
        loss.backward()
        losses.append(loss)
        return loss

    with minidl.no_grad():
        first = opt.step(closure)
    assert first is losses[0]  # the loss of the first evaluation, as the closure returned it
    assert all(calls) and 1 < len(calls) <= 6  # grad mode on in every call; max_eval respected
    assert opt.state[x]["func_evals"] == len(calls) and opt.state[x]["n_iter"] <= 4
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)


def test_stops_at_once_when_the_gradient_is_small():
    x = minidl.tensor([1e-9, -1e-9], dtype=minidl.float64, requires_grad=True)
    opt = optim.LBFGS([x], tolerance_grad=1e-7)
    calls = []
    loss = opt.step(make_closure(opt, lambda: (x * x).sum(), calls))
    assert len(calls) == 1 and loss.item() == 2e-18
    np.testing.assert_array_equal(x.array, [1e-9, -1e-9])


def test_several_parameters_one_flat_vector_and_missing_gradients():
    A, c, x_star, x0 = quadratic(n=6)
    a = minidl.tensor(x0[:2].reshape(2, 1), requires_grad=True)
    b = minidl.tensor(x0[2:], requires_grad=True)
    unused = minidl.ones(3, requires_grad=True)  # grad stays None: counts as zero
    opt = optim.LBFGS([a, unused, b], line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)
    closure = make_closure(opt, lambda: (lambda x: (x @ (A @ x)) / 2 - c @ x)(minidl.cat([a.reshape(2), b])))
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(np.concatenate([a.array.ravel(), b.array]), x_star, atol=1e-6)
    np.testing.assert_array_equal(unused.array, np.ones(3))
    assert opt.state[a]["d"].shape == (9,)  # 2 + 3 + 4


def test_float32_parameters_stay_float32():
    x = minidl.tensor([0.5, -1.5, 2.0], requires_grad=True)
    array = x.array
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")
    opt.step(make_closure(opt, lambda: ((x - 1) ** 2).sum()))
    assert x.array is array and x.dtype == np.float32
    np.testing.assert_allclose(x.array, [1, 1, 1], atol=1e-5)
    assert opt.state[x]["d"].dtype == np.float32


def test_bad_arguments():
    x = minidl.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [minidl.ones(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="learning rate"):
        optim.LBFGS([x], lr=-1)
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([x], line_search_fn="backtracking")
    assert optim.LBFGS([x], max_iter=8).param_groups[0]["max_eval"] == 10  # max_iter * 5 // 4


# ---------------------------------------------------------------------------- saving and resuming
def mlp_problem(seed):
    rng = np.random.default_rng(seed)
    params = [minidl.tensor(rng.standard_normal((3, 5)) * 0.5, requires_grad=True),
              minidl.tensor(np.zeros(5), requires_grad=True),
              minidl.tensor(rng.standard_normal((5, 1)) * 0.5, requires_grad=True)]
    data = np.random.default_rng(0)
    X = minidl.tensor(data.standard_normal((20, 3)))
    Y = minidl.tensor(np.sin(X.array.sum(1, keepdims=True)))

    def loss_fn():
        W1, b1, W2 = params
        return ((minidl.tanh(X @ W1 + b1) @ W2 - Y) ** 2).mean()

    return params, loss_fn


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_round_trip_resumes_bit_identically(line_search_fn):
    kw = dict(lr=1 if line_search_fn else 0.3, max_iter=5, history_size=4, line_search_fn=line_search_fn)
    params, loss_fn = mlp_problem(0)
    opt = optim.LBFGS(params, **kw)
    closure = make_closure(opt, loss_fn)
    for _ in range(3):
        opt.step(closure)
    saved = opt.state_dict()
    saved_params = [p.array.copy() for p in params]
    for _ in range(3):
        opt.step(closure)  # the uninterrupted run

    params2, loss_fn2 = mlp_problem(99)
    for p, value in zip(params2, saved_params):
        p.array[...] = value
    opt2 = optim.LBFGS(params2, lr=0.01)  # hyper-parameters come from the saved dict
    opt2.load_state_dict(saved)
    closure2 = make_closure(opt2, loss_fn2)
    for _ in range(3):
        opt2.step(closure2)
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.array, b.array)
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    assert opt2.state[params2[0]]["func_evals"] == opt.state[params[0]]["func_evals"]


def test_state_dict_layout_is_pytorchs():
    params, loss_fn = mlp_problem(0)
    opt = optim.LBFGS(params, line_search_fn="strong_wolfe", history_size=3)
    closure = make_closure(opt, loss_fn)
    opt.step(closure)
    sd = opt.state_dict()
    assert list(sd["state"]) == [0]  # global state, kept under the first parameter
    entry = sd["state"][0]
    assert set(entry) == {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                          "prev_flat_grad", "prev_loss", "al"}
    assert entry["n_iter"] == 20 and len(entry["old_dirs"]) == 3 and len(entry["al"]) == 3
    assert isinstance(entry["d"], minidl.Tensor) and entry["d"].shape == (25,)
    assert sd["param_groups"][0]["params"] == [0, 1, 2] and sd["param_groups"][0]["line_search_fn"] == "strong_wolfe"
    before = entry["d"].array.copy()
    opt.step(closure)
    np.testing.assert_array_equal(entry["d"].array, before)  # a snapshot, not the live state
    bad = {"state": {"0": {**entry, "d": minidl.zeros(7)}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="'d' has shape"):
        opt.load_state_dict(bad)
    opt.load_state_dict({"state": {"0": entry}, "param_groups": sd["param_groups"]})  # keys as from JSON
    assert opt.state[params[0]]["n_iter"] == 20
