"""Every example program, shrunk to seconds: it runs end to end on real data and its metrics make sense.

An example whose data set is neither cached nor fetchable here is skipped, with the loader's reason.
The full-size runs and their results are in docs/examples.md.
"""

import math

import numpy as np
import pytest

from minidl.data import load_fashion_mnist, load_mnist, load_mnist1d, load_shakespeare
from minidl.data.cache import DataUnavailableError
from minidl.examples import EXAMPLES, char_gpt, char_lstm, lenet, mnist1d, regression, run, transfer


def needs(loader, *args):
    """Load a data set once (fetching it if need be), or skip the test saying why it cannot be had."""
    try:
        loader(*args)
    except DataUnavailableError as e:
        pytest.skip(f"data not available here: {e}")


@pytest.fixture(scope="module")
def shakespeare():
    needs(load_shakespeare)


def test_every_registered_example_is_a_module_with_main(monkeypatch, capsys):
    """The registry lists exactly the example modules; run(name, argv) calls that module's main with argv and
    returns what it returns; `python -m minidl.examples` lists them all, dispatches, and each --help names it."""
    import importlib
    import pkgutil

    import minidl.examples
    from minidl.examples.__main__ import main as cli

    on_disk = {m.name for m in pkgutil.iter_modules(minidl.examples.__path__)} - {"__main__"}
    assert set(EXAMPLES) == on_disk
    calls = []
    for name in EXAMPLES:
        module = importlib.import_module(f"minidl.examples.{name}")
        monkeypatch.setattr(module, "main", lambda argv, name=name: calls.append((name, argv)) or {"example": name})
        assert run(name, ["--epochs", "1"]) == {"example": name}
        assert run(name) == {"example": name}
        cli([name, "--x", "2"])
    assert calls == [c for name in EXAMPLES for c in ((name, ["--epochs", "1"]), (name, []), (name, ["--x", "2"]))]
    monkeypatch.undo()

    cli([])
    listing = capsys.readouterr().out
    for name, what in EXAMPLES.items():
        assert f"  {name:12s} {what}" in listing
    for name in EXAMPLES:  # argparse exits on --help before any data is loaded
        with pytest.raises(SystemExit) as exit_info:
            run(name, ["--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: python -m minidl.examples {name} ")
    with pytest.raises(SystemExit, match="unknown example 'no_such_example'; choose one of: " + ", ".join(EXAMPLES)):
        run("no_such_example")


def test_regression_learns_and_is_close_to_least_squares(capsys):
    pytest.importorskip("sklearn")
    metrics = regression.main(["--epochs", "30"])
    assert metrics["final_train_mse"] < 0.2 * metrics["first_train_mse"]
    # both well below the variance of the target (a constant prediction), and within 30% of each other
    assert metrics["test_mse"] < 0.7 * metrics["target_variance"]
    assert metrics["baseline_mse"] < 0.7 * metrics["target_variance"]
    assert abs(metrics["test_mse"] / metrics["baseline_mse"] - 1) < 0.3
    assert "least squares" in capsys.readouterr().out


def test_regression_baseline_is_the_least_squares_solution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3.0  # exactly linear: the closed form fits it perfectly
    assert regression.least_squares_mse(x, y, x[:10], y[:10]) < 1e-20


@pytest.mark.slow
def test_mnist1d_quick_beats_chance_and_orders_the_models(capsys):
    needs(load_mnist1d, "train")
    metrics = mnist1d.main(["--quick"])
    out = capsys.readouterr().out
    assert "paper" in out and "GRU" in out
    for name in ("linear", "mlp", "cnn", "gru"):
        assert metrics[f"{name}_last_loss"] < metrics[f"{name}_first_loss"], name
        assert metrics[f"{name}_test_accuracy"] > 0.2, name  # 10 classes: chance is 10%
    # the point of the paper, already visible after a few hundred steps: a CNN beats a linear model
    assert metrics["cnn_test_accuracy"] > metrics["linear_test_accuracy"] + 0.15


def test_mnist1d_rejects_unknown_models():
    with pytest.raises(SystemExit):
        mnist1d.main(["--models", "transformer"])


def test_lenet_learns_fashion_mnist_at_32x32(capsys):
    needs(load_fashion_mnist, "test")
    metrics = lenet.main(["--limit", "3000", "--test-limit", "500", "--epochs", "1"])
    assert "3 channels" in capsys.readouterr().out
    assert metrics["last_loss"] < metrics["first_loss"]
    assert metrics["test_accuracy"] > 0.4  # 10% is chance; ~65% after 750 steps of batch 4


def test_lenet_cifar_root_feeds_the_seed_network(monkeypatch, tmp_path, capsys):
    """--cifar-root reads CIFAR-10 (here: a stand-in of random 3x32x32 images) into the unchanged network."""
    calls = []

    def fake_cifar(split, root):
        calls.append((split, root))
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 40)

    monkeypatch.setattr(lenet, "load_cifar10", fake_cifar)
    metrics = lenet.main(["--cifar-root", str(tmp_path), "--epochs", "1", "--batch-size", "8"])
    assert calls == [("train", str(tmp_path)), ("test", str(tmp_path))]
    assert "CIFAR-10: 40 training" in capsys.readouterr().out
    assert 0.0 <= metrics["test_accuracy"] <= 1.0


