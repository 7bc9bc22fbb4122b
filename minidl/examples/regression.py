"""The seed's dense regression, on scikit-learn's bundled diabetes data, beside closed-form least squares.

    standardised inputs (10) -> Dense(64, ReLU) -> Dense(1), mean squared error, Adam

The diabetes data (442 patients, 10 measurements such as age, BMI and blood pressure; the target is a
measure of disease progression one year later, 25..346) ships with scikit-learn, so nothing is
downloaded. We hold out 20% of the patients (a seeded shuffle), standardise the inputs with the
training set's mean and standard deviation, and train the network on mini-batches.

The baseline is ordinary least squares, solved in closed form by ``numpy.linalg.lstsq``: on this
small, nearly linear data set a one-hidden-layer network should come close to it, not beat it by
much. Expected: both test MSEs near 2,830 (RMSE ~53, on a target whose standard deviation is 77).

    python -m minidl.examples regression [--epochs 100] [--hidden 64] [--lr 0.01]
"""

from __future__ import annotations

import time

import numpy as np

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.data import DataLoader, TensorDataset
from minidl.examples.common import parser
from minidl.train import fit


def load_diabetes_split(test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) as float32, inputs standardised with the training statistics."""
    from sklearn.datasets import load_diabetes  # bundled with scikit-learn: offline

    x, y = load_diabetes(return_X_y=True, scaled=False)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    x = (x - mean) / std  # the test set is scaled with the *training* statistics: no peeking
    return (x[train].astype(np.float32), y[train].astype(np.float32),
            x[test].astype(np.float32), y[test].astype(np.float32))


def least_squares_mse(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test MSE of the closed-form linear fit y = [x, 1] @ w (minimising the training squared error)."""
    def design(x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    w, *_ = np.linalg.lstsq(design(x_train), y_train.astype(np.float64), rcond=None)
    return float(np.mean((design(x_test) @ w - y_test) ** 2))


def main(argv: list[str] | None = None) -> dict[str, float]:
    cli = parser("regression", __doc__)
    cli.add_argument("--epochs", type=int, default=100)
    cli.add_argument("--hidden", type=int, default=64)
    cli.add_argument("--batch-size", type=int, default=32)
    cli.add_argument("--lr", type=float, default=1e-2)
    cli.add_argument("--test-fraction", type=float, default=0.2)
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args(argv)

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = load_diabetes_split(args.test_fraction, args.seed)
    print(f"diabetes: {len(x_train)} training and {len(x_test)} test patients, {x_train.shape[1]} inputs")

    minidl.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(x_train.shape[1], args.hidden), nn.ReLU(), nn.Linear(args.hidden, 1))
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    train_set = TensorDataset(minidl.tensor(x_train), minidl.tensor(y_train[:, None]))
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=minidl.Generator(args.seed))
    test_loader = [(minidl.tensor(x_test), minidl.tensor(y_test[:, None]))]  # one batch: all test patients

    history = fit(model, nn.MSELoss(), optimizer, loader, args.epochs, val_loader=test_loader, metrics=(),
                  verbose=False)  # logs per epoch: loss (the training MSE) and val_loss (the test MSE)
    for epoch, train_mse, test_mse in zip(history.epoch, history["loss"], history["val_loss"]):
        if epoch == 0 or (epoch + 1) % max(1, args.epochs // 10) == 0 or epoch + 1 == args.epochs:
            print(f"epoch {epoch + 1:4d}/{args.epochs}: train MSE {train_mse:9.1f}, test MSE {test_mse:9.1f}")

    network_mse = history["val_loss"][-1]
    baseline_mse = least_squares_mse(x_train, y_train, x_test, y_test)
    seconds = time.perf_counter() - t0
    print(f"test MSE: network {network_mse:.1f} (RMSE {network_mse ** 0.5:.1f}), "
          f"least squares {baseline_mse:.1f} (RMSE {baseline_mse ** 0.5:.1f}); "
          f"target variance {np.var(y_test):.1f}; {seconds:.1f} s")
    return {"test_mse": network_mse, "baseline_mse": baseline_mse, "first_train_mse": history["loss"][0],
            "final_train_mse": history["loss"][-1], "target_variance": float(np.var(y_test)), "seconds": seconds}


if __name__ == "__main__":
    main()
