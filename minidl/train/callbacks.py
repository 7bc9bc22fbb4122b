"""Callbacks: code that ``fit`` calls at fixed points of training, to watch it or steer it.

Every hook gets the ``FitState`` (model, optimizer, scheduler, epoch, history, ``stop_training``); the
batch and epoch hooks also get the logs (``{"loss": ..., "val_accuracy": ..., "lr": ...}`` per epoch).
Callbacks run in the order given, after ``fit``'s own ``scheduler``; at the end of an epoch every
``LRSchedulerCallback`` steps before the other callbacks, so that a checkpoint saves the stepped schedule.

A callback with something to resume (a ``ModelCheckpoint``'s best value) returns it from ``state_dict()``:
checkpoints store it under its ``state_key`` and ``load_checkpoint(..., callbacks=...)`` restores it.

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

from minidl.distributed.logs import is_rank_zero
from minidl.train.checkpoint import save_checkpoint


class Callback:
    """Base class: override the hooks you need (they do nothing by default)."""

    def on_train_begin(self, state: Any) -> None: ...

    def on_epoch_begin(self, state: Any) -> None: ...

    def on_batch_end(self, state: Any, batch: int, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None: ...

    def on_train_end(self, state: Any) -> None: ...

    @property
    def state_key(self) -> str:
        """The name this callback's state has in a checkpoint (unique among the callbacks of one run)."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs from this callback (nothing by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


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
                self.best_weights = {k: t.array.copy() for k, t in state.model.state_dict().items()}
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
                t.array[...] = self.best_weights[key]
            state.progress.message(f"Restored the weights of epoch {self.best_epoch + 1} "
                                   f"({self.monitor} {self.best:.4f})")


class ModelCheckpoint(Callback, _Monitor):
    """Save a checkpoint (``minidl.save``) at the end of epochs.

    ``filepath`` may hold fields of the logs: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"`` (``epoch`` counts
    from 1). ``save_best_only=True`` writes only when ``monitor`` improves on the best so far (the *best*
    model), starting from ``initial_value_threshold`` when given (Keras's argument); otherwise every epoch
    (the *last* one, or one file per epoch with ``{epoch}``). The file holds the model, and unless
    ``save_weights_only`` the optimizer, every scheduler of the run, epoch, history, random generators and
    the callbacks' states (the best values), which is what ``load_checkpoint`` needs to resume training
    bit-identically. Pass this callback to ``load_checkpoint(..., callbacks=[...])`` when resuming, so that
    a worse epoch after the resume cannot overwrite the best file.
    """

    def __init__(self, filepath: str | Path, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False, save_weights_only: bool = False, min_delta: float = 0.0,
                 initial_value_threshold: float | None = None) -> None:
        _Monitor.__init__(self, monitor, mode, min_delta)
        self.filepath, self.save_best_only, self.save_weights_only = str(filepath), save_best_only, save_weights_only
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)
        self.last_saved: Path | None = None
        self._tracked_epoch: int | None = None  # the last epoch whose value went into ``best``
        self._improved_epoch: int | None = None  # the last epoch that improved on ``best``

    @property
    def state_key(self) -> str:
        return f"ModelCheckpoint{{'monitor': {self.monitor!r}, 'mode': {self.mode!r}}}"

    def state_dict(self) -> dict[str, Any]:
        if not self.save_best_only:
            return {}
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the best value of the run that saved ``state`` (it replaces ``initial_value_threshold``)."""
        if (state.get("monitor"), state.get("mode")) != (self.monitor, self.mode):
            raise ValueError(f"ModelCheckpoint: the saved best is of {state.get('monitor')!r} (mode "
                             f"{state.get('mode')!r}); this callback expects {self.monitor!r} (mode {self.mode!r})")
        self.best = float(state["best"])

    def on_train_begin(self, state: Any) -> None:
        self._tracked_epoch = self._improved_epoch = None

    def _track(self, epoch: int, logs: dict[str, float]) -> None:
        """Take this epoch's value into ``best`` (once per epoch)."""
        if not self.save_best_only or self._tracked_epoch == epoch:
            return
        self._tracked_epoch = epoch
        value = _monitored(logs, self.monitor, "ModelCheckpoint")
        if self.improved(value):
            self.best, self._improved_epoch = value, epoch

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        # Every ModelCheckpoint of the run takes this epoch's value first, so that whichever saves stores the
        # best values *after* this epoch (also when a "last" checkpoint is listed before the "best" one).
        for cb in (*state.callbacks, self):
            if isinstance(cb, ModelCheckpoint):
                cb._track(state.epoch, logs)
        if self.save_best_only and self._improved_epoch != state.epoch:
            return
        if not is_rank_zero():  # under DDP every rank holds the same model: rank 0 writes it
            return
        path = Path(self.filepath.format(epoch=state.epoch + 1, **logs))
        if self.save_weights_only:
            from minidl.io import save

            save(state.model.state_dict(), path)
        else:
            save_checkpoint(path, state.model, state.optimizer, _schedulers(state), epoch=state.epoch + 1,
                            history=state.history, loader=state.train_loader,
                            callbacks=[cb for cb in state.callbacks if cb is not self] + [self])
        self.last_saved = path


def _schedulers(state: Any) -> Any:
    """The run's schedulers (None, one, or a list): ``fit``'s own first, then its ``LRSchedulerCallback``s'."""
    found = [cb.scheduler for cb in state.callbacks if isinstance(cb, LRSchedulerCallback)]
    if state.scheduler is not None and all(s is not state.scheduler for s in found):
        found.insert(0, state.scheduler)
    return found[0] if len(found) == 1 else found or None


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
        if not is_rank_zero():  # under DDP the logs are the same on every rank: rank 0 writes them
            return
        exists = self.append and self.filename.exists() and self.filename.stat().st_size > 0
        if exists:
            with open(self.filename, newline="") as f:
                self._keys = next(csv.reader(f, delimiter=self.separator))[1:]
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115 (closed at end)

    def on_epoch_end(self, state: Any, logs: dict[str, float]) -> None:
        if self._file is None:
            return  # not rank 0
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
