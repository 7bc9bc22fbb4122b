"""Progress display for ``fit``: a live tqdm bar in a terminal, one plain line per epoch otherwise.

In a terminal (``stdout.isatty()``) each epoch gets a tqdm bar with steps/s and the running loss. When
the output goes to a file, a pipe or a notebook log, a bar would write hundreds of carriage returns, so
each epoch prints one line when it ends instead::

    Epoch 3/10: 23 steps, 412.5 steps/s, 0.1s - loss 0.2150 - accuracy 0.9371 - val_loss 0.2563 - ...

``verbose=False`` prints nothing.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def format_logs(logs: dict[str, float]) -> str:
    """``loss 0.2150 - accuracy 0.9371 - lr 0.001``: 4 decimals, or 3 significant digits for small values."""
    parts = []
    for key, value in logs.items():
        text = f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
        parts.append(f"{key} {text}")
    return " - ".join(parts)


class Progress:
    """Prints training progress to ``file`` (``sys.stdout`` at the time of each epoch when None)."""

    def __init__(self, verbose: bool = True, file: TextIO | None = None) -> None:
        self.verbose = bool(verbose)
        self._file = file
        self._bar: Any = None

    @property
    def file(self) -> TextIO:
        return self._file if self._file is not None else sys.stdout

    def live(self) -> bool:
        isatty = getattr(self.file, "isatty", None)
        return self.verbose and callable(isatty) and bool(isatty())

    def epoch_start(self, epoch: int, epochs: int, steps: int | None) -> None:
        """``epoch`` counts from 0; ``steps`` is ``len(loader)`` when the loader has one."""
        self._title = f"Epoch {epoch + 1}/{epochs}"
        if self.live():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=steps, desc=self._title, unit="step", file=self.file, leave=True,
                             dynamic_ncols=True)

    def batch_end(self, running: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(format_logs(running), refresh=False)

    def epoch_end(self, logs: dict[str, float], steps: int, train_seconds: float, seconds: float) -> None:
        rate = steps / train_seconds if train_seconds > 0 else float("inf")
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs), refresh=True)
            self._bar.close()
            self._bar = None
        elif self.verbose:
            print(f"{self._title}: {steps} steps, {rate:.1f} steps/s, {seconds:.1f}s - {format_logs(logs)}",
                  file=self.file, flush=True)

    def message(self, text: str) -> None:
        """A line from a callback (early stopping, a saved checkpoint), unless silenced."""
        if self.verbose:
            if self._bar is not None:
                self._bar.write(text, file=self.file)
            else:
                print(text, file=self.file, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
