"""Making the MNIST CNN smaller: pruning, int8 quantization (static, dynamic, QAT), measured side by side.

    Conv2D(32, 3x3, ReLU) -> MaxPool(2) -> Flatten -> Dense(128, ReLU) -> Dense(10)   (the mnist_cnn model)

1. Train the float32 model (``--epochs``; or load ``--weights`` saved by an earlier run).
2. Pruning: global L1 unstructured pruning of all weights at each ``--sparsities`` level, test accuracy
   before and after ``--finetune-steps`` of fine-tuning with the masks on; then 50% of the conv filters
   removed structurally (``ln_structured`` + ``compact``), fine-tuned, and timed.
3. Static int8 (post-training): QuantStub/DeQuantStub around the model, Conv+ReLU and Linear+ReLU fused,
   min-max observers calibrated on ``--calibration-batches`` training batches, ``convert``.
4. Dynamic int8: ``quantize_dynamic(model, {nn.Linear})`` (the conv stays float).
5. QAT: ``prepare_qat`` and ``--qat-steps`` of fine-tuning with fake-quantized weights and activations.

For each: test accuracy, size of the saved ``state_dict`` (``minidl.save``, no pickle) and inference time
for a batch of 1000 test images (median of ``--repeats`` after one warm-up run, on ``--backend``; run the
example once per backend to compare them, each in its own process). ``--figure PATH`` draws accuracy
against sparsity (matplotlib).

    python -m minidl.examples compress [--epochs 2] [--backend numba] [--weights mnist_cnn.pt] [--limit N]
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import tempfile
import time
from typing import Any

import minidl
import minidl.nn as nn
from minidl import optim
from minidl import quantization as mq
from minidl.data import DataLoader, load_mnist
from minidl.examples.common import Budget, parser
from minidl.examples.mnist_cnn import build_model, to_dataset
from minidl.nn.utils import prune
from minidl.threads import describe_threads
from minidl.train import evaluate, fit


def saved_bytes(model: nn.Module) -> int:
    """Size on disk of ``minidl.save(model.state_dict())``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.pt")
        minidl.save(model.state_dict(), path)
        return os.path.getsize(path)


def inference_ms(model: nn.Module, x: minidl.Tensor, repeats: int) -> tuple[float, float, float]:
    """(median, min, max) milliseconds of model(x) over ``repeats`` runs after a warm-up."""
    model.eval()
    times = []
    with minidl.no_grad():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def train_steps(model: nn.Module, loader: DataLoader, steps: int, lr: float) -> None:
    """``steps`` Adam steps of cross-entropy through ``fit`` (fine-tuning; pruning masks and fake-quantizers
    stay on)."""
    optimizer = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    fit(model, nn.CrossEntropyLoss(), optimizer, loader, math.ceil(steps / len(loader)), callbacks=[Budget(steps)],
        verbose=False)


def with_stubs(model: nn.Module) -> nn.Sequential:
    """QuantStub, the model's layers, DeQuantStub: indices 1..7 are the float layers."""
    return nn.Sequential(mq.QuantStub(), *copy.deepcopy(list(model.children())), mq.DeQuantStub())


FUSE = [["1", "2"], ["5", "6"]]  # Conv2d + ReLU, Linear + ReLU


def static_int8(model: nn.Module, calibration: list[minidl.Tensor], observer: Any = None) -> nn.Module:
    qmodel = mq.fuse_modules(with_stubs(model).eval(), FUSE)
    qmodel.qconfig = mq.get_default_qconfig("x86")
    if observer is not None:
        qmodel.qconfig = mq.QConfig(activation=observer, weight=qmodel.qconfig.weight)
    mq.prepare(qmodel, inplace=True)
    with minidl.no_grad():
        for x in calibration:
            qmodel(x)
    return mq.convert(qmodel, inplace=True)


