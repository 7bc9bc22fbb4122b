"""Multi-tensor Adam/AdamW (``foreach=``/``fused=``, minidl/optim/_foreach.py): the same numbers as the loop over
parameters, and as torch.optim."""

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.backends import available

BACKENDS = [b for b in ("numpy", "numba") if b in available()]
SHAPES = [(4, 3), (3,), (2, 3, 5), (1,), (7, 2)]
VARIANTS = [("Adam", {}), ("AdamW", {}), ("Adam", {"weight_decay": 0.1, "amsgrad": True}),
            ("AdamW", {"weight_decay": 0.05, "maximize": True}), ("AdamW", {"amsgrad": True})]


def _run(backend, dtype, name, kw, steps=12):
    """Parameters after ``steps`` steps; parameter 1 has no gradient on the first 3 steps (so the step counts
    differ across the group) and parameter 3 none on step 5 (skipped that step)."""
    rng = np.random.default_rng(0)
    with minidl.use_backend(backend):
        params = [minidl.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
        opt = getattr(optim, name)(params, lr=0.05, **kw)
        for t in range(steps):
            for i, p in enumerate(params):
                skip = (i == 1 and t < 3) or (i == 3 and t == 5)
                p.grad = None if skip else minidl.tensor((np.sin(3 * p.array) + p.array).astype(dtype))
            opt.step()
    return [p.array.copy() for p in params], opt


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kw"), VARIANTS, ids=lambda v: str(v))
def test_foreach_and_fused_equal_the_loop(backend, dtype, name, kw):
    want, opt_loop = _run(backend, dtype, name, {**kw, "foreach": False})
    for switch in ({"foreach": True}, {"fused": True}, {}):
        got, opt = _run(backend, dtype, name, {**kw, **switch})
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)  # element for element: the same arithmetic
        for p_loop, p in zip(opt_loop.param_groups[0]["params"], opt.param_groups[0]["params"], strict=True):
            assert opt.state[p]["step"] == opt_loop.state[p_loop]["step"]
            np.testing.assert_array_equal(opt.state[p]["exp_avg_sq"], opt_loop.state[p_loop]["exp_avg_sq"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kw"), VARIANTS, ids=lambda v: str(v))
def test_foreach_matches_torch(backend, name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    init = [rng.standard_normal(s) for s in SHAPES]
    with minidl.use_backend(backend):
        ours = [minidl.tensor(p, requires_grad=True) for p in init]
    theirs = [torch.tensor(p, requires_grad=True) for p in init]
    opt_ours = getattr(optim, name)(ours, lr=0.05, foreach=True, **kw)
    opt_theirs = getattr(torch.optim, name)(theirs, lr=0.05, foreach=True, **kw)
    for _ in range(30):
        for a, b in zip(ours, theirs, strict=True):
            g = np.sin(3 * a.array) + a.array
            a.grad, b.grad = minidl.tensor(g), torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_foreach_and_fused_together_are_refused():
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.AdamW([minidl.zeros(2, requires_grad=True)], foreach=True, fused=True)


def test_param_groups_carry_the_switches_as_in_torch():
    torch = pytest.importorskip("torch")
    ours = optim.AdamW([minidl.zeros(2, requires_grad=True)], foreach=False).state_dict()["param_groups"][0]
    theirs = torch.optim.AdamW([torch.zeros(2, requires_grad=True)], foreach=False).state_dict()["param_groups"][0]
    assert ours["foreach"] is theirs["foreach"] is False and ours["fused"] is theirs["fused"] is None


def test_a_wrong_gradient_shape_is_named():
    p = minidl.zeros(2, 3, requires_grad=True)
    p.grad = minidl.zeros(3, 2)
    with pytest.raises(ValueError, match=r"AdamW.step: a gradient has shape \(3, 2\) but its parameter has shape"):
        optim.AdamW([p]).step()


def test_a_wrong_gradient_shape_changes_nothing():
    """The shapes are checked before any state moves: the parameter with a good gradient keeps its value and
    its step count."""
    good, bad = minidl.ones(3, requires_grad=True), minidl.zeros(2, 3, requires_grad=True)
    opt = optim.AdamW([good, bad])
    good.grad, bad.grad = minidl.ones(3), minidl.ones(3, 2)
    with pytest.raises(ValueError, match="gradient has shape"):
        opt.step()
    assert opt.state.get(good, {}).get("step", 0) == 0
    np.testing.assert_array_equal(good.array, np.ones(3, dtype=np.float32))
