"""DeZero and Chainer on the training workloads of ``workloads.py`` (the issue's "2x faster than
DeZero and Chainer" bar), same shapes, seeds and float32 data as ``compare_torch.py``, same method.

Both need NumPy < 1.24 (they use ``np.int`` / ``np.bool``), so they live in their own venv::

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install "numpy<1.24" "matplotlib<3.9" dezero==0.0.13 \\
        "setuptools<70" wheel && /tmp/peers/bin/pip install --no-build-isolation chainer==7.8.1
    .venv/bin/python benchmarks/compare_peers.py --peers-python /tmp/peers/bin/python [--json peers.json]

The method of ``compare_torch.py`` (docs/benchmarks.md, "Method"): this parent imports none of the
frameworks; each round starts one fresh process per framework (``isolated.py``; DeZero and Chainer under
``--peers-python``, minidl under this interpreter), the order rotated by the round, every thread pool
set to ``--threads``. Warm-up steps are timed apart; a cell is the median of rounds x steps with the
range of the per-round medians; "minidl is Nx faster" = peer median / minidl median, with the range of
the per-round ratios (higher is better for minidl). ``--json`` feeds ``report.py``'s comparison page.
W4 (a GPT) is not run: neither library has attention or LayerNorm layers, and a hand-written
transformer would measure our port, not the library.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402

from benchmarks.isolated import PEERS, run_isolated  # noqa: E402
from benchmarks.workloads import WORKLOADS, _data  # noqa: E402

PEER_WORKLOADS = [w for w in WORKLOADS if WORKLOADS[w][0] != "gpt"]


def dezero_step(name: str):
    import dezero.functions as F
    import dezero.layers as L
    from dezero import Model, optimizers

    kind, batch = WORKLOADS[name]
    np.random.seed(0)
    x, y = _data(kind, batch)
    if kind == "cnn":
        class Net(Model):
            def __init__(self):
                super().__init__()
                self.conv = L.Conv2d(32, 3, in_channels=1)
                self.fc1, self.fc2 = L.Linear(128, in_size=5408), L.Linear(10, in_size=128)

            def forward(self, x):
                h = F.pooling(F.relu(self.conv(x)), 2, 2)
                return self.fc2(F.relu(self.fc1(F.reshape(h, (h.shape[0], -1)))))
        model = Net()
        opt = optimizers.Adam(1e-3).setup(model)
    elif kind == "lenet":
        class Net(Model):
            def __init__(self):
                super().__init__()
                self.c1, self.c2 = L.Conv2d(6, 5, in_channels=3), L.Conv2d(16, 5, in_channels=6)
                self.f1, self.f2 = L.Linear(120, in_size=400), L.Linear(84, in_size=120)
                self.f3 = L.Linear(10, in_size=84)

            def forward(self, x):
                h = F.pooling(F.relu(self.c1(x)), 2, 2)
                h = F.pooling(F.relu(self.c2(h)), 2, 2)
                h = F.reshape(h, (h.shape[0], -1))
                return self.f3(F.relu(self.f2(F.relu(self.f1(h)))))
        model = Net()
        opt = optimizers.MomentumSGD(1e-3, 0.9).setup(model)
    elif kind == "mlp":
        class Net(Model):
            def __init__(self):
                super().__init__()
                self.l1, self.l2 = L.Linear(512, in_size=784), L.Linear(512, in_size=512)
                self.l3 = L.Linear(10, in_size=512)

            def forward(self, x):
                return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))
        model = Net()
        opt = optimizers.SGD(1e-2).setup(model)
    else:  # lstm: DeZero's LSTM is a cell, so the step loops over time itself
        class Net(Model):
            def __init__(self):
                super().__init__()
                self.emb, self.lstm, self.head = L.EmbedID(65, 128), L.LSTM(256, in_size=128), L.Linear(65, in_size=256)

            def forward(self, idx, target):
                self.lstm.reset_state()
                loss = 0
                for t in range(idx.shape[1]):
                    loss += F.softmax_cross_entropy(self.head(self.lstm(self.emb(idx[:, t]))), target[:, t])
                return loss / idx.shape[1]
        model = Net()
        opt = optimizers.Adam(1e-3).setup(model)

    return _training_step(model, opt, F.softmax_cross_entropy, kind, x, y)


def chainer_step(name: str):
    import chainer
    import chainer.functions as F
    import chainer.links as L
    from chainer import optimizers

    kind, batch = WORKLOADS[name]
    np.random.seed(0)
    x, y = _data(kind, batch)
    y = y.astype(np.int32)
    if kind == "cnn":
        class Net(chainer.Chain):
            def __init__(self):
                super().__init__()
                with self.init_scope():
                    self.conv = L.Convolution2D(1, 32, 3)
                    self.fc1, self.fc2 = L.Linear(5408, 128), L.Linear(128, 10)

            def forward(self, x):
                h = F.max_pooling_2d(F.relu(self.conv(x)), 2, 2)
                return self.fc2(F.relu(self.fc1(h)))
        model, opt = Net(), optimizers.Adam(alpha=1e-3)
    elif kind == "lenet":
        class Net(chainer.Chain):
            def __init__(self):
                super().__init__()
                with self.init_scope():
                    self.c1, self.c2 = L.Convolution2D(3, 6, 5), L.Convolution2D(6, 16, 5)
                    self.f1, self.f2, self.f3 = L.Linear(400, 120), L.Linear(120, 84), L.Linear(84, 10)

            def forward(self, x):
                h = F.max_pooling_2d(F.relu(self.c1(x)), 2, 2)
                h = F.max_pooling_2d(F.relu(self.c2(h)), 2, 2)
                return self.f3(F.relu(self.f2(F.relu(self.f1(h)))))
        model, opt = Net(), optimizers.MomentumSGD(lr=1e-3, momentum=0.9)
    elif kind == "mlp":
        class Net(chainer.Chain):
            def __init__(self):
                super().__init__()
                with self.init_scope():
                    self.l1, self.l2, self.l3 = L.Linear(784, 512), L.Linear(512, 512), L.Linear(512, 10)

            def forward(self, x):
                return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))
        model, opt = Net(), optimizers.SGD(lr=1e-2)
    else:  # lstm: NStepLSTM runs the whole sequence (Chainer's fastest CPU path)
        class Net(chainer.Chain):
            def __init__(self):
                super().__init__()
                with self.init_scope():
                    self.emb, self.head = L.EmbedID(65, 128), L.Linear(256, 65)
                    self.lstm = L.NStepLSTM(1, 128, 256, 0.0)

            def forward(self, idx, target):
                _, _, hs = self.lstm(None, None, [self.emb(row) for row in idx])
                logits = self.head(F.concat(hs, axis=0))
                return F.softmax_cross_entropy(logits, target.reshape(-1))
        model, opt = Net(), optimizers.Adam(alpha=1e-3)
    opt.setup(model)
    return _training_step(model, opt, F.softmax_cross_entropy, kind, x, y)


def _training_step(model, opt, cross_entropy, kind: str, x: np.ndarray, y: np.ndarray):
    """One step in either library (their APIs agree here): loss, cleargrads, backward, update.
    The LSTM models compute their own loss over the sequence from (tokens, targets)."""

    def step() -> float:
        # (DeZero and Chainer Variables: .data is their raw array)
        loss = model(x, y) if kind == "lstm" else cross_entropy(model(x), y)
        model.cleargrads()
        loss.backward()
        opt.update()
        return float(loss.data)

    return step


def run_rounds(args: argparse.Namespace) -> dict[str, list[dict]]:
    """``compare_torch.run_rounds`` (a fresh process per framework and round, order rotated), with DeZero and
    Chainer started under ``--peers-python``."""
    from benchmarks.compare_torch import run_rounds as rotated_rounds

    def run_one(f: str) -> dict:
        python = args.peers_python if f in PEERS else sys.executable
        return run_isolated(f, args.workloads, args.threads, args.warmup, args.steps, python=python)

    return rotated_rounds(args.frameworks, args, run_one)


def speedup(peer: dict | None, mine: dict | None) -> dict | None:
    """How many times faster minidl is: the peer's median / minidl's, and the range of the per-round ratios."""
    if peer is None or mine is None:
        return None
    per_round = [p / m for p, m in zip(peer["round_medians"], mine["round_medians"], strict=False)]
    return {"median": peer["median"] / mine["median"], "round_min": min(per_round), "round_max": max(per_round)}


def markdown(result: dict) -> str:
    """The table of ``result`` (as written to --json): ms per step [per-round range], minidl's speed-up."""
    s, ref = result["settings"], result["minidl"]
    peers = [f for f in result["frameworks"] if f in PEERS]
    name = {"dezero": "DeZero", "chainer": "Chainer", "torch": "PyTorch"}
    head = [f"{name.get(f, f'minidl[{f}]')} {result['processes'][f]['version']} ms" for f in result["frameworks"]]
    load = result["machine"]
    lines = [f"{result['date']}, `{result['command']}`, {s['threads']} thread(s) per process, {s['rounds']} rounds x "
             f"{s['steps']} steps after {s['warmup']} warm-up steps; load average {load['load_before']:.2f} before, "
             f"{load['load_after']:.2f} after.", "",
             "| workload | " + " | ".join(head) + "".join(f" | minidl[{ref}] vs {name[p]}" for p in peers) + " |",
             "|---|" + "---|" * (len(head) + len(peers))]
    for w, row in result["results"].items():
        cells = [f"{c['median']:.1f} [{min(c['round_medians']):.1f}-{max(c['round_medians']):.1f}]" if c else "n/a"
                 for c in (row["frameworks"].get(f) for f in result["frameworks"])]
        cells += [f"{r['median']:.1f}x [{r['round_min']:.1f}-{r['round_max']:.1f}]" if r else "n/a"
                  for r in (row["speedup"].get(p) for p in peers)]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.compare_torch import _git_commit, cell

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers-python", required=True, help="the interpreter of the venv with DeZero and Chainer")
    parser.add_argument("--workloads", nargs="*", default=PEER_WORKLOADS, choices=PEER_WORKLOADS, metavar="W")
    parser.add_argument("--frameworks", nargs="*", default=["dezero", "chainer", "numba"],
                        choices=[*PEERS, "numpy", "numba"])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per framework, order rotated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per workload and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (reported apart)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every pool in every process")
    parser.add_argument("--json", type=Path, help="write the results (every sample) to this file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    load_before = os.getloadavg()[0]
    reports = run_rounds(args)
    frameworks = [f for f in args.frameworks if "error" not in reports[f][0]]
    for f in set(args.frameworks) - set(frameworks):
        print(f"{f}: not run ({reports[f][0]['error']})", file=sys.stderr)
    ref = next((f for f in ("numba", "numpy") if f in frameworks), None)
    results = {}
    for w in args.workloads:
        cells = {f: cell(reports[f], w) for f in frameworks}
        results[w] = {"unit": "ms", "frameworks": cells,
                      "speedup": {p: speedup(cells[p], cells.get(ref)) for p in frameworks if p in PEERS}}
    result = {
        "schema": 1, "kind": "peers",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/compare_peers.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "git_commit": _git_commit(),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                    "python": platform.python_version(), "load_before": load_before,
                    "load_after": os.getloadavg()[0]},
        "settings": {k: v for k, v in vars(args).items() if k in ("rounds", "steps", "warmup", "threads")},
        "frameworks": frameworks, "minidl": ref,
        "processes": {f: {"version": reports[f][0]["version"], "threads": reports[f][0]["threads"],
                          "import_s_median": statistics.median(r["import_s"] for r in reports[f]),
                          "load_after_each": [r["load_after"] for r in reports[f]]} for f in frameworks},
        "results": results,
    }
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