def global_prune(model: nn.Module, amount: float) -> nn.Module:
    pruned = copy.deepcopy(model)
    layers = [m for m in pruned.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    prune.global_unstructured([(m, "weight") for m in layers], prune.L1Unstructured, amount=amount)
    return pruned


def make_permanent(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if prune.is_pruned(m) and hasattr(m, "weight_orig"):
            prune.remove(m, "weight")
    return model


def sparsity(model: nn.Module) -> float:
    weights = [m.weight.detach().numpy() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    return float(sum((w == 0).sum() for w in weights) / sum(w.size for w in weights))


def structured_half(model: nn.Module) -> nn.Module:
    """50% of the conv filters (smallest L1 norm) zeroed, then removed with ``compact``."""
    pruned = copy.deepcopy(model)
    conv, fc1 = pruned[0], pruned[4]
    prune.ln_structured(conv, "weight", amount=0.5, n=1, dim=0)
    prune.remove(conv, "weight")
    small_conv, small_fc1 = prune.compact(conv, fc1, activation=nn.functional.relu)
    pruned[0], pruned[4] = small_conv, small_fc1
    return pruned


def draw_figure(curve: list[dict[str, float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = [100 * c["sparsity"] for c in curve]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    ax.plot(s, [100 * c["pruned"] for c in curve], "o--", label="pruned, no fine-tuning")
    ax.plot(s, [100 * c["finetuned"] for c in curve], "o-", label="pruned + fine-tuned")
    ax.set_xlabel("weights set to zero (%), global L1 unstructured")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("MNIST CNN: accuracy against sparsity (minidl)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cli = parser("compress", __doc__)
    cli.add_argument("--epochs", type=int, default=2)
    cli.add_argument("--lr", type=float, default=1e-3)
    cli.add_argument("--backend", default=None, help="numpy or numba (default: numba if installed)")
    cli.add_argument("--weights", default=None, help="load the float model from here if it exists, else save it")
    cli.add_argument("--limit", type=int, default=None, help="train and test on the first N images (smoke tests)")
    cli.add_argument("--sparsities", default="0.5,0.7,0.8,0.9,0.95")
    cli.add_argument("--finetune-steps", type=int, default=300)
    cli.add_argument("--calibration-batches", type=int, default=10, help="batches of 100 training images")
    cli.add_argument("--qat-steps", type=int, default=300)
    cli.add_argument("--repeats", type=int, default=5)
    cli.add_argument("--skip-pruning", action="store_true", help="only the float and int8 rows (speed runs)")
    cli.add_argument("--figure", default=None, help="draw accuracy against sparsity into this PNG")
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args(argv)
    backend = args.backend or ("numba" if "numba" in minidl.available_backends() else "numpy")
    print(f"backend {backend}; {describe_threads()}", flush=True)

    (train_x, train_y), (test_x, test_y) = load_mnist("train"), load_mnist("test")
    if args.limit:
        train_x, train_y, test_x, test_y = (a[: args.limit] for a in (train_x, train_y, test_x, test_y))
    minidl.manual_seed(args.seed)
    with minidl.use_backend(backend):
        train_set, test_set = to_dataset(train_x, train_y), to_dataset(test_x, test_y)
        model = build_model()
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=minidl.Generator(args.seed))
    test_loader = DataLoader(test_set, batch_size=1000)
    if args.weights and os.path.exists(args.weights):
        model.load_state_dict(minidl.load(args.weights))
        print(f"float32 weights loaded from {args.weights}")
    else:
        t0 = time.perf_counter()
        fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=args.lr), train_loader, args.epochs,
            verbose=False)
        print(f"float32 model trained for {args.epochs} epochs in {time.perf_counter() - t0:.1f} s")
        if args.weights:
            minidl.save(model.state_dict(), args.weights)

    timing_batch = next(iter(test_loader))[0]
    calibration = [x for x, _ in DataLoader(train_set, batch_size=100, shuffle=True,
                                            generator=minidl.Generator(args.seed + 1))][: args.calibration_batches]
    rows: list[dict[str, Any]] = []

    def report(name: str, m: nn.Module, **extra: Any) -> dict[str, Any]:
        row = {"model": name, "accuracy": evaluate(m, None, test_loader)["accuracy"], "bytes": saved_bytes(m),
               "ms": inference_ms(m, timing_batch, args.repeats), **extra}
        rows.append(row)
        ms = row["ms"]
        print(f"  {name:38s} {100 * row['accuracy']:6.2f}%  {row['bytes'] / 1024:8.1f} KiB  "
              f"{ms[0]:7.1f} ms ({ms[1]:.1f}-{ms[2]:.1f})", flush=True)
        return row

    print(f"\n  {'model':38s} {'test acc':>7s}  {'saved':>12s}  inference of {len(timing_batch)} images")
    report("float32", model)
    curve = []
    if not args.skip_pruning:
        for amount in [float(a) for a in args.sparsities.split(",")]:
            pruned = global_prune(model, amount)
            before = evaluate(pruned, None, test_loader)["accuracy"]
            with minidl.use_backend(backend):
                train_steps(pruned, train_loader, args.finetune_steps, args.lr / 2)
            make_permanent(pruned)
            row = report(f"pruned {100 * amount:.0f}% (global L1) + fine-tune", pruned,
                         before_finetune=before)
            print(f"  {'':38s} ({100 * before:.2f}% before fine-tuning)")
            curve.append({"sparsity": sparsity(pruned), "pruned": before, "finetuned": row["accuracy"]})
        half = structured_half(model)
        with minidl.use_backend(backend):
            train_steps(half, train_loader, args.finetune_steps, args.lr / 2)
        report("50% conv filters removed + fine-tune", half)
    report("int8 static (min-max observers)", static_int8(model, calibration))
    report("int8 static (percentile observers)", static_int8(model, calibration, mq.PercentileObserver))
    report("int8 dynamic (Linear layers)", mq.quantize_dynamic(model, {nn.Linear}))
    if args.qat_steps:
        qat = mq.fuse_modules(with_stubs(model).eval(), FUSE).train()
        qat.qconfig = mq.get_default_qat_qconfig("x86")
        mq.prepare_qat(qat, inplace=True)
        train_steps(qat, train_loader, args.qat_steps, args.lr / 4)
        report("int8 QAT (fine-tuned with fake quant)", mq.convert(qat.eval()))
    if args.figure and curve:
        draw_figure(curve, args.figure)
        print(f"figure written to {args.figure}")
    return {"rows": rows, "curve": curve, "backend": backend}


if __name__ == "__main__":
    main()
