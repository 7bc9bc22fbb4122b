"""The results table of "Scaling down deep learning with MNIST-1D" (Greydanus & Kobak, ICML 2024).

MNIST-1D turns the ten digits into 1-D templates, then pads, shifts, scales, shears and noises them into
40-sample signals: 4000 for training, 1000 for testing. A linear model cannot read a digit that may sit
anywhere in the signal; a CNN or a GRU, which share weights across positions, can. The paper's table
(test accuracy) makes that point with four tiny models:

    logistic regression 32%    MLP 68%    CNN 94%    GRU 91%

The models and the training loop follow the mnist1d repository (``notebooks/models.py`` and
``notebooks/train.py``):
  * logistic regression: Linear(40, 10)
  * MLP: Linear(40, 100), ReLU, a residual Linear(100, 100) + ReLU, Linear(100, 10)
  * CNN: three Conv1d (25 channels; kernels 5, 3, 3; stride 2, padding 1) with ReLU, Linear(125, 10)
  * GRU: bidirectional, hidden size 6, over the 40 samples; all 40 outputs flattened, Linear(480, 10)
Each is trained with Adam (lr 0.01), cross-entropy, batches of 100 taken in order (no shuffling),
for 6000 steps, seed 42. We report the test accuracy at the end of training.

Expected (measured here, ~100 s on one CPU core): 31.3%, 63.2%, 92.9%, 91.1% (one run each; they move
by ~2 points between versions of minidl). The repository's own PyTorch notebook gets 31.5%, 65.1%,
92.3%, 89.1%: the MLP lands under the paper's figure there too.

    python -m minidl.examples mnist1d [--steps 6000] [--models linear,mlp,cnn,gru] [--quick]
"""

from __future__ import annotations

import math

import numpy as np

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.data import load_mnist1d
from minidl.examples.common import Budget, parser
from minidl.train import fit

PAPER = {"linear": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}
NAMES = {"linear": "logistic regression", "mlp": "MLP", "cnn": "CNN", "gru": "GRU"}


class MLP(nn.Module):
    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.linear1 = nn.Linear(40, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, 10)

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        h = self.linear1(x).relu()
        h = h + self.linear2(h).relu()  # a residual connection, as in the paper's MLPBase
        return self.linear3(h)


class CNN(nn.Module):
    def __init__(self, channels: int = 25) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)         # 40 -> 19
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)  # 19 -> 10
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)  # 10 -> 5
        self.linear = nn.Linear(channels * 5, 10)

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        h = x.reshape(x.shape[0], 1, x.shape[1])  # (B, 40) -> (B, 1 channel, 40)
        h = self.conv3(self.conv2(self.conv1(h).relu()).relu()).relu()
        return self.linear(h.flatten(1))


class GRUClassifier(nn.Module):
    def __init__(self, hidden: int = 6, steps: int = 40) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * hidden * steps, 10)

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        output, _ = self.gru(x.reshape(x.shape[0], x.shape[1], 1))  # (B, 40, 1) -> (B, 40, 2 * hidden)
        return self.linear(output.flatten(1))


def build(name: str) -> nn.Module:
    return {"linear": lambda: nn.Linear(40, 10), "mlp": MLP, "cnn": CNN, "gru": GRUClassifier}[name]()


@minidl.no_grad()
def accuracy(model: nn.Module, x: minidl.Tensor, y: np.ndarray) -> float:
    return float((model(x).argmax(1).numpy() == y).mean())


class Report(Budget):
    """Ends training after ``steps`` steps; prints the loss and both accuracies ``reports`` times on the way."""

    def __init__(self, steps: int, data: tuple, reports: int = 6) -> None:
        super().__init__(steps=steps)
        self.data, self.every, self.losses = data, max(1, steps // reports), []

    def on_batch_end(self, state, batch: int, logs: dict[str, float]) -> None:
        super().on_batch_end(state, batch, logs)
        self.losses.append(logs["loss"])
        if self.step % self.every == 0 or self.step == self.max_steps:
            xs, y_train, x_test, y_test = self.data
            train_acc, test_acc = accuracy(state.model, xs, y_train), accuracy(state.model, x_test, y_test)
            print(f"  step {self.step:5d}: loss {logs['loss']:.4f}, train acc {train_acc:.3f}, "
                  f"test acc {test_acc:.3f} ({self.seconds:.1f} s)", flush=True)


def train(name: str, data: tuple[np.ndarray, ...], steps: int, lr: float, batch_size: int, seed: int) -> dict:
    x_train, y_train, x_test, y_test = data
    minidl.manual_seed(seed)
    model = build(name)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    xs, ys, x_test_t = minidl.tensor(x_train), minidl.tensor(y_train), minidl.tensor(x_test)
    print(f"{NAMES[name]}: {model.num_parameters():,} parameters", flush=True)
    # batches in order, as the paper's train.py; fit's epochs run through them until the step budget ends it
    batches = [(xs[i:i + batch_size], ys[i:i + batch_size]) for i in range(0, len(x_train), batch_size)]
    report = Report(steps, (xs, y_train, x_test_t, y_test))
    fit(model, nn.CrossEntropyLoss(), optimizer, batches, math.ceil(steps / len(batches)), metrics=(),
        callbacks=[report], verbose=False)
    return {"test_accuracy": accuracy(model, x_test_t, y_test), "first_loss": report.losses[0],
            "last_loss": report.losses[-1], "seconds": report.seconds}


def main(argv: list[str] | None = None) -> dict[str, float]:
    cli = parser("mnist1d", __doc__)
    cli.add_argument("--steps", type=int, default=6000)
    cli.add_argument("--models", default="linear,mlp,cnn,gru", help="comma-separated subset of the table's rows")
    cli.add_argument("--lr", type=float, default=1e-2)
    cli.add_argument("--batch-size", type=int, default=100)
    cli.add_argument("--seed", type=int, default=42)
    cli.add_argument("--quick", action="store_true", help="200 steps per model (smoke tests; lower accuracies)")
    args = cli.parse_args(argv)
    steps = 200 if args.quick else args.steps
    names = [n.strip() for n in args.models.split(",")]
    if unknown := set(names) - set(PAPER):
        cli.error(f"unknown models {sorted(unknown)}; choose from {', '.join(PAPER)}")

    (x_train, y_train), (x_test, y_test) = load_mnist1d("train"), load_mnist1d("test")
    print(f"MNIST-1D: {len(x_train)} training and {len(x_test)} test signals of length {x_train.shape[1]}; "
          f"{steps} steps of {args.batch_size} per model")
    results = {name: train(name, (x_train, y_train, x_test, y_test), steps, args.lr, args.batch_size, args.seed)
               for name in names}

    print(f"\n{'model':<20} {'minidl':>8} {'paper':>8} {'time':>8}")
    for name, r in results.items():
        print(f"{NAMES[name]:<20} {r['test_accuracy']:8.1%} {PAPER[name]:8.0%} {r['seconds']:7.1f}s")
    metrics = {f"{name}_test_accuracy": r["test_accuracy"] for name, r in results.items()}
    for key in ("first_loss", "last_loss", "seconds"):
        metrics |= {f"{name}_{key}": r[key] for name, r in results.items()}
    return metrics


if __name__ == "__main__":
    main()
