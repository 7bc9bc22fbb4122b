"""What the examples share: their command line, a step/time budget for ``fit``, and the two
Shakespeare language models' data, batches and bits-per-character measure.

Every example trains with ``minidl.train.fit`` (lenet excepted: it is PyTorch's tutorial as written, loop
included). ``fit`` counts in epochs; the examples that count in steps or seconds end it with ``Budget``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

import minidl.nn.functional as F
from minidl.data import CharDataset, load_shakespeare
from minidl.tensor import Tensor
from minidl.train import Callback, evaluate, fit


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """``python -m minidl.examples NAME``'s parser, its ``--help`` showing the example's docstring as written."""
    return argparse.ArgumentParser(prog=f"python -m minidl.examples {name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


class Budget(Callback):
    """Ends ``fit`` after ``steps`` optimizer steps or ``seconds`` of training, whichever comes first.

    ``self.step`` counts the steps taken, ``self.seconds`` the training time.
    """

    def __init__(self, steps: int | None = None, seconds: float | None = None) -> None:
        self.max_steps, self.max_seconds = steps, seconds
        self.step, self.seconds = 0, 0.0

    def on_train_begin(self, state: Any) -> None:
        self.t0, self.step = time.perf_counter(), 0

    def on_batch_end(self, state: Any, batch: int, logs: dict[str, float]) -> None:
        self.step += 1
        self.seconds = time.perf_counter() - self.t0
        if ((self.max_steps is not None and self.step >= self.max_steps)
                or (self.max_seconds is not None and self.seconds >= self.max_seconds)):
            state.stop_training = True


# ----------------------------------------------------------------------------- char_lstm and char_gpt
def add_language_model_arguments(parser: argparse.ArgumentParser, lr: float) -> None:
    """The options the two character-level models share (the model's own sizes are added by each)."""
    parser.add_argument("--time-budget", type=float, default=240.0, help="seconds of training")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--val-batches", type=int, default=20)
    parser.add_argument("--sample-length", type=int, default=400)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)


def shakespeare(block_size: int) -> tuple[CharDataset, CharDataset]:
    """The complete works as (train, validation) windows of ``block_size``: the last 10% held out."""
    text = load_shakespeare()
    split = int(0.9 * len(text))
    train = CharDataset(text[:split], block_size)
    val = CharDataset(text[split:], block_size, vocab=train.vocab)
    print(f"Shakespeare: {len(text):,} characters, {len(train.vocab)} distinct; {split:,} for training")
    return train, val


def sequence_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over every position: logits (B, T, vocab), y (B, T) of character ids."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


class RandomWindows:
    """``steps`` batches of random windows (``CharDataset.get_batch``): one ``fit`` epoch = one report."""

    def __init__(self, data: CharDataset, batch_size: int, steps: int, rng: np.random.Generator) -> None:
        self.data, self.batch_size, self.steps, self.rng = data, batch_size, steps, rng

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(self.steps):  # drawn one at a time: a stopped epoch draws no more
            yield self.data.get_batch(self.rng.integers(0, len(self.data), self.batch_size))


def bits_per_char(model: Any, loss_fn: Any, data: CharDataset, batches: int, batch_size: int) -> float:
    """Mean cross-entropy (in bits) over ``batches`` fixed, evenly spaced validation windows."""
    starts = np.linspace(0, len(data) - 1, batches * batch_size).astype(np.int64)
    windows = [data.get_batch(chunk) for chunk in np.split(starts, batches)]
    return evaluate(model, loss_fn, windows, metrics=())["loss"] / math.log(2)


class BitsPerCharReport(Callback):
    """Prints the mean training loss in bits per character at the end of every epoch (every report)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        print(f"step {self.budget.step:5d}: train {logs['loss'] / math.log(2):.3f} bits/char "
              f"({self.budget.seconds:.0f} s)", flush=True)


def train_language_model(model: Any, loss_fn: Any, optimizer: Any, train: CharDataset, args: Any,
                         report_every: int = 100) -> Budget:
    """Train on random windows for ``args.time_budget`` seconds (or ``args.max_steps`` steps), gradients
    clipped to norm 1, printing the training loss every ``report_every`` steps; returns the ``Budget``
    (its ``step`` and ``seconds``)."""
    budget = Budget(args.max_steps, args.time_budget)
    epochs = math.ceil(args.max_steps / report_every) if args.max_steps else 2 ** 62  # the budget ends it
    windows = RandomWindows(train, args.batch_size, report_every, np.random.default_rng(args.seed))
    fit(model, loss_fn, optimizer, windows, epochs, metrics=(), callbacks=[budget, BitsPerCharReport(budget)],
        verbose=False, clip_grad_norm=1.0)
    return budget
