"""Transfer learning, the seed's recipe: reuse a pretrained CNN backbone, frozen, under a new sigmoid head.

1. Pretrain a small CNN on a big task: the 10 clothing classes of Fashion-MNIST.
       backbone: Conv(1->16, 3x3) ReLU MaxPool 2 -> Conv(16->32, 3x3) ReLU MaxPool 2 -> Conv(32->64, 3x3) ReLU
       pretraining head: global average pooling -> Linear(64, 10); Adam, cross-entropy
2. Freeze the backbone (``backbone.requires_grad_(False)``: no gradients, so the optimizer only sees the
   head) and put a new head on it, as in Keras' ``base_model.trainable = False``:
       global average pooling -> Linear(64, 1) -> Sigmoid
3. Train the head on a *small* binary task from another data set: MNIST's handwritten 3 vs 8, with only
   ``--shots`` examples of each digit, binary cross-entropy, Adam, and ``EarlyStopping`` on the
   validation loss (another ``--shots`` per digit) that restores the best weights.

The features learnt on clothing (edges, strokes, blobs) transfer to digits. We compare, on all 1,984
threes and eights of MNIST's test set, the four combinations of {pretrained, random} backbone x
{frozen, trained end to end}:
  * pretrained + frozen   -- the recipe: only the 65 weights of the head learn from the few examples
  * random + frozen       -- the same recipe without pretraining: random features
  * random + trained      -- from scratch: all ~23,000 weights learnt from the few examples
  * pretrained + trained  -- fine-tuning: pretraining as the starting point, every weight free to move
Expected with the default 5 shots per digit (10 training images!) and a backbone that reaches ~77% on
Fashion-MNIST: frozen pretrained features ~80% against ~50% (chance) for frozen random features;
fine-tuning ~93% against ~83% from scratch. Pretraining helps either way; with this short pretraining,
the frozen features are not yet as good as learning every weight.

    python -m minidl.examples transfer [--pretrain-images 20000] [--pretrain-epochs 2] [--shots 5]
"""

from __future__ import annotations

import copy
import time

import numpy as np

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.data import DataLoader, TensorDataset, load_fashion_mnist, load_mnist
from minidl.examples.common import parser
from minidl.train import EarlyStopping, evaluate, fit


def make_backbone() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 14
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),                   # (B, 64, 7, 7) feature maps
    )


def images(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) / 255.0)[:, None]  # (N, 28, 28) uint8 -> (N, 1, 28, 28) in [0, 1]


def pretrain(backbone: nn.Module, n_images: int, epochs: int, seed: int) -> float:
    """Train backbone + a 10-class head on Fashion-MNIST; return the Fashion-MNIST test accuracy."""
    (x, y), (x_test, y_test) = load_fashion_mnist("train"), load_fashion_mnist("test")
    model = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    train = DataLoader(TensorDataset(images(x[:n_images]), y[:n_images]), batch_size=64, shuffle=True,
                       generator=minidl.Generator(seed))
    test = DataLoader(TensorDataset(images(x_test), y_test), batch_size=1000)
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=5e-3), train, epochs=epochs)
    return evaluate(model, None, test)["accuracy"]


def binary_task(shots: int, seed: int) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """MNIST 3 (label 0) vs 8 (label 1): ``shots`` per digit for training, as many for validation, all for test."""
    def pick(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> TensorDataset:
        return TensorDataset(images(x[rows]), (y[rows] == 8).astype(np.float32)[:, None])

    (x, y), (x_test, y_test) = load_mnist("train"), load_mnist("test")
    rng = np.random.default_rng(seed)
    rows = {d: rng.permutation(np.flatnonzero(y == d)) for d in (3, 8)}
    train = np.concatenate([rows[d][:shots] for d in (3, 8)])
    val = np.concatenate([rows[d][shots:2 * shots] for d in (3, 8)])
    return pick(x, y, train), pick(x, y, val), pick(x_test, y_test, np.flatnonzero((y_test == 3) | (y_test == 8)))


def train_head(backbone: nn.Module, freeze: bool, data: tuple, seed: int, max_epochs: int) -> tuple[float, int]:
    """Put a sigmoid head on a copy of ``backbone``, train with BCE + EarlyStopping; return (test accuracy, epochs)."""
    backbone = copy.deepcopy(backbone)  # every run starts from the same backbone weights
    backbone.requires_grad_(not freeze)
    minidl.manual_seed(seed)
    model = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1), nn.Sigmoid())
    trainable = [p for p in model.parameters() if p.requires_grad]  # the head only, when frozen
    train_set, val_set, test_set = data
    stop = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = fit(model, nn.BCELoss(), optim.Adam(trainable, lr=5e-2 if freeze else 2e-3),
                  DataLoader(train_set, batch_size=8, shuffle=True, generator=minidl.Generator(seed)),
                  epochs=max_epochs, val_loader=DataLoader(val_set, batch_size=500), callbacks=[stop], verbose=False)
    accuracy = evaluate(model, None, DataLoader(test_set, batch_size=1000))["accuracy"]
    return accuracy, len(history.epoch)


def main(argv: list[str] | None = None) -> dict[str, float]:
    cli = parser("transfer", __doc__)
    cli.add_argument("--pretrain-images", type=int, default=20000, help="Fashion-MNIST images for pretraining")
    cli.add_argument("--pretrain-epochs", type=int, default=2)
    cli.add_argument("--shots", type=int, default=5, help="training (and validation) examples per digit")
    cli.add_argument("--max-epochs", type=int, default=100, help="upper bound; EarlyStopping ends sooner")
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args(argv)
    t0 = time.perf_counter()

    minidl.manual_seed(args.seed)
    pretrained = make_backbone()
    print(f"1. pretraining the backbone on {args.pretrain_images} Fashion-MNIST images")
    fashion_accuracy = pretrain(pretrained, args.pretrain_images, args.pretrain_epochs, args.seed)
    print(f"   Fashion-MNIST test accuracy {fashion_accuracy:.4f}")

    data = binary_task(args.shots, args.seed)
    print(f"2. MNIST 3 vs 8: {len(data[0])} training, {len(data[1])} validation, {len(data[2])} test images")
    minidl.manual_seed(args.seed + 1)
    backbones = {"pretrained": pretrained, "random": make_backbone()}
    results = {}
    for key in ("pretrained_frozen", "random_frozen", "random_trained", "pretrained_trained"):
        init, mode = key.split("_")
        results[key], epochs = train_head(backbones[init], mode == "frozen", data, args.seed, args.max_epochs)
        print(f"   {init:>10} backbone, {mode:<7}: test accuracy {results[key]:.4f} "
              f"({epochs} epochs until EarlyStopping)", flush=True)

    seconds = time.perf_counter() - t0
    print(f"3 vs 8 test accuracy with pretraining {results['pretrained_frozen']:.4f} (frozen), "
          f"{results['pretrained_trained']:.4f} (fine-tuned); without {results['random_frozen']:.4f} (frozen), "
          f"{results['random_trained']:.4f} (from scratch); {seconds:.0f} s")
    return {"fashion_accuracy": fashion_accuracy, **{f"{k}_accuracy": v for k, v in results.items()},
            "seconds": seconds}


if __name__ == "__main__":
    main()
