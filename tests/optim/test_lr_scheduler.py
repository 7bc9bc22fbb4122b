"""Every scheduler's learning rates over 100 steps against its closed form, and state_dict round trips."""

import math

import numpy as np
import pytest

import minidl
from minidl import optim
from minidl.optim import lr_scheduler as S

N = 100


def sgd(lr=0.1, momentum=0.9, groups=1):
    params = [minidl.zeros(2, requires_grad=True) for _ in range(groups)]
    return optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr,
                     momentum=momentum)


def lrs(scheduler, n=N):
    """The rate used in epochs 0..n-1 (read before each step), per group."""
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in scheduler.optimizer.param_groups])
        assert out[-1] == scheduler.get_last_lr()
        scheduler.step()
    return np.array(out)


CLOSED_FORMS = {
    "StepLR": (lambda o: S.StepLR(o, step_size=7, gamma=0.5), lambda b, t: b * 0.5 ** (t // 7)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, milestones=[60, 10, 30, 30], gamma=0.3),
                    lambda b, t: b * 0.3 ** ((t >= 10) + 2 * (t >= 30) + (t >= 60))),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, gamma=0.97), lambda b, t: b * 0.97**t),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, T_max=40, eta_min=0.001),
                          lambda b, t: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * t / 40)) / 2),
    "LinearLR": (lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=25),
                 lambda b, t: b * (0.1 + 0.8 * min(t, 25) / 25)),
    "LambdaLR": (lambda o: S.LambdaLR(o, lambda t: 1 / (1 + 0.1 * t)), lambda b, t: b / (1 + 0.1 * t)),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_matches_closed_form_for_every_group(name):
    make, closed = CLOSED_FORMS[name]
    got = lrs(make(sgd(groups=2)))
    want = np.array([[closed(0.1, t), closed(0.2, t)] for t in range(N)])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_sequential_warmup_then_cosine():
    opt = sgd()
    sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.01, total_iters=5),
                                 S.CosineAnnealingLR(opt, T_max=95)], milestones=[5])
    got = lrs(sched)[:, 0]
    want = [0.1 * (0.01 + 0.99 * t / 5) if t < 5 else 0.1 * (1 + math.cos(math.pi * (t - 5) / 95)) / 2
            for t in range(N)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def one_cycle_closed_form(t, total, max_lr, pct, div=25.0, final_div=1e4, strategy="cos"):
    lo, hi = max_lr / div, max_lr
    end1 = pct * total - 1

    def anneal(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2 if strategy == "cos" else a + (b - a) * x

    if t <= end1:
        return anneal(lo, hi, t / end1)
    return anneal(hi, lo / final_div, (t - end1) / (total - 1 - end1))


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_lr_and_momentum(strategy):
    opt = sgd(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=N, pct_start=0.3, anneal_strategy=strategy)
    got, momenta = [], []
    for _ in range(N):
        got.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        sched.step() if len(got) < N else None
    want = [one_cycle_closed_form(t, N, 0.5, 0.3, strategy=strategy) for t in range(N)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(0.02) and got[-1] == pytest.approx(0.02 / 1e4)
    assert momenta[0] == pytest.approx(0.95) and min(momenta) == pytest.approx(0.85, abs=1e-3)
    sched.step()  # one step past the end is allowed (like PyTorch), the next is not
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()


def test_one_cycle_cycles_adam_beta1():
    p = minidl.zeros(2, requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    sched = S.OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    for _ in range(3):
        sched.step()
    assert 0.85 < opt.param_groups[0]["betas"][0] < 0.95 and opt.param_groups[0]["betas"][1] == 0.999


def test_reduce_lr_on_plateau():
    opt = sgd(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    losses = [5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3]
    got = []
    for loss in losses:
        sched.step(loss)
        got.append(sched.get_last_lr()[0])
    # bad epochs: 4 (x6 after the first 4) -> reduce when 3 bad in a row; cooldown 1 resets the count once
    assert got == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2]


def test_reduce_lr_on_plateau_max_mode_abs_threshold():
    opt = sgd(lr=1.0)
    sched = S.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="abs")
    for acc in [0.5, 0.55, 0.7]:  # 0.55 is not better than 0.5 + 0.1
        sched.step(acc)
    assert sched.get_last_lr() == [pytest.approx(0.1)]


@pytest.mark.parametrize("name", list(CLOSED_FORMS) + ["OneCycleLR", "SequentialLR", "ReduceLROnPlateau"])
def test_state_dict_round_trip(name):
    def make(opt):
        if name == "OneCycleLR":
            return S.OneCycleLR(opt, max_lr=1.0, total_steps=60)
        if name == "SequentialLR":
            return S.SequentialLR(opt, [S.LinearLR(opt, 0.1, total_iters=4), S.ExponentialLR(opt, 0.9)], [4])
        if name == "ReduceLROnPlateau":
            return S.ReduceLROnPlateau(opt, patience=1)
        return CLOSED_FORMS[name][0](opt)

    def advance(s, n):
        for i in range(n):
            s.step(10.0 - (i % 4 == 0)) if name == "ReduceLROnPlateau" else s.step()

    opt_a = sgd()
    a = make(opt_a)
    advance(a, 17)
    saved, saved_opt = a.state_dict(), opt_a.state_dict()
    advance(a, 20)
    opt_b = sgd()
    b = make(opt_b)
    opt_b.load_state_dict(saved_opt)
    b.load_state_dict(saved)
    advance(b, 20)
    assert b.get_last_lr() == a.get_last_lr() and b.last_epoch == a.last_epoch
    assert "optimizer" not in saved and "lr_lambdas" not in saved


def test_resume_with_last_epoch():
    opt = sgd()
    S.StepLR(opt, step_size=3)  # sets initial_lr in the groups
    resumed = S.StepLR(opt, step_size=3, gamma=0.1, last_epoch=5)
    assert resumed.get_last_lr() == [pytest.approx(0.001)]  # epoch 6
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(sgd(), step_size=3, last_epoch=5)
