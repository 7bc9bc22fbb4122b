"""Optimizer state_dict: a snapshot that round-trips exactly, so a resumed run continues identically."""

import numpy as np
import pytest
from optim_reference import VARIANTS, variant_id

import minidl
from minidl import optim


def make(name, kw, seed=0):
    rng = np.random.default_rng(seed)
    params = [minidl.tensor(rng.standard_normal((3, 4)), requires_grad=True),
              minidl.tensor(rng.standard_normal(4), requires_grad=True)]
    return params, getattr(optim, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.01}], **kw)


def run(params, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in params:
            p.grad = minidl.tensor(rng.standard_normal(p.shape) + p.array)
        opt.step()


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_round_trip_mid_run_continues_identically(variant):
    name, kw = variant
    params, opt = make(name, kw)
    run(params, opt, 20, seed=1)
    saved = opt.state_dict()
    saved_params = [p.array.copy() for p in params]
    run(params, opt, 30, seed=2)  # the uninterrupted run

    params2, opt2 = make(name, kw, seed=99)  # different starting values, overwritten below
    for p, value in zip(params2, saved_params):
        p.array[...] = value
    opt2.load_state_dict(saved)
    run(params2, opt2, 30, seed=2)
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.array, b.array)  # bit-identical
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_state_dict_is_a_snapshot_in_pytorch_layout():
    params, opt = make("Adam", dict(lr=0.1, amsgrad=True))
    run(params, opt, 2, seed=0)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1]
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.01 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    entry = sd["state"][0]
    assert entry["step"] == 2 and set(entry) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    before = entry["exp_avg"].array.copy()
    run(params, opt, 1, seed=0)
    np.testing.assert_array_equal(entry["exp_avg"].array, before)  # a copy, not the live buffer
    assert not np.array_equal(opt.state[params[0]]["exp_avg"], before)


def test_load_accepts_string_keys_and_numpy_arrays():
    params, opt = make("SGD", dict(lr=0.1, momentum=0.9))
    run(params, opt, 3, seed=0)
    sd = opt.state_dict()
    as_json = {"state": {str(k): {n: np.asarray(v.array) for n, v in s.items()} for k, s in sd["state"].items()},
               "param_groups": sd["param_groups"]}
    params2, opt2 = make("SGD", dict(lr=0.1, momentum=0.9))
    opt2.load_state_dict(as_json)
    np.testing.assert_array_equal(opt2.state[params2[0]]["momentum_buffer"], opt.state[params[0]]["momentum_buffer"])


def test_load_casts_state_to_the_parameter_dtype():
    p64 = minidl.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p64], lr=0.1)
    p64.grad = minidl.tensor(np.ones(3))
    opt.step()
    p32 = minidl.ones(3, requires_grad=True)
    opt32 = optim.Adam([p32], lr=0.1)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == np.float32 and opt32.state[p32]["step"] == 1


def test_mismatched_state_dict_raises_and_changes_nothing():
    params, opt = make("Adam", dict(lr=0.1))
    run(params, opt, 1, seed=0)
    other = optim.Adam([minidl.ones(2, requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match="parameter groups"):
        other.load_state_dict(opt.state_dict())
    two = [minidl.ones(3, 4, requires_grad=True), minidl.ones(5, requires_grad=True)]
    opt_b = optim.Adam([{"params": two[:1]}, {"params": two[1:]}], lr=0.5)
    with pytest.raises(ValueError, match="shape"):
        opt_b.load_state_dict(opt.state_dict())
    assert opt_b.param_groups[0]["lr"] == 0.5 and opt_b.state == {}
