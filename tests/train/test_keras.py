"""The Keras-style Sequential: compile/fit/evaluate/predict give what the PyTorch-style functions give."""

import numpy as np
import pytest
from train_helpers import ArrayLoader, blobs

import minidl
import minidl.nn as nn
from minidl.train import evaluate
from minidl.train.keras import Sequential


def model(seed=0):
    g = minidl.Generator(seed)
    return Sequential(nn.Linear(4, 16, generator=g), nn.ReLU(), nn.Linear(16, 3, generator=g))


def test_compile_fit_evaluate_predict():
    X, y = blobs(n=150)
    m = model()
    m.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], lr=0.02)
    assert len(m) == 3 and "loss" not in dict(m.named_modules())  # the loss is not a layer
    history = m.fit(X, y, epochs=15, batch_size=16, validation_split=0.2, verbose=False, seed=0)
    assert history.keys() == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert history["val_accuracy"][-1] >= 0.9
    logs = m.evaluate(X[120:], y[120:], batch_size=7)
    assert logs["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert logs == pytest.approx(evaluate(m, nn.CrossEntropyLoss(), ArrayLoader(X[120:], y[120:], 30)))
    out = m.predict(X, batch_size=64)
    assert out.shape == (150, 3)
    assert np.mean(out.array.argmax(1) == y) == pytest.approx(m.evaluate(X, y)["accuracy"])


def test_same_seed_same_run_and_optimizer_instances():
    X, y = blobs(n=64)
    runs = []
    for _ in range(2):
        m = model()
        m.compile(optimizer=minidl.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), loss=nn.CrossEntropyLoss())
        runs.append(m.fit(X, y, epochs=3, batch_size=10, verbose=False, seed=3)["loss"])
    assert runs[0] == runs[1]


def test_regression_losses_by_name_and_validation_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4)).astype(np.float32)
    Y = X[:, :1] - 2 * X[:, 1:2]
    m = Sequential(nn.Linear(4, 1, generator=minidl.Generator(0)))
    m.compile("sgd", loss="mse", metrics=["mae"], lr=0.1)
    h = m.fit(X, Y, epochs=30, batch_size=16, validation_data=(X[:20], Y[:20]), verbose=False, seed=0)
    assert h["val_loss"][-1] < 1e-3 and h["mae"][-1] < 0.05


def test_errors():
    m = model()
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 4), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="unknown optimizer"):
        m.compile(optimizer="lbfgs2")
    with pytest.raises(ValueError, match="unknown loss"):
        m.compile(loss="hinge")
