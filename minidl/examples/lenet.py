"""The seed's PyTorch LeNet (the CIFAR-10 tutorial's network), run here on Fashion-MNIST at 32x32.

    Conv(3->6, 5x5), ReLU, MaxPool 2 -> Conv(6->16, 5x5), ReLU, MaxPool 2 -> Flatten (16*5*5)
    -> Linear 120, ReLU -> Linear 84, ReLU -> Linear 10
    SGD(lr=0.001, momentum=0.9), cross-entropy, batches of 4, 2 epochs; inputs scaled to [-1, 1].

The seed trains it on CIFAR-10 (3x32x32 colour images), which cannot be downloaded here. So by default
we feed it Fashion-MNIST (the Debian package ``dataset-fashion-mnist``): each 28x28 grey image is padded
with 2 black pixels on every side to 32x32 and **repeated into 3 identical channels**. That choice keeps
the seed's network exactly as it is (``Conv2d(3, 6, 5)``), so the same code runs on CIFAR-10 unchanged;
``--channels 1`` uses a one-channel first layer instead (a little faster).

Expected: about 86% test accuracy on Fashion-MNIST after the seed's 2 epochs, in ~2 minutes on one CPU core
(the seed reports ~55% on CIFAR-10, a much harder task). With CIFAR-10's binary version at hand
(``cifar-10-batches-bin`` or its tarball), add ``--cifar-root DIR``:

    python -m minidl.examples lenet [--epochs 2] [--batch-size 4] [--limit N] [--cifar-root DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import optim
from minidl.data import DataLoader, TensorDataset, load_cifar10, load_fashion_mnist
from minidl.data import transforms as T


class LeNet(nn.Module):
    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: minidl.Tensor) -> minidl.Tensor:
        x = self.pool(F.relu(self.conv1(x)))  # (B, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (B, 16, 5, 5)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def datasets(cifar_root: str | None, channels: int) -> tuple[TensorDataset, TensorDataset, str]:
    """Training and test sets of (float32 (C, 32, 32) in [-1, 1], label), transformed batch by batch."""
    if cifar_root:
        (train_x, train_y), (test_x, test_y) = load_cifar10("train", cifar_root), load_cifar10("test", cifar_root)
        steps, name = [T.ToFloat(), T.Normalize(0.5, 0.5)], "CIFAR-10"
    else:
        (train_x, train_y), (test_x, test_y) = load_fashion_mnist("train"), load_fashion_mnist("test")
        train_x, test_x = train_x[:, None], test_x[:, None]  # (N, 1, 28, 28)
        steps = [T.Pad(2), T.ToFloat(), T.Normalize(0.5, 0.5)]  # 28x28 -> 32x32, then [0, 255] -> [-1, 1]
        if channels == 3:
            steps.append(lambda x: np.repeat(x, 3, axis=1))  # grey -> 3 equal channels, the seed's input shape
        name = f"Fashion-MNIST (32x32, {channels} channel{'s' if channels > 1 else ''})"
    transform = T.Compose(steps)
    return (TensorDataset(train_x, train_y, transform=transform), TensorDataset(test_x, test_y, transform=transform),
            name)


@minidl.no_grad()
def accuracy(model: nn.Module, loader: DataLoader) -> float:
    correct = total = 0
    for x, y in loader:
        correct += int((model(x).argmax(1) == y).sum().item())
        total += len(y)
    return correct / total


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m minidl.examples lenet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3, help="input channels for Fashion-MNIST")
    parser.add_argument("--cifar-root", default=None, help="a folder holding CIFAR-10's binary version")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke tests)")
    parser.add_argument("--test-limit", type=int, default=None, help="test on the first N images only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    train_set, test_set, name = datasets(args.cifar_root, 3 if args.cifar_root else args.channels)
    if args.limit:
        train_set = TensorDataset(*(a[: args.limit] for a in train_set.arrays), transform=train_set.transform)
    if args.test_limit:
        test_set = TensorDataset(*(a[: args.test_limit] for a in test_set.arrays), transform=test_set.transform)
    print(f"{name}: {len(train_set)} training and {len(test_set)} test images")

    minidl.manual_seed(args.seed)
    model = LeNet(3 if args.cifar_root else args.channels)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              generator=minidl.Generator(args.seed))
    test_loader = DataLoader(test_set, batch_size=1000)
    print(f"{model.num_parameters():,} parameters")

    t_train, losses = time.perf_counter(), []
    report_every = max(1, len(train_loader) // 5)
    for epoch in range(1, args.epochs + 1):
        running = 0.0
        for i, (x, y) in enumerate(train_loader, 1):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item()
            if i % report_every == 0:  # the seed prints the mean loss of every 2000 mini-batches
                losses.append(running / report_every)
                print(f"[epoch {epoch}, batch {i:5d}] loss {losses[-1]:.3f} ({time.perf_counter() - t_train:.0f} s)",
                      flush=True)
                running = 0.0
    train_seconds = time.perf_counter() - t_train
    model.eval()
    test_accuracy = accuracy(model, test_loader)
    print(f"test accuracy: {test_accuracy:.4f} after {args.epochs} epochs "
          f"({train_seconds:.1f} s training, {time.perf_counter() - t0:.1f} s in all)")
    return {"test_accuracy": test_accuracy, "first_loss": losses[0] if losses else float("nan"),
            "last_loss": losses[-1] if losses else float("nan"), "train_seconds": train_seconds}


if __name__ == "__main__":
    main()
