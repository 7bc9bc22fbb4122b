"""DeZero and Chainer on the training workloads of ``workloads.py`` (the issue's "2x faster than
DeZero and Chainer" bar), same shapes, seeds and float32 data as ``compare_torch.py``.

Both need NumPy < 1.24 (they use ``np.int`` / ``np.bool``), so they live in their own venv::

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install "numpy<1.24" "matplotlib<3.9" dezero \\
        "setuptools<70" wheel && /tmp/peers/bin/pip install --no-build-isolation chainer
    OPENBLAS_NUM_THREADS=2 /tmp/peers/bin/python benchmarks/compare_peers.py

and the minidl/PyTorch figures come from ``compare_torch.py`` run right before and after (the two
cannot share a process). Prints ms per training step, best of ``--repeat`` rounds of 3 steps,
DeZero and Chainer interleaved. W4 (a GPT) is not run: neither library has attention or LayerNorm
layers, and a hand-written transformer would measure our port, not the library.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402

from benchmarks.compare_torch import measure_ms  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=PEER_WORKLOADS)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=3)
    args = parser.parse_args()
    print("| workload | DeZero ms | Chainer ms |")
    print("|---|---|---|")
    for name in args.workloads:
        steps = {"dezero": dezero_step(name), "chainer": chainer_step(name)}
        losses = {k: [s(), s()][-1] for k, s in steps.items()}  # warm-up, and a sanity check below
        best = dict.fromkeys(steps, float("inf"))
        for _ in range(args.repeat):
            for k, s in steps.items():
                best[k] = min(best[k], measure_ms(s, args.number))
        assert all(np.isfinite(v) for v in losses.values()), losses
        print(f"| {name} | {best['dezero']:.1f} | {best['chainer']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
