"""Mixed precision on the MNIST CNN (issue 20): accuracy, step time and peak memory per precision and backend.

    python benchmarks/amp_mnist.py train --precision bfloat16 [--backend numba] [--epochs 2] [--limit N]
    python benchmarks/amp_mnist.py step --precision float16 --backend numpy [--batch 128] [--repeat 15]

``train`` runs the example's recipe (minidl/examples/mnist_cnn.py: Adam, one-cycle up to 3e-3, batch 32,
2 epochs) with the forward (training and test) under ``minidl.autocast("cpu", dtype)`` for bfloat16/float16
and a ``GradScaler`` for float16; parameters stay float32. ``step`` times one training step (forward,
backward, Adam) on one batch: median and range of ``--repeat`` steps after 3 warm-up steps, then the peak
of Python-tracked allocations (``tracemalloc``, NumPy's arrays included) over one more step, measured apart.
Run each precision and backend in its own process (docs: "Measuring speed"); prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
from contextlib import nullcontext

import numpy as np

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.data import DataLoader, load_mnist
from minidl.examples.mnist_cnn import build_model, to_dataset


def _context(precision: str):
    return nullcontext() if precision == "float32" else minidl.autocast("cpu", dtype=getattr(minidl, precision))


def _step(model, loss_fn, optimizer, scaler, x, y, precision):
    optimizer.zero_grad()
    with _context(precision):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


def train(args) -> dict:
    minidl.manual_seed(args.seed)
    (tx, ty), (vx, vy) = load_mnist("train"), load_mnist("test")
    if args.limit:
        tx, ty = tx[: args.limit], ty[: args.limit]
    with minidl.use_backend(args.backend):
        train_set, test_set = to_dataset(tx, ty), to_dataset(vx, vy)
        model = build_model()
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=minidl.Generator(args.seed))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=args.epochs, steps_per_epoch=len(loader))
    scaler = minidl.amp.GradScaler("cpu", enabled=args.precision == "float16")
    loss_fn, skipped, t0 = nn.CrossEntropyLoss(), 0, time.perf_counter()
    for _ in range(args.epochs):
        for x, y in loader:
            before = scaler.get_scale()
            _step(model, loss_fn, optimizer, scaler, x, y, args.precision)
            skipped += scaler.get_scale() < before
            scheduler.step()
    seconds = time.perf_counter() - t0
    correct = 0
    with minidl.no_grad(), _context(args.precision):
        model.eval()
        for x, y in DataLoader(test_set, batch_size=1000):
            correct += int((model(x).argmax(1) == y).sum().item())
    return {"mode": "train", "precision": args.precision, "backend": args.backend, "epochs": args.epochs,
            "train_images": len(tx), "test_accuracy": correct / len(vx), "train_seconds": round(seconds, 1),
            "skipped_steps": int(skipped), "final_scale": scaler.get_scale(),
            "param_dtype": str(next(model.parameters()).dtype)}


def step(args) -> dict:
    minidl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with minidl.use_backend(args.backend):
        model = build_model()
        x = minidl.tensor(rng.random((args.batch, 1, 28, 28), dtype=np.float32))
        y = minidl.tensor(rng.integers(0, 10, args.batch))
    optimizer, loss_fn = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    scaler = minidl.amp.GradScaler("cpu", enabled=args.precision == "float16")
    for _ in range(3):
        _step(model, loss_fn, optimizer, scaler, x, y, args.precision)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        _step(model, loss_fn, optimizer, scaler, x, y, args.precision)
        times.append((time.perf_counter() - t) * 1e3)
    tracemalloc.start()
    _step(model, loss_fn, optimizer, scaler, x, y, args.precision)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"mode": "step", "precision": args.precision, "backend": args.backend, "batch": args.batch,
            "median_ms": round(float(np.median(times)), 2), "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2), "peak_mib": round(peak / 2 ** 20, 2), "load": os.getloadavg()[0]}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("mode", choices=("train", "step"))
    cli.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default="float32")
    cli.add_argument("--backend", default="numba")
    cli.add_argument("--epochs", type=int, default=2)
    cli.add_argument("--limit", type=int, default=None)
    cli.add_argument("--batch", type=int, default=128)
    cli.add_argument("--repeat", type=int, default=15)
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    print(json.dumps(train(args) if args.mode == "train" else step(args)), flush=True)


if __name__ == "__main__":
    main()
