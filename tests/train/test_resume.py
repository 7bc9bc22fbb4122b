"""Acceptance: resuming from a checkpoint saved at epoch k gives bit-identical parameters to the run that
never stopped (NumPy backend, fixed seeds): shuffling, dropout, Adam state and the scheduler all continue."""

import numpy as np
import pytest
from train_helpers import ArrayLoader, blobs, mlp

import minidl
import minidl.nn as nn
from minidl.optim import lr_scheduler
from minidl.train import fit, load_checkpoint, save_checkpoint
from minidl.train.callbacks import LRSchedulerCallback, ModelCheckpoint

EPOCHS, K = 5, 2


def setup(seed):
    minidl.manual_seed(seed)  # the default generator drives dropout
    X, y = blobs(n=96)
    model = mlp(seed=seed, dropout=0.3)
    opt = minidl.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    loader = ArrayLoader(X, y, 16, generator=minidl.Generator(seed + 100))
    return model, opt, sched, loader, ArrayLoader(X[:32], y[:32], 32)


def test_resume_from_epoch_k_is_bit_identical(tmp_path):
    model, opt, sched, loader, val = setup(seed=0)
    full = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=EPOCHS, val_loader=val, scheduler=sched,
               callbacks=[ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz")], verbose=False)

    model2, opt2, sched2, loader2, val2 = setup(seed=7)  # different weights, shuffles and dropout masks
    ckpt = load_checkpoint(tmp_path / f"ckpt-{K}.npz", model2, opt2, sched2, loader=loader2)
    assert ckpt["epoch"] == K and ckpt["history"]["epoch"] == list(range(K))
    rest = fit(model2, nn.CrossEntropyLoss(), opt2, loader2, epochs=EPOCHS, val_loader=val2, scheduler=sched2,
               initial_epoch=ckpt["epoch"], verbose=False)

    for (name, p), q in zip(model.named_parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.array, q.array, err_msg=name)
    assert rest.epoch == full.epoch[K:]
    for key in full.keys():
        assert rest[key] == full[key][K:], key
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_save_and_load_checkpoint_round_trip(tmp_path):
    model, opt, sched, loader, _ = setup(seed=1)
    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, scheduler=sched, verbose=False)
    g = minidl.Generator(5)
    save_checkpoint(tmp_path / "c.npz", model, opt, sched, epoch=1, loader=loader, generators={"extra": g},
                    note="hello")
    draws = g.normal((3,))
    model2, opt2, sched2, loader2, _ = setup(seed=2)
    g.manual_seed(0)
    state = load_checkpoint(tmp_path / "c.npz", model2, opt2, sched2, loader=loader2, generators={"extra": g})
    assert state["note"] == "hello" and sched2.last_epoch == 1
    np.testing.assert_array_equal(g.normal((3,)), draws)
    np.testing.assert_array_equal(loader2.generator.permutation(10), loader.generator.permutation(10))


def test_mismatched_checkpoint_leaves_the_model_untouched(tmp_path):
    model, opt, sched, loader, _ = setup(seed=1)
    save_checkpoint(tmp_path / "c.npz", model, opt, sched, epoch=1)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    before = [p.array.copy() for p in other.parameters()]
    with pytest.raises(RuntimeError, match="shape"):
        load_checkpoint(tmp_path / "c.npz", other)
    for p, b in zip(other.parameters(), before):
        np.testing.assert_array_equal(p.array, b)


# ----------------------------------------------------------------------------- every scheduler route of fit
def _route(name, opt, steps_per_epoch):
    """The scheduler(s) of one route ``fit`` documents: ``(what load_checkpoint gets, fit kwargs, callbacks)``."""
    if name == "fit, per epoch":
        s = lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
        return s, {"scheduler": s}, []
    if name == "fit, plateau":
        s = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
        return s, {"scheduler": s}, []
    if name == "callback, per epoch":
        s = lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        return s, {}, [LRSchedulerCallback(s, "epoch")]
    if name == "callback, plateau":
        s = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
        return s, {}, [LRSchedulerCallback(s, "epoch", monitor="val_loss")]
    if name == "callback, per batch":
        s = lr_scheduler.OneCycleLR(opt, max_lr=0.05, epochs=EPOCHS, steps_per_epoch=steps_per_epoch)
        return s, {}, [LRSchedulerCallback(s, "step")]
    assert name == "fit per epoch and callback per batch"
    s1 = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    s2 = lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=10)
    return [s1, s2], {"scheduler": s1}, [LRSchedulerCallback(s2, "step")]


def _setup_route(route, seed):
    model, _, _, loader, val = setup(seed)
    opt = minidl.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
    sched, kwargs, sched_callbacks = _route(route, opt, len(loader))
    return model, opt, sched, kwargs, sched_callbacks, loader, val


