"""Learning curves as a PNG: ``plot_history(history, path)`` (also ``History.plot(path)``).

matplotlib is imported when a plot is drawn, not when ``minidl.train`` is imported, and through its
object API (``Figure`` + the Agg canvas): no window opens and pyplot's global state is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_history(history: Any, path: str | Path, keys: Sequence[str] | None = None) -> Path:
    """Write a PNG of ``history``'s curves to ``path``: one panel per metric, training and validation together.

    ``keys`` picks the metrics (``["loss"]``: the loss panel with ``loss`` and ``val_loss``); all by default.
    Needs matplotlib (``pip install matplotlib``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("History.plot needs matplotlib, which is not installed: pip install matplotlib "
                          "(the history itself is in history.history)") from e
    keys = list(keys or history.keys())
    names = [k for k in keys if not k.startswith("val_")]
    names += [k[4:] for k in keys if k.startswith("val_") and k[4:] not in names]
    fig = Figure(figsize=(4.5 * len(names), 3.5))
    FigureCanvasAgg(fig)
    epochs = [e + 1 for e in history.epoch]
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        for key, style in ((name, "-o"), ("val_" + name, "--s")):
            if key in history:
                ax.plot(epochs, history[key], style, markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
