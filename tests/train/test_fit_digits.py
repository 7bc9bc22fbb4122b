"""Acceptance: a small CNN trained with fit on sklearn's 8x8 digits reaches >= 95% validation accuracy,
and EarlyStopping puts the best epoch's weights back."""

import numpy as np
import pytest
from train_helpers import ArrayLoader

import minidl
import minidl.nn as nn
from minidl.train import evaluate, fit
from minidl.train.callbacks import EarlyStopping

datasets = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn (pip install 'minidl[data]')")


def test_small_cnn_on_digits_reaches_95_percent():
    X, y = datasets.load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    perm = np.random.default_rng(0).permutation(len(X))
    train, val = perm[:1437], perm[1437:]
    g = minidl.Generator(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, generator=g), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, generator=g), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10, generator=g),
    )
    optimizer = minidl.optim.Adam(model.parameters(), lr=3e-3)
    val_loader = ArrayLoader(X[val], y[val], 256)
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=0.01, restore_best_weights=True)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, ArrayLoader(X[train], y[train], 32, minidl.Generator(1)),
                  epochs=20, val_loader=val_loader, callbacks=[stopper], verbose=False)

    best = history.epoch.index(stopper.best_epoch)  # the last epoch that improved val_loss by > min_delta
    assert history["val_loss"][best] == pytest.approx(stopper.best)
    assert history["val_accuracy"][best] >= 0.95
    assert len(history) < 20 and stopper.best_epoch != history.epoch[-1]  # stopped early; restoring mattered
    # the model now holds the best epoch's weights: evaluating it reproduces that epoch's validation logs
    logs = evaluate(model, nn.CrossEntropyLoss(), val_loader)
    assert logs["accuracy"] == history["val_accuracy"][best] >= 0.95
    assert logs["loss"] == pytest.approx(history["val_loss"][best], rel=1e-6)
