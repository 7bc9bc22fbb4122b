"""minidl.amp.GradScaler against torch.amp.GradScaler("cpu"): scale sequence, skipped steps, parameters, state."""

import numpy as np
import pytest
import torch

import minidl
import minidl.nn.functional as F
from minidl.amp import GradScaler
from minidl.train import load_checkpoint, save_checkpoint

BAD = {2: np.inf, 3: np.inf, 7: np.nan, 12: np.inf}  # the steps whose loss (hence gradients) is inf or NaN


def _run(lib, steps=16, growth_interval=3, clip=False):
    """SGD on sum(c * p^2) with c = 1, or inf/NaN at the steps in BAD; returns (scales, params, scaler)."""
    start = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    if lib == "torch":
        p = torch.from_numpy(start.copy()).requires_grad_()
        opt, scaler = torch.optim.SGD([p], lr=0.1), torch.amp.GradScaler("cpu", init_scale=2.0 ** 10,
                                                                         growth_interval=growth_interval)
        clip_fn, value = torch.nn.utils.clip_grad_norm_, lambda t: t.detach().numpy().copy()
    else:
        p = minidl.tensor(start.copy(), requires_grad=True)
        opt, scaler = minidl.optim.SGD([p], lr=0.1), GradScaler("cpu", init_scale=2.0 ** 10,
                                                               growth_interval=growth_interval)
        clip_fn, value = minidl.nn.utils.clip_grad_norm_, lambda t: t.detach().numpy().copy()
    scales, params = [], []
    for i in range(steps):
        opt.zero_grad()
        loss = (p * p).sum() * float(BAD.get(i, 1.0))
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(opt)
            clip_fn([p], 1.0)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        params.append(value(p))
    return scales, params, scaler


@pytest.mark.parametrize("clip", [False, True])
def test_scale_sequence_and_skipped_steps_equal_torch(clip):
    with np.errstate(invalid="ignore", over="ignore"):
        mine, mparams, mscaler = _run("minidl", clip=clip)
    theirs, tparams, tscaler = _run("torch", clip=clip)
    assert mine == theirs
    # backoff at each bad step, growth after 3 good steps in a row
    assert mine == [1024.0, 1024.0, 512.0, 256.0, 256.0, 256.0, 512.0, 256.0, 256.0, 256.0, 512.0, 512.0, 256.0,
                    256.0, 256.0, 512.0]
    for m, t in zip(mparams, tparams, strict=True):
        np.testing.assert_allclose(m, t, rtol=1e-6)
    assert mscaler.state_dict() == tscaler.state_dict()


def test_state_dict_round_trip_and_torch_keys():
    scaler = GradScaler("cpu", init_scale=8.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=5)
    t = torch.amp.GradScaler("cpu", init_scale=8.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=5)
    t.scale(torch.ones(1))  # torch makes its scale lazily
    assert scaler.state_dict() == t.state_dict()
    other = GradScaler("cpu")
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == scaler.state_dict() and other.get_growth_interval() == 5
    with pytest.raises(RuntimeError, match="empty"):
        other.load_state_dict({})


def test_state_is_saved_in_checkpoints(tmp_path):
    model = minidl.nn.Linear(2, 1)
    scaler = GradScaler("cpu", init_scale=2.0 ** 5, growth_interval=7)
    scaler._growth_tracker = 3
    save_checkpoint(tmp_path / "ckpt.npz", model, scaler=scaler, epoch=1)
    restored = GradScaler("cpu")
    load_checkpoint(tmp_path / "ckpt.npz", model, scaler=restored)
    assert restored.state_dict() == {"scale": 32.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                     "growth_interval": 7, "_growth_tracker": 3}


def test_call_order_errors_as_torch():
    p = minidl.tensor([1.0], requires_grad=True)
    opt, scaler = minidl.optim.SGD([p], lr=0.1), GradScaler("cpu")
    scaler.scale((p * p).sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: None)


def test_disabled_is_a_pass_through():
    p = minidl.tensor([1.0], requires_grad=True)
    opt, scaler = minidl.optim.SGD([p], lr=0.1), GradScaler("cpu", enabled=False)
    loss = (p * p).sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(p.detach().numpy(), [0.8])


def test_cuda_scaler_without_a_gpu_warns_and_disables():
    if any(b in minidl.available_backends() for b in ("cupy", "numba-cuda")):
        pytest.skip("a GPU backend is available here")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = GradScaler()
    assert not scaler.is_enabled()


def test_float16_training_recovers_from_an_overflowing_scale():
    """Start at a scale that overflows float16 (2^40): the scaler skips steps and halves the scale until
    the gradients are finite, then training proceeds and the loss falls."""
    minidl.manual_seed(0)
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((64, 10)).astype(np.float32))
    y = minidl.tensor((rng.standard_normal(64) > 0).astype(np.int64))
    model = minidl.nn.Sequential(minidl.nn.Linear(10, 32), minidl.nn.ReLU(), minidl.nn.Linear(32, 2))
    opt, scaler = minidl.optim.Adam(model.parameters(), lr=1e-2), GradScaler("cpu", init_scale=2.0 ** 40)
    losses, skipped = [], 0
    for _ in range(60):
        opt.zero_grad()
        with minidl.autocast("cpu", dtype=minidl.float16):
            loss = F.cross_entropy(model(x), y)
        with np.errstate(over="ignore", invalid="ignore"):
            scaler.scale(loss).backward()
        before = scaler.get_scale()
        scaler.step(opt)  # skipped (the parameters untouched) when a gradient is inf/NaN
        scaler.update()
        skipped += scaler.get_scale() < before  # a skipped step halves the scale
        losses.append(loss.item())
    assert scaler.get_scale() <= 2.0 ** 20  # the float16 gradients (logits: up to 65504) overflowed at 2^40
    assert skipped >= 20  # 2^40 -> 2^20 takes 20 halvings
    assert all(np.isfinite(p.detach().numpy()).all() and p.dtype == minidl.float32 for p in model.parameters())
    assert losses[-1] < 0.7 * losses[skipped]