@pytest.mark.parametrize("route", ["fit, per epoch", "fit, plateau", "callback, per epoch", "callback, plateau",
                                   "callback, per batch", "fit per epoch and callback per batch"])
def test_resume_is_bit_identical_for_every_scheduler_route(tmp_path, route):
    model, opt, sched, kwargs, sched_callbacks, loader, val = _setup_route(route, seed=0)
    # the checkpoint is listed *before* the scheduler's callback: it must still save the stepped scheduler
    full = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=EPOCHS, val_loader=val, verbose=False,
               callbacks=[ModelCheckpoint(tmp_path / "ckpt-{epoch}.npz"), *sched_callbacks], **kwargs)

    model2, opt2, sched2, kwargs2, sched_callbacks2, loader2, val2 = _setup_route(route, seed=7)
    ckpt = load_checkpoint(tmp_path / f"ckpt-{K}.npz", model2, opt2, sched2, loader=loader2)
    rest = fit(model2, nn.CrossEntropyLoss(), opt2, loader2, epochs=EPOCHS, val_loader=val2, verbose=False,
               callbacks=sched_callbacks2, initial_epoch=ckpt["epoch"], **kwargs2)

    for (name, p), q in zip(model.named_parameters(), model2.parameters()):
        assert np.array_equal(p.array, q.array), name
    assert rest["lr"] == full["lr"][K:] and rest["loss"] == full["loss"][K:]
    for s, s2 in zip(sched if isinstance(sched, list) else [sched], sched2 if isinstance(sched2, list) else [sched2]):
        assert s2.state_dict() == s.state_dict()


# ----------------------------------------------------------------------------- the best value survives a resume
def test_resumed_best_checkpoint_does_not_overwrite_a_better_best(tmp_path):
    def callbacks():
        return [ModelCheckpoint(tmp_path / "last.npz"),
                ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)]

    model, opt, sched, loader, val = setup(seed=0)
    first = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=K, val_loader=val, scheduler=sched,
                callbacks=callbacks(), verbose=False)
    best_file = (tmp_path / "best.npz").read_bytes()
    assert minidl.load(tmp_path / "best.npz")["epoch"] == 1 + int(np.argmin(first["val_loss"]))

    model2, opt2, sched2, loader2, _ = setup(seed=7)
    cbs = callbacks()
    load_checkpoint(tmp_path / "last.npz", model2, opt2, sched2, loader=loader2, callbacks=cbs)
    assert cbs[1].best == min(first["val_loss"])
    X, y = blobs(n=96)
    worse = ArrayLoader(X[:32], (y[:32] + 1) % 3, 32)  # wrong labels: every later val_loss is worse
    rest = fit(model2, nn.CrossEntropyLoss(), opt2, loader2, epochs=EPOCHS, val_loader=worse, scheduler=sched2,
               callbacks=cbs, initial_epoch=K, verbose=False)
    assert min(rest["val_loss"]) > min(first["val_loss"])
    assert (tmp_path / "best.npz").read_bytes() == best_file


# ----------------------------------------------------------------------------- all or nothing
def _snapshot(model, opt, sched, loader):
    return ([p.array.copy() for p in model.parameters()], repr(opt.state_dict()), sched.state_dict(),
            loader.generator.get_state(), minidl.random.default_generator().get_state())


@pytest.mark.parametrize("mismatch", ["optimizer over other parameters", "optimizer of another class",
                                      "scheduler of another class", "no scheduler in the file",
                                      "callback without saved state"])
def test_a_failed_load_changes_nothing(tmp_path, mismatch):
    model, opt, sched, loader, _ = setup(seed=1)
    fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, scheduler=sched, verbose=False)
    save_checkpoint(tmp_path / "c.npz", model, opt, None if mismatch == "no scheduler in the file" else sched,
                    epoch=1, loader=loader)

    model2, opt2, sched2, loader2, _ = setup(seed=2)
    extra = {}
    if mismatch == "optimizer over other parameters":
        opt2 = minidl.optim.AdamW(list(model2.parameters())[:2], lr=0.01)
    elif mismatch == "optimizer of another class":
        opt2 = minidl.optim.SGD(model2.parameters(), lr=0.01, momentum=0.9)
    elif mismatch == "scheduler of another class":
        sched2 = lr_scheduler.StepLR(opt2, step_size=2)
    elif mismatch == "callback without saved state":
        extra["callbacks"] = [ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)]
    minidl.manual_seed(123)
    before = _snapshot(model2, opt2, sched2, loader2)
    with pytest.raises(ValueError):
        load_checkpoint(tmp_path / "c.npz", model2, opt2, sched2, loader=loader2, **extra)
    after = _snapshot(model2, opt2, sched2, loader2)
    for b, a in zip(before[0], after[0]):
        assert np.array_equal(a, b)
    assert after[1:] == before[1:]