def test_char_lstm_loss_falls_and_it_samples(shakespeare, capsys):
    metrics = char_lstm.main(["--max-steps", "40", "--time-budget", "60", "--embed", "32", "--hidden", "64",
                              "--block-size", "32", "--val-batches", "4", "--sample-length", "30"])
    assert metrics["steps"] == 40
    assert metrics["initial_val_bpc"] == pytest.approx(math.log2(84), abs=0.2)  # an untrained model: uniform
    assert metrics["val_bpc"] < metrics["initial_val_bpc"] - 1.0
    assert metrics["sample"].startswith("ROMEO:\n") and len(metrics["sample"]) == len("ROMEO:\n") + 30
    assert "bits/char" in capsys.readouterr().out


def test_char_gpt_loss_falls_and_it_samples(shakespeare, capsys):
    metrics = char_gpt.main(["--max-steps", "40", "--time-budget", "60", "--n-layer", "1", "--n-embd", "32",
                             "--block-size", "32", "--val-batches", "4", "--sample-length", "30", "--lr", "3e-3"])
    assert metrics["steps"] == 40
    assert metrics["initial_val_bpc"] == pytest.approx(math.log2(84), abs=0.2)
    assert metrics["val_bpc"] < metrics["initial_val_bpc"] - 1.0
    assert metrics["sample"].startswith("ROMEO:\n") and len(metrics["sample"]) == len("ROMEO:\n") + 30
    assert "bits/char" in capsys.readouterr().out


@pytest.mark.slow
def test_transfer_runs_all_four_variants(capsys):
    needs(load_fashion_mnist, "test")
    needs(load_mnist, "test")
    metrics = transfer.main(["--pretrain-images", "1000", "--pretrain-epochs", "1", "--shots", "5",
                             "--max-epochs", "3"])
    out = capsys.readouterr().out
    assert "pretrained backbone, frozen" in out and "random backbone, trained" in out
    assert metrics["fashion_accuracy"] > 0.15  # 10 classes; 16 steps of pretraining only
    for key in ("pretrained_frozen", "random_frozen", "random_trained", "pretrained_trained"):
        assert 0.3 < metrics[f"{key}_accuracy"] <= 1.0, key  # two classes: chance is ~50%


def test_transfer_freezing_leaves_the_backbone_untouched(monkeypatch):
    """The point of requires_grad_(False): training the head does not move a single backbone weight."""
    needs(load_mnist, "test")
    import minidl

    minidl.manual_seed(0)
    backbone = transfer.make_backbone()
    before = {k: v.numpy().copy() for k, v in backbone.state_dict().items()}
    data = transfer.binary_task(4, 0)
    trained_copy = {}

    real_fit = transfer.fit

    def spy_fit(model, *args, **kwargs):
        history = real_fit(model, *args, **kwargs)
        trained_copy.update({k: v.numpy().copy() for k, v in model[0].state_dict().items()})
        return history

    monkeypatch.setattr(transfer, "fit", spy_fit)
    transfer.train_head(backbone, True, data, 0, 2)
    assert trained_copy.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(trained_copy[key], before[key])
