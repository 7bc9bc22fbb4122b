"""Acceptance: resuming from a checkpoint saved at epoch k gives bit-identical parameters to the run that
never stopped (NumPy backend, fixed seeds): shuffling, dropout, Adam state and the scheduler all continue."""

import numpy as np
import pytest
from train_helpers import ArrayLoader, blobs, mlp

import minidl
import minidl.nn as nn
from minidl.optim import lr_scheduler
from minidl.train import fit, load_checkpoint, save_checkpoint
from minidl.train.callbacks import ModelCheckpoint

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
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
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
    before = [p.data.copy() for p in other.parameters()]
    with pytest.raises(RuntimeError, match="shape"):
        load_checkpoint(tmp_path / "c.npz", other)
    for p, b in zip(other.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
