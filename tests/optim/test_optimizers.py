"""Every optimizer's 50-step trajectory against an independent NumPy implementation of its rule.

Two problems: a quadratic (gradients computed in closed form and handed to the optimizer) and a tiny
tanh MLP (gradients from minidl's autograd for minidl, by hand-written backprop for the reference).
Everything in float64, so the tolerance can be tight.
"""

import numpy as np
import pytest
from optim_reference import RULES, VARIANTS, variant_id

import minidl
from minidl import optim
from minidl.tensor import Tensor

STEPS = 50


def quadratic_problem():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 5))
    A = q @ q.T / 5 + np.eye(5)  # symmetric positive definite
    c, D = rng.standard_normal(5), rng.standard_normal((2, 3))
    x0, y0 = rng.standard_normal(5), rng.standard_normal((2, 3))

    def grads(x, y):  # f(x, y) = x^T A x / 2 - c^T x + 3 ||y - D||^2 / 2
        return [A @ x - c, 3.0 * (y - D)]

    return [x0, y0], grads


def run_minidl_quadratic(name, kw, sign=1.0):
    (x0, y0), grads = quadratic_problem()
    params = [minidl.tensor(x0, requires_grad=True), minidl.tensor(y0, requires_grad=True)]
    opt = getattr(optim, name)(params, **kw)
    trajectory = []
    for _ in range(STEPS):
        for p, g in zip(params, grads(*(p.array for p in params))):
            p.grad = minidl.tensor(sign * g)
        opt.step()
        trajectory.append([p.array.copy() for p in params])
    return trajectory


def run_reference_quadratic(name, kw):
    (x0, y0), grads = quadratic_problem()
    params = [x0.copy(), y0.copy()]
    step = RULES[name](**kw)
    trajectory = []
    for _ in range(STEPS):
        step(params, grads(*params))
        trajectory.append([p.copy() for p in params])
    return trajectory


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_quadratic_trajectory_matches_reference(variant):
    name, kw = variant
    ours, ref = run_minidl_quadratic(name, kw), run_reference_quadratic(name, kw)
    for t, (a, b) in enumerate(zip(ours, ref)):
        for pa, pb in zip(a, b):
            np.testing.assert_allclose(pa, pb, rtol=1e-11, atol=1e-13, err_msg=f"step {t + 1}")
    assert not np.allclose(ours[-1][0], quadratic_problem()[0][0])  # it did move


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_maximize_ascends_the_negated_objective(name):
    kw = dict(lr=0.05, weight_decay=0.1) if name != "RMSprop" else dict(lr=0.01, weight_decay=0.1)
    ours = run_minidl_quadratic(name, {**kw, "maximize": True}, sign=-1.0)  # gradient of -f, maximized
    ref = run_reference_quadratic(name, kw)
    for a, b in zip(ours, ref):
        for pa, pb in zip(a, b):
            np.testing.assert_allclose(pa, pb, rtol=1e-11, atol=1e-13)


# ---------------------------------------------------------------------------- tiny MLP
def mlp_data():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    params = [rng.standard_normal((3, 5)) * 0.5, np.zeros(5), rng.standard_normal((5, 2)) * 0.5, np.zeros(2)]
    return X, Y, params


def mlp_grads_by_hand(X, Y, W1, b1, W2, b2):
    """Backprop of L = mean((tanh(X W1 + b1) W2 + b2 - Y)^2), written out."""
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d_out = 2 * (out - Y) / out.size
    d_h = d_out @ W2.T * (1 - h**2)
    return [X.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)]


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_mlp_trajectory_matches_reference(variant):
    name, kw = variant
    X, Y, init = mlp_data()
    params = [minidl.tensor(p, requires_grad=True) for p in init]
    opt = getattr(optim, name)(params, **kw)
    ref_params = [p.copy() for p in init]
    ref_step = RULES[name](**kw)
    x, y = minidl.tensor(X), minidl.tensor(Y)
    for t in range(STEPS):
        W1, b1, W2, b2 = params
        loss = ((minidl.tanh(x @ W1 + b1) @ W2 + b2 - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_step(ref_params, mlp_grads_by_hand(X, Y, *ref_params))
        for p, r in zip(params, ref_params):
            np.testing.assert_allclose(p.array, r, rtol=1e-9, atol=1e-12, err_msg=f"step {t + 1}")


# ---------------------------------------------------------------------------- in place, dtypes, groups
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_updates_in_place_and_keep_float32(name):
    p = minidl.randn(4, 3, requires_grad=True)
    array, view = p.array, p.array[0]
    before = view.copy()
    opt = getattr(optim, name)([p], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    for _ in range(3):
        p.grad = minidl.ones(4, 3)
        opt.step()
    assert p.array is array and p.dtype == np.float32
    assert not np.array_equal(view, before)  # a view taken before the steps sees the new values
    for v in opt.state[p].values():
        assert not hasattr(v, "dtype") or v.dtype == np.float32
    assert p.creator is None and p.grad.creator is None


def test_parameter_groups_and_add_param_group():
    a, b, c = (minidl.tensor(np.ones(2), requires_grad=True) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    opt.add_param_group({"params": c, "lr": 1.0, "momentum": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5, 1.0]
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.param_groups[2]["momentum"] == 0.5
    for p in (a, b, c):
        p.grad = minidl.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose([a.array[0], b.array[0], c.array[0]], [0.9, 0.5, 0.0])
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})


def test_skips_parameters_without_gradient_and_zero_grad():
    a, b = minidl.tensor(np.ones(2), requires_grad=True), minidl.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = minidl.tensor(np.ones(2))
    opt.step()
    assert np.all(a.array < 1) and np.all(b.array == 1) and b not in opt.state
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and np.all(a.grad.array == 0) and b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_step_with_closure_returns_loss():
    w = minidl.tensor(np.array([2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with minidl.no_grad():  # step turns grad mode back on for the closure
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.array[0] == 1.0  # 2 - 0.25 * 4


def test_bad_arguments_raise_clear_errors():
    w = minidl.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([w], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.AdamW([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    w.grad = minidl.ones(3)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        optim.SGD([w], lr=0.1).step()


def test_kernels_do_not_touch_the_gradient():
    p = minidl.tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, -2.0, 3.0])
    p.grad = Tensor(g.copy())
    opt = optim.Adam([p], lr=0.1, weight_decay=0.5, maximize=True)
    opt.step()
    np.testing.assert_array_equal(p.grad.array, g)
