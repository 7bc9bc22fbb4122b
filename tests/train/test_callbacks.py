"""Callbacks driven by scripted logs (exact decisions) and inside real fit runs."""

import csv
import math

import numpy as np
import pytest
from train_helpers import ArrayLoader, blobs, mlp

import minidl
import minidl.nn as nn
from minidl.train import FitState, fit
from minidl.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnNaN


def drive(callback, values, key="val_loss", model=None):
    """Feed one logged value per epoch; returns the state and the epoch where training stopped (or None)."""
    state = FitState(model or mlp(), None)
    callback.on_train_begin(state)
    for epoch, value in enumerate(values):
        state.epoch = epoch
        callback.on_epoch_end(state, {key: value})
        if state.stop_training:
            return state, epoch
    return state, None


@pytest.mark.parametrize("values, patience, min_delta, stop", [
    ([1.0, 0.9, 0.95, 0.96, 0.8], 1, 0.0, 3),      # two epochs without improvement
    ([1.0, 0.9, 0.95, 0.96, 0.8], 2, 0.0, None),   # patience 2: 0.8 comes in time
    ([1.0, 0.95, 0.945, 0.9], 1, 0.06, 2),         # improvements smaller than min_delta do not count
    ([1.0, math.nan, math.nan], 1, 0.0, 2),        # NaN never improves
])
def test_early_stopping_decisions(values, patience, min_delta, stop):
    _, stopped = drive(EarlyStopping(patience=patience, min_delta=min_delta), values)
    assert stopped == stop


def test_early_stopping_mode_auto_maximises_accuracy():
    es = EarlyStopping(monitor="val_accuracy", patience=0)
    _, stopped = drive(es, [0.5, 0.7, 0.6], key="val_accuracy")
    assert es.mode == "max" and stopped == 2 and es.best == 0.7 and es.best_epoch == 1
    with pytest.raises(KeyError, match="val_loader"):
        drive(EarlyStopping(), [0.1], key="loss")


def test_restore_best_weights_in_place():
    model = mlp()
    weight = model[0].weight
    array = weight.array
    es = EarlyStopping(patience=0, restore_best_weights=True)
    state = FitState(model, None)
    es.on_train_begin(state)
    es.on_epoch_end(state, {"val_loss": 1.0})
    best = array.copy()
    weight.array[...] += 1.0  # "training" changes the weights in place
    state.epoch = 1
    es.on_epoch_end(state, {"val_loss": 2.0})
    es.on_train_end(state)
    assert state.stop_training and weight.array is array
    np.testing.assert_array_equal(weight.array, best)


def test_model_checkpoint_best_and_last(tmp_path):
    model = mlp()
    best = ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="val_loss", save_best_only=True)
    last = ModelCheckpoint(tmp_path / "last.npz", save_weights_only=True)
    for cb, values in ((best, [1.0, 0.5, 0.7, 0.4]), (last, [1.0, 0.5, 0.7, 0.4])):
        drive(cb, values, model=model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.npz", "best-2.npz", "best-4.npz", "last.npz"]
    ckpt = minidl.load(tmp_path / "best-4.npz")
    assert ckpt["epoch"] == 4 and set(ckpt) >= {"model", "rng", "history"}
    weights = minidl.load(tmp_path / "last.npz")
    assert list(weights) == list(model.state_dict())
    np.testing.assert_array_equal(weights["0.weight"].array, model[0].weight.array)


def test_model_checkpoint_initial_value_threshold(tmp_path):
    """Keras's ``initial_value_threshold``: only values better than it are saved (in the monitor's direction)."""
    low = ModelCheckpoint(tmp_path / "loss-{epoch}.npz", save_best_only=True, initial_value_threshold=0.6)
    drive(low, [1.0, 0.5, 0.7, 0.4])
    high = ModelCheckpoint(tmp_path / "acc-{epoch}.npz", monitor="val_accuracy", save_best_only=True,
                           initial_value_threshold=0.9)
    drive(high, [0.5, 0.95, 0.92], key="val_accuracy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc-2.npz", "loss-2.npz", "loss-4.npz"]
    saved = minidl.load(tmp_path / "loss-4.npz")["callbacks"]
    assert saved == {low.state_key: {"monitor": "val_loss", "mode": "min", "best": 0.4}}


def test_csv_logger_writes_and_appends(tmp_path):
    X, y = blobs(n=48)
    model = mlp()
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "log.csv"
    h1 = fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 16), epochs=2, callbacks=[CSVLogger(path)],
             verbose=False)
    h2 = fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 16), epochs=3, initial_epoch=2,
             callbacks=[CSVLogger(path, append=True)], verbose=False)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [float(r["loss"]) for r in rows] == h1["loss"] + h2["loss"]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "lr"]


def test_terminate_on_nan_stops_at_the_bad_batch():
    X, y = blobs(n=64)
    model = mlp()
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        loss = nn.functional.cross_entropy(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    history = fit(model, loss_fn, minidl.optim.SGD(model.parameters(), lr=0.1), ArrayLoader(X, y, 16), epochs=5,
                  callbacks=[TerminateOnNaN()], verbose=False)
    assert len(calls) == 3 and len(history) == 1 and math.isnan(history["loss"][0])
