"""Callbacks: code that ``fit`` calls at fixed points of training, to watch it or steer it.

Every hook gets the ``FitState`` (model, optimizer, scheduler, epoch, history, ``stop_training``); the
batch and epoch hooks also get the logs (``{"loss": ..., "val_accuracy": ..., "lr": ...}`` per epoch).
Callbacks run in the order given, after ``fit``'s own ``scheduler``.

>>> from minidl.train import fit
>>> from minidl.train.callbacks import EarlyStopping, ModelCheckpoint
>>> callbacks = [EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
...              ModelCheckpoint("best.npz", monitor="val_accuracy", save_best_only=True)]
>>> # fit(model, loss_fn, opt, train, epochs=50, val_loader=val, callbacks=callbacks)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from minidl.train.checkpoint import save_checkpoint


class Callback:
    """Base class: override the hooks you need (they do nothing by default)."""

    def on_train_begin(self, state: Any) -> None: ...

    def on_epoch_begin(self, state: Any) -> None: ...

    def on_batch_end(self, state: Any, batch: int, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None: ...

    def on_train_end(self, state: Any) -> None: ...


def _mode(mode: str, monitor: str) -> str:
    """``"auto"``: maximise accuracies and similar scores, minimise everything else (losses, errors)."""
    if mode == "auto":
        return "max" if any(word in monitor for word in ("acc", "auc", "f1", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _monitored(logs: dict[str, float], monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(f"{who}: the monitored value {monitor!r} is not in the logs {sorted(logs)}; "
                       f"(val_* needs a val_loader)")
    return float(logs[monitor])


class _Monitor:
    """Tracks the best value of ``monitor``: better means by more than ``min_delta`` in the right direction."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor, self.mode, self.min_delta = monitor, _mode(mode, monitor), abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback, _Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model gets the weights of its best epoch back when training
    ends (copied in place, so the parameter arrays held by the optimizer stay the same objects).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False) -> None:
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights

    def on_train_begin(self, state: Any) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.stopped_epoch, self.best_weights = 0, None, None, None

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: t.data.copy() for k, t in state.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            state.stop_training, self.stopped_epoch = True, state.epoch
            state.progress.message(f"Epoch {state.epoch + 1}: early stopping ({self.monitor} has not improved "
                                   f"for {self.wait} epochs; best {self.best:.4f} at epoch {self.best_epoch + 1})"
                                   if self.best_epoch is not None else
                                   f"Epoch {state.epoch + 1}: early stopping ({self.monitor} never improved)")

    def on_train_end(self, state: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != state.epoch:
            for key, t in state.model.state_dict(keep_vars=True).items():
                t.data[...] = self.best_weights[key]
            state.progress.message(f"Restored the weights of epoch {self.best_epoch + 1} "
                                   f"({self.monitor} {self.best:.4f})")


class ModelCheckpoint(Callback, _Monitor):
    """Save a checkpoint (``minidl.save``) at the end of epochs.

    ``filepath`` may hold fields of the logs: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"`` (``epoch`` counts
    from 1). ``save_best_only=True`` writes only when ``monitor`` improves (the *best* model); otherwise
    every epoch (the *last* one, or one file per epoch with ``{epoch}``). The file holds the model, and
    unless ``save_weights_only`` the optimizer, scheduler, epoch, history and random generators, which
    is what ``load_checkpoint`` needs to resume training bit-identically.
    """

    def __init__(self, filepath: str | Path, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False, save_weights_only: bool = False, min_delta: float = 0.0) -> None:
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.filepath, self.save_best_only, self.save_weights_only = str(filepath), save_best_only, save_weights_only
        self.last_saved: Path | None = None

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self.improved(value):
                return
            self.best = value
        path = Path(self.filepath.format(epoch=state.epoch + 1, **logs))
        if self.save_weights_only:
            from minidl.io import save

            save(state.model.state_dict(), path)
        else:
            save_checkpoint(path, state.model, state.optimizer, state.scheduler, epoch=state.epoch + 1,
                            history=state.history, loader=state.train_loader)
        self.last_saved = path


class LRSchedulerCallback(Callback):
    """Step ``scheduler`` after every epoch (``interval="epoch"``) or every batch (``"step"``, e.g. OneCycleLR).

    A ``ReduceLROnPlateau`` is stepped with ``logs[monitor]`` (``val_loss``, or ``loss`` when absent).
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss") -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def _step(self, logs: dict[str, float]) -> None:
        from minidl.optim.lr_scheduler import ReduceLROnPlateau

        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(logs[self.monitor] if self.monitor in logs else logs["loss"])
        else:
            self.scheduler.step()

    def on_batch_end(self, state: Any, batch: int, logs: dict[str, float]) -> None:
        if self.interval == "step":
            self._step(logs)

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        if self.interval == "epoch":
            self._step(logs)


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` from 1, then every log) to a CSV file, flushed each epoch.

    ``append=True`` continues an existing file (when resuming) instead of starting a new one.
    """

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False) -> None:
        self.filename, self.separator, self.append = Path(filename), separator, append
        self._file: Any = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, state: Any) -> None:
        exists = self.append and self.filename.exists() and self.filename.stat().st_size > 0
        if exists:
            with open(self.filename, newline="") as f:
                self._keys = next(csv.reader(f, delimiter=self.separator))[1:]
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115 (closed at end)

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        if self._keys is None:
            self._keys = list(logs)
        self._writer = self._writer or csv.writer(self._file, delimiter=self.separator)
        if self._file.tell() == 0:
            self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([state.epoch + 1, *(logs.get(k, "") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, state: Any) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, state: Any, batch: int, logs: dict[str, float]) -> None:
        if not math.isfinite(logs["loss"]):
            state.stop_training = True
            state.progress.message(f"Epoch {state.epoch + 1}, batch {batch + 1}: the loss is {logs['loss']}; "
                                   f"terminating training")
