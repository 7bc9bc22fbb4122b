"""Draw the pictures of the Learn pages from minidl's own output: ``python docs/make_figures.py [OUT_DIR]``.

- ``im2col.png`` (docs/convolution.md): a 4x4 input, a 3x3 kernel, the columns matrix that the NumPy
  backend's ``im2col`` kernel returns for them, and the output as one matrix product;
- ``maxpool.png`` (docs/convolution.md): max pooling's forward (the argmax of each window) and backward
  (each output gradient routed to its argmax), from ``F.max_pool2d`` and autograd;
- ``rosenbrock.png`` (docs/optimizers.md): the paths of ``minidl.optim``'s optimizers on the Rosenbrock
  function, each step taken by minidl;
- ``gradflow_rnn.png`` and ``gradflow_rnn_clipped.png`` (docs/debugging.md): ``minidl.viz.plot_grad_flow`` of
  a two-layer ReLU RNN learning the sum of a sequence, at its first step without gradient clipping and
  after 30 steps with ``clip_grad_norm_(max_norm=1)``.

OUT_DIR defaults to ``docs/img``; tests/test_learn_pages.py runs this script into a temporary folder, so the
code behind every committed picture keeps running. Needs matplotlib.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import minidl  # noqa: E402
import minidl.nn as nn  # noqa: E402
import minidl.nn.functional as F  # noqa: E402
from minidl import optim  # noqa: E402
from minidl.backends import get_backend  # noqa: E402
from minidl.viz import plot_grad_flow  # noqa: E402

WINDOW_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]


def _grid(ax, values, title, colours=None, fmt="{:g}"):
    """values (rows, cols) as a table of numbered cells; colours[r][c] fills a cell (None: white)."""
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            fill = colours[r][c] if colours is not None and colours[r][c] else "white"
            ax.add_patch(Rectangle((c, rows - 1 - r), 1, 1, facecolor=fill, edgecolor="black", lw=0.8,
                                   alpha=0.35 if fill != "white" else 1.0))
            ax.text(c + 0.5, rows - 0.5 - r, fmt.format(values[r, c]), ha="center", va="center", fontsize=11)
    ax.set_xlim(-0.1, cols + 0.1)
    ax.set_ylim(-0.1, rows + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)


def im2col_figure(out: Path) -> None:
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # N=1, C=1, 4x4
    w = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]).reshape(1, 1, 3, 3)  # a Sobel kernel
    cols = get_backend("numpy").im2col(x, (3, 3), (1, 1), (0, 0), (1, 1))  # (N, C, kh, kw, OH, OW)
    cols = cols.reshape(9, 4)  # (C*kh*kw, OH*OW): one column per output pixel
    y = w.reshape(1, 9) @ cols
    assert np.allclose(y.reshape(2, 2), F.conv2d(minidl.tensor(x), minidl.tensor(w)).array[0, 0])

    fig, axes = plt.subplots(1, 4, figsize=(13, 4.6), gridspec_kw={"width_ratios": [4, 3, 4, 2.6]})
    _grid(axes[0], x[0, 0], "input x (4x4): the 4 windows")
    for k, colour in enumerate(WINDOW_COLOURS):  # window k starts at (p, q) = divmod(k, 2)
        p, q = divmod(k, 2)
        inset = 0.06 * (k + 1)
        axes[0].add_patch(Rectangle((q + inset, 4 - 3 - p + inset), 3 - 2 * inset, 3 - 2 * inset, fill=False,
                                    edgecolor=colour, lw=2.5))
    _grid(axes[1], w[0, 0], "kernel w (3x3)")
    colours = [[WINDOW_COLOURS[c] for c in range(4)] for _ in range(9)]
    _grid(axes[2], cols, "cols = im2col(x): (C*kh*kw, OH*OW) = (9, 4)", colours)
    _grid(axes[3], y.reshape(2, 2), "y = w.reshape(1, 9) @ cols\n(1, 4) -> 2x2",
          [[WINDOW_COLOURS[0], WINDOW_COLOURS[1]], [WINDOW_COLOURS[2], WINDOW_COLOURS[3]]])
    fig.tight_layout()
    fig.savefig(out / "im2col.png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def maxpool_figure(out: Path) -> None:
    x = minidl.tensor(np.array([[3.0, 1.0, 2.0, 8.0], [4.0, 6.0, 5.0, 0.0], [7.0, 2.0, 9.0, 9.0],
                                [1.0, 0.0, 3.0, 4.0]]).reshape(1, 1, 4, 4), requires_grad=True)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    gy = np.array([[10.0, 20.0], [30.0, 40.0]])
    y.backward(minidl.tensor(gy.reshape(1, 1, 2, 2)))
    at = idx.array[0, 0]  # flat h*W + w of each window's first maximum
    win = [[WINDOW_COLOURS[(r // 2) * 2 + c // 2] for c in range(4)] for r in range(4)]
    argmax = [[None] * 4 for _ in range(4)]
    for k, a in enumerate(at.reshape(-1)):
        argmax[a // 4][a % 4] = WINDOW_COLOURS[k]

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), gridspec_kw={"width_ratios": [4, 2, 2, 4]})
    _grid(axes[0], x.array[0, 0], "input x: 2x2 windows, stride 2", win)
    _grid(axes[1], y.array[0, 0], "y = max_pool2d(x, 2)",
          [[WINDOW_COLOURS[0], WINDOW_COLOURS[1]], [WINDOW_COLOURS[2], WINDOW_COLOURS[3]]])
    _grid(axes[2], at, "indices (h*W + w)", fmt="{:d}")
    _grid(axes[3], x.grad.array[0, 0], "x.grad for dL/dy = [[10, 20], [30, 40]]", argmax)
    fig.tight_layout()
    fig.savefig(out / "maxpool.png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def rosenbrock(p):
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2: a curved valley, minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


OPTIMIZERS = {  # the settings of docs/optimizers.md
    "SGD, lr=1e-3": (optim.SGD, dict(lr=1e-3)),
    "momentum 0.9, lr=1e-3": (optim.SGD, dict(lr=1e-3, momentum=0.9)),
    "Nesterov 0.9, lr=1e-3": (optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
    "RMSprop, lr=1e-2": (optim.RMSprop, dict(lr=1e-2)),
    "Adam, lr=5e-2": (optim.Adam, dict(lr=5e-2)),
    "AdamW, lr=5e-2, wd=0.1": (optim.AdamW, dict(lr=5e-2, weight_decay=0.1)),
}


def rosenbrock_paths(steps: int = 1000, start=(-1.5, 2.0)) -> dict[str, np.ndarray]:
    paths = {}
    for name, (cls, kwargs) in OPTIMIZERS.items():
        p = minidl.tensor(list(start), dtype=minidl.float64, requires_grad=True)
        opt = cls([p], **kwargs)
        path = [p.tolist()]
        for _ in range(steps):
            opt.zero_grad()
            rosenbrock(p).backward()
            opt.step()
            path.append(p.tolist())
        paths[name] = np.array(path)
    return paths


def rosenbrock_figure(out: Path) -> None:
    paths = rosenbrock_paths()
    gx, gy = np.meshgrid(np.linspace(-2, 2, 400), np.linspace(-1, 3, 400))
    f = (1 - gx) ** 2 + 100 * (gy - gx**2) ** 2
    fig, ax = plt.subplots(figsize=(9, 7.5))
    ax.contour(gx, gy, np.log10(f + 1e-3), levels=20, cmap="Greys", linewidths=0.7)
    for k, ((name, path), colour) in enumerate(zip(paths.items(), plt.cm.tab10.colors)):
        z = 10 - k  # the first ones on top: plain SGD's path would hide under the others
        ax.plot(path[:, 0], path[:, 1], "-", color=colour, lw=1.4, zorder=z,
                label=f"{name}: f = {rosenbrock(path[-1]):.2g}")
        ax.plot(path[-1, 0], path[-1, 1], "o", color=colour, ms=7, zorder=z)
    ax.plot(1, 1, "*", color="black", ms=14, label="minimum (1, 1)")
    ax.plot(*paths["SGD, lr=1e-3"][0], "s", color="black", ms=7, label="start (-1.5, 2)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("1000 steps of minidl.optim on f(x, y) = (1 - x)² + 100 (y - x²)²  (contours of log f)")
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "rosenbrock.png", dpi=100, metadata={"Software": None})
    plt.close(fig)


class SumRNN(nn.Module):
    """The RNN of docs/debugging.md: two ReLU layers read a sequence, a linear head predicts its sum."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, num_layers=2, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def train_sum_rnn(clip: bool, steps: int, T: int = 40, seed: int = 0) -> nn.Module:
    """docs/debugging.md's ``train``: recurrent weights start at 1.1 I, SGD, clip_grad_norm_ to 1 if ``clip``."""
    minidl.manual_seed(seed)
    model = SumRNN()
    with minidl.no_grad():
        for name, w in model.named_parameters():
            if "weight_hh" in name:
                w.copy_(minidl.tensor(1.1 * np.eye(w.shape[0], dtype=np.float32)))
    opt = optim.SGD(model.parameters(), lr=1e-3)
    data = np.random.default_rng(seed)
    for _ in range(steps):
        x = data.standard_normal((16, T, 1)).astype(np.float32)
        opt.zero_grad()
        F.mse_loss(model(minidl.tensor(x)), minidl.tensor(x.sum(axis=1))).backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0 if clip else float("inf"))
        opt.step()
    return model  # its .grad: the last step's gradients (after clipping)


def gradflow_figures(out: Path) -> None:
    for clip, steps, name, title in [(False, 1, "gradflow_rnn.png", "step 1, no clipping"),
                                     (True, 30, "gradflow_rnn_clipped.png", "step 30, clipped to norm 1")]:
        fig = plot_grad_flow(train_sum_rnn(clip, steps), log_scale=True)
        fig.axes[0].set_title(f"2-layer ReLU RNN, T = 40: {title}")
        fig.savefig(out / name, dpi=100, metadata={"Software": None})


def main(out_dir: str | None = None) -> None:
    out = Path(out_dir) if out_dir else Path(__file__).parent / "img"
    out.mkdir(parents=True, exist_ok=True)
    im2col_figure(out)
    maxpool_figure(out)
    rosenbrock_figure(out)
    gradflow_figures(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
