"""Cross-check against PyTorch itself when it is installed (CI does not install it: these tests skip)."""

import numpy as np
import pytest
from optim_reference import VARIANTS, variant_id

import minidl
from minidl import optim
from minidl.optim import lr_scheduler as S

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_optimizer_trajectory_matches_torch(variant):
    name, kw = variant
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    ours = [minidl.tensor(p, requires_grad=True) for p in init]
    theirs = [torch.tensor(p, requires_grad=True) for p in init]
    opt_ours = getattr(optim, name)(ours, **kw)
    opt_theirs = getattr(torch.optim, name)(theirs, **kw)
    for _ in range(50):
        for a, b in zip(ours, theirs):
            g = np.sin(3 * a.array) + a.array  # same gradient field for both
            a.grad = minidl.tensor(g)
            b.grad = torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)


def torch_sgd(lr=0.1):
    return torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr, momentum=0.9)


SCHEDULERS = {
    "StepLR": (lambda o: S.StepLR(o, 7, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, [10, 30, 30, 60], 0.3),
                    lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [10, 30, 30, 60], 0.3)),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, 40, 0.001),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 40, 0.001)),
    "LinearLR": (lambda o: S.LinearLR(o, 0.1, 0.9, 25), lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.1, 0.9, 25)),
    "OneCycleLR": (lambda o: S.OneCycleLR(o, 0.5, total_steps=100),
                   lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=100)),
    "OneCycleLR-3": (lambda o: S.OneCycleLR(o, 0.5, total_steps=100, three_phase=True, anneal_strategy="linear"),
                     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=100, three_phase=True,
                                                                   anneal_strategy="linear")),
    "SequentialLR": (
        lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.01, total_iters=5), S.CosineAnnealingLR(o, 95)], [5]),
        lambda o: torch.optim.lr_scheduler.SequentialLR(
            o, [torch.optim.lr_scheduler.LinearLR(o, 0.01, total_iters=5),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, 95)], [5])),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    ours_make, theirs_make = SCHEDULERS[name]
    o1 = optim.SGD([minidl.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    o2 = torch_sgd()
    s1, s2 = ours_make(o1), theirs_make(o2)
    for _ in range(99):
        assert o1.param_groups[0]["lr"] == pytest.approx(o2.param_groups[0]["lr"], rel=1e-10, abs=1e-15)
        assert o1.param_groups[0]["momentum"] == pytest.approx(o2.param_groups[0]["momentum"], rel=1e-10)
        o2.step()  # silences torch's "scheduler.step() before optimizer.step()" warning
        s1.step()
        s2.step()


def test_reduce_lr_on_plateau_matches_torch():
    o1 = optim.SGD([minidl.zeros(2, requires_grad=True)], lr=1.0)
    o2 = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    kw = dict(mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    s1, s2 = S.ReduceLROnPlateau(o1, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(o2, **kw)
    rng = np.random.default_rng(0)
    for t in range(100):
        loss = 1.0 / (1 + t // 10) + 0.05 * rng.random()
        s1.step(loss)
        s2.step(loss)
        assert s1.get_last_lr() == pytest.approx(s2.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_step_with_closure_matches_torch(variant):
    """``loss = opt.step(closure)`` the PyTorch way: called under no_grad, the closure still gets gradients."""
    name, kw = variant
    rng = np.random.default_rng(3)
    init = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 4))
    ours = [minidl.tensor(p, requires_grad=True) for p in init]
    theirs = [torch.tensor(p, requires_grad=True) for p in init]
    opt_ours, opt_theirs = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)

    def closure(lib, opt, params, x, y):
        def evaluate():
            opt.zero_grad()
            loss = ((lib.tanh(x @ params[0] + params[1]) - y) ** 2).mean()
            loss.backward()
            return loss
        return evaluate

    closure_ours = closure(minidl, opt_ours, ours, minidl.tensor(X), minidl.tensor(Y))
    closure_theirs = closure(torch, opt_theirs, theirs, torch.tensor(X), torch.tensor(Y))
    for _ in range(20):
        with minidl.no_grad(), torch.no_grad():
            loss_ours, loss_theirs = opt_ours.step(closure_ours), opt_theirs.step(closure_theirs)
        assert loss_ours.item() == pytest.approx(loss_theirs.item(), rel=1e-10)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)
