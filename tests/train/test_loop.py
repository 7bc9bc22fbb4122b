"""fit / evaluate / predict / History against hand-written loops and direct computations."""

import io

import numpy as np
import pytest
from train_helpers import ArrayLoader, blobs, mlp

import minidl
import minidl.nn as nn
from minidl.optim import lr_scheduler
from minidl.train import History, evaluate, fit, predict
from minidl.train.callbacks import Callback, LRSchedulerCallback


def test_one_epoch_equals_the_hand_written_loop():
    X, y = blobs()
    model_a, model_b = mlp(), mlp()
    opt_a = minidl.optim.SGD(model_a.parameters(), lr=0.1, momentum=0.9)
    opt_b = minidl.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9)
    fit(model_a, nn.CrossEntropyLoss(), opt_a, ArrayLoader(X, y, 32), epochs=2, verbose=False)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):
        for xb, yb in ArrayLoader(X, y, 32):
            loss = loss_fn(model_b(minidl.tensor(xb)), minidl.tensor(yb))
            opt_b.zero_grad()
            loss.backward()
            opt_b.step()
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(p.array, q.array)


def test_epoch_logs_are_exact_means_over_uneven_batches():
    X, y = blobs(n=100)  # batches of 32, 32, 32, 4
    model = mlp()
    opt = minidl.optim.SGD(model.parameters(), lr=0.0)  # nothing moves: logs equal one pass over the data
    history = fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 32), epochs=2,
                  val_loader=ArrayLoader(X[:50], y[:50], 7), metrics=["accuracy", "top2_accuracy"], verbose=False)
    with minidl.no_grad():
        logits = model(minidl.tensor(X)).array.astype(np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    nll = -logp[np.arange(100), y]
    assert history["loss"] == pytest.approx([nll.mean()] * 2, rel=1e-5)
    assert history["val_loss"][0] == pytest.approx(nll[:50].mean(), rel=1e-5)
    assert history["accuracy"][0] == np.mean(logits.argmax(1) == y)
    top2 = np.argsort(-logits, 1)[:, :2]
    assert history["top2_accuracy"][0] == np.mean((top2 == y[:, None]).any(1))
    assert history["val_accuracy"][0] == np.mean(logits[:50].argmax(1) == y[:50])
    assert history.keys() == ["loss", "accuracy", "top2_accuracy", "val_loss", "val_accuracy", "val_top2_accuracy",
                              "lr"]
    assert history.epoch == [0, 1] and len(history) == 2


def test_train_and_eval_modes_and_no_graph_in_evaluation():
    modes = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = mlp()

        def forward(self, x):
            out = self.inner(x)
            modes.append((self.training, out.requires_grad, x.dtype))
            return out

    X, y = blobs(n=40)
    model = Spy()
    fit(model, nn.CrossEntropyLoss(), minidl.optim.Adam(model.parameters()), ArrayLoader(X.astype(np.float64), y, 20),
        epochs=1, val_loader=ArrayLoader(X, y, 40), verbose=False)
    assert modes == [(True, True, np.float32)] * 2 + [(False, False, np.float32)]  # float64 input cast to float32
    model.eval()
    evaluate(model, None, ArrayLoader(X, y, 40))
    assert model.training is False  # evaluate restores the previous mode
    model.train()
    out = predict(model, X, batch_size=16)
    assert model.training is True and not out.requires_grad


def test_predict_concatenates_batches():
    X, y = blobs(n=50)
    model = mlp(dropout=0.5)  # eval mode: dropout off, so batched and whole predictions agree
    whole = predict(model, minidl.tensor(X))
    np.testing.assert_allclose(predict(model, X, batch_size=16).array, whole.array, rtol=1e-6)
    np.testing.assert_allclose(predict(model, ArrayLoader(X, y, 13)).array, whole.array, rtol=1e-6)
    assert whole.shape == (50, 3)


def test_evaluate_matches_direct_computation():
    X, y = blobs(n=64)
    model = mlp()
    logs = evaluate(model, nn.CrossEntropyLoss(), ArrayLoader(X, y, 10), metrics=["accuracy"])
    with minidl.no_grad():
        out = model(minidl.tensor(X))
        loss = nn.CrossEntropyLoss()(out, minidl.tensor(y)).item()
    assert logs == {"loss": pytest.approx(loss, rel=1e-5), "accuracy": np.mean(out.array.argmax(1) == y)}


def test_regression_with_mse_and_function_metric():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    Y = (X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3)
    model = nn.Linear(3, 1, generator=minidl.Generator(0))

    def max_error(output, target):
        return float(np.abs(output - target).max())

    history = fit(model, nn.MSELoss(), minidl.optim.Adam(model.parameters(), lr=0.05), ArrayLoader(X, Y, 16),
                  epochs=60, metrics=["mse", "mae", max_error], verbose=False)
    assert history["mse"][-1] < 1e-3 and history["mae"][-1] < 0.03
    assert history["loss"][-1] == pytest.approx(history["mse"][-1], rel=1e-4)
    assert history["max_error"][0] > history["max_error"][-1]


def test_scheduler_per_epoch_and_per_step():
    X, y = blobs(n=64)
    model = mlp()
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 16), epochs=5, scheduler=sched,
                  verbose=False)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    one_cycle = lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=3, steps_per_epoch=4)
    used = []

    class Record(Callback):
        def on_batch_end(self, state, batch, logs):
            used.append(state.optimizer.param_groups[0]["lr"])

    fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 16), epochs=3, verbose=False,
        callbacks=[Record(), LRSchedulerCallback(one_cycle, interval="step")])
    assert one_cycle.last_epoch == 12 and len(used) == 12
    assert used[0] == pytest.approx(0.2 / 25) and max(used) == pytest.approx(0.2, rel=0.05)
    assert used[-1] == pytest.approx(0.2 / 25 / 1e4)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    opt.param_groups[0]["lr"] = 0.0  # nothing improves after the first epoch
    fit(model, nn.CrossEntropyLoss(), opt, ArrayLoader(X, y, 16), epochs=2, val_loader=ArrayLoader(X, y, 64),
        scheduler=plateau, verbose=False)
    assert plateau.best == pytest.approx(evaluate(model, nn.CrossEntropyLoss(), ArrayLoader(X, y, 64))["loss"])


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_one_line_per_epoch_when_not_a_terminal(capsys):
    X, y = blobs(n=64)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), minidl.optim.SGD(model.parameters(), lr=0.1), ArrayLoader(X, y, 16),
        epochs=3, val_loader=ArrayLoader(X, y, 64))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"Epoch {i + 1}/3: 4 steps, ") and " steps/s, " in line
        assert all(f" {key} " in line for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"))
    fit(model, nn.CrossEntropyLoss(), minidl.optim.SGD(model.parameters(), lr=0.1), ArrayLoader(X, y, 16),
        epochs=2, verbose=False)
    assert capsys.readouterr().out == ""


def test_progress_bar_in_a_terminal(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr("sys.stdout", tty)
    X, y = blobs(n=64)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), minidl.optim.SGD(model.parameters(), lr=0.1), ArrayLoader(X, y, 16), epochs=2)
    text = tty.getvalue()
    assert "Epoch 1/3" not in text and "Epoch 2/2" in text and "4/4" in text and "step/s" in text and "\r" in text


def test_history_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    h = History()
    for e in range(3):
        h.append(e, {"loss": 1.0 / (e + 1), "accuracy": 0.5 + 0.1 * e, "val_loss": 1.2 / (e + 1), "lr": 0.1})
    path = h.plot(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        h.plot(tmp_path / "again.png")


def test_history_fills_keys_that_appear_late():
    h = History()
    h.append(0, {"loss": 1.0})
    h.append(1, {"loss": 0.5, "val_loss": 0.7})
    assert np.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.7
    h2 = History()
    h2.load_state_dict(h.state_dict())
    assert h2.epoch == [0, 1] and h2["loss"] == [1.0, 0.5]


def test_clear_errors():
    X, y = blobs(n=16)
    model = mlp()
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, nn.CrossEntropyLoss(), opt, [], epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        fit(model, nn.CrossEntropyLoss(), opt, [X], epochs=1, verbose=False)
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, nn.CrossEntropyLoss(), opt, [(X, y)], epochs=1, metrics=["f1"], verbose=False)
