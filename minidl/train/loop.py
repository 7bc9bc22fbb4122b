"""The training loop: ``fit``, ``evaluate``, ``predict`` and the ``History`` they record.

``fit`` is the loop you would write by hand, once, with the details right::

    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with minidl.no_grad():
            ...  # validation

plus metrics accumulated exactly over each epoch, a learning-rate scheduler, callbacks (early stopping,
checkpoints, CSV logs) and a progress display.

>>> import numpy as np, minidl, minidl.nn as nn
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((64, 2)).astype(np.float32); Y = (X[:, 0] > 0).astype(np.int64)
>>> batches = [(X[i:i + 16], Y[i:i + 16]) for i in range(0, 64, 16)]
>>> model = nn.Linear(2, 2, generator=minidl.Generator(0))
>>> opt = minidl.optim.SGD(model.parameters(), lr=0.5)
>>> history = fit(model, nn.CrossEntropyLoss(), opt, batches, epochs=5, verbose=False)
>>> history["accuracy"][-1] > 0.9
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minidl.autograd import no_grad
from minidl.creation import as_tensor
from minidl.distributed.logs import average_logs, is_rank_zero
from minidl.nn.utils import clip_grad_norm_
from minidl.ops.shape import cat
from minidl.optim.optimizer import Optimizer
from minidl.tensor import Tensor
from minidl.train.metrics import Metric, get_metric, to_numpy
from minidl.train.progress import Progress


class History:
    """Per-epoch logs: ``history["val_loss"]`` is a list with one value per epoch; ``history.epoch`` the epochs."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [math.nan] * (len(self.epoch) - 1)).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self) -> list[str]:
        return list(self.history)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={self.keys()})"

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()}, "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]

    def plot(self, path: str | Path, keys: Sequence[str] | None = None) -> Path:
        """Write a PNG of the learning curves (``minidl.train.plot.plot_history``; needs matplotlib)."""
        from minidl.train.plot import plot_history

        return plot_history(self, path, keys)


@dataclass
class FitState:
    """What callbacks see: the objects being trained and where the loop is (``epoch`` counts from 0)."""

    model: Any
    optimizer: Optimizer | None
    scheduler: Any = None
    epochs: int = 0
    epoch: int = 0
    history: History = field(default_factory=History)
    train_loader: Any = None
    progress: Progress = field(default_factory=lambda: Progress(False))
    stop_training: bool = False
    callbacks: list[Any] = field(default_factory=list)  # all of them, fit's scheduler callback first


# ----------------------------------------------------------------------------- batches
def _param_dtype(model: Any) -> Any:
    for p in getattr(model, "parameters", lambda: [])():
        if p.dtype.kind == "f":
            return p.dtype
    return np.float32


def _as_input(value: Any, dtype: Any) -> Any:
    """numpy arrays become Tensors (floating ones cast to the model's dtype); Tensors pass unchanged."""
    if isinstance(value, np.ndarray):
        return as_tensor(value, dtype=dtype if value.dtype.kind == "f" else None)
    return value


def _split(batch: Any, dtype: Any) -> tuple[Any, Any]:
    """``(x, y)`` from a batch; ``y`` is None for input-only batches (``predict``)."""
    if isinstance(batch, tuple | list):
        if len(batch) == 2:
            return _as_input(batch[0], dtype), _as_input(batch[1], dtype)
        if len(batch) == 1:
            return _as_input(batch[0], dtype), None
        raise ValueError(f"a batch must be (x, y) or (x,); got a {type(batch).__name__} of {len(batch)} items")
    return _as_input(batch, dtype), None


def _batch_size(x: Any) -> int:
    return int(x.shape[0]) if getattr(x, "ndim", 0) else 1


def _metrics(metrics: Iterable[Any]) -> list[Metric]:
    out = [get_metric(m) for m in metrics]
    for m in out:
        m.reset()
    return out


# ----------------------------------------------------------------------------- evaluate / predict
def evaluate(model: Any, loss_fn: Any, loader: Iterable[Any],
             metrics: Iterable[Any] = ("accuracy",)) -> dict[str, float]:
    """Mean loss (if ``loss_fn`` is given) and metrics over ``loader``, in eval mode and without a graph.

    The model's previous mode (train or eval) is restored afterwards.
    """
    was_training = getattr(model, "training", False)
    meters = _metrics(metrics)
    total, count = 0.0, 0
    dtype = _param_dtype(model)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            for batch in loader:
                x, y = _split(batch, dtype)
                out = model(x)
                n = _batch_size(x)
                if loss_fn is not None:
                    total += float(loss_fn(out, y).item()) * n
                count += n
                if meters:
                    out_np, y_np = to_numpy(out), to_numpy(y)
                    for m in meters:
                        m.update(out_np, y_np)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    logs = {"loss": total / count if count else math.nan} if loss_fn is not None else {}
    logs.update({m.name: m.compute() for m in meters})
    return average_logs(logs, count)  # under DDP: over every rank's samples


def predict(model: Any, data: Any, batch_size: int | None = None) -> Tensor:
    """The model's outputs for every sample, concatenated along axis 0 (eval mode, no graph).

    ``data``: a Tensor or numpy array (split into ``batch_size`` chunks, all at once when None), or an
    iterable of batches ``x``, ``(x,)`` or ``(x, y)`` (``y`` is ignored).
    """
    if isinstance(data, Tensor | np.ndarray):
        n = len(data)
        step = batch_size or max(n, 1)
        data = [data[i:i + step] for i in range(0, n, step)]
    was_training = getattr(model, "training", False)
    dtype = _param_dtype(model)
    outputs = []
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            for batch in data:
                outputs.append(model(_split(batch, dtype)[0]))
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    if not outputs:
        raise ValueError("predict: no batches")
    return outputs[0] if len(outputs) == 1 else cat(outputs, 0)


# ----------------------------------------------------------------------------- fit
def fit(model: Any, loss_fn: Any, optimizer: Optimizer, train_loader: Iterable[Any], epochs: int = 1,
        val_loader: Iterable[Any] | None = None, metrics: Iterable[Any] = ("accuracy",), callbacks: Iterable[Any] = (),
        scheduler: Any = None, verbose: bool = True, *, initial_epoch: int = 0,
        clip_grad_norm: float | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the ``History`` of per-epoch logs.

    Args:
        loss_fn: ``loss_fn(output, y) -> scalar Tensor`` (e.g. ``nn.CrossEntropyLoss()``).
        train_loader: an iterable of ``(x, y)`` batches (Tensors or numpy arrays; floating numpy arrays are
            cast to the model's parameter dtype), iterated once per epoch.
        val_loader: the same for validation (optional).
        metrics: names, ``Metric`` objects or functions; logged as ``accuracy`` and ``val_accuracy``, ...
            With ``metrics=()`` the model's output may be anything ``loss_fn`` reads (a tuple such as an
            LSTM's ``(logits, state)``).
        callbacks: ``minidl.train.callbacks`` objects (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
        scheduler: stepped once per epoch, after validation; a ``ReduceLROnPlateau`` gets ``val_loss``
            (``loss`` without validation). For per-batch schedules use ``LRSchedulerCallback(s, "step")``.
            Schedulers step before the other callbacks' ``on_epoch_end``, so checkpoints save them stepped.
        verbose: progress per epoch (a tqdm bar in a terminal, one line per epoch otherwise).
        initial_epoch: the epoch to start from when resuming (see ``load_checkpoint``).
        clip_grad_norm: if given, ``nn.utils.clip_grad_norm_`` to this norm before each step.

    Logs per epoch: ``loss``, each metric, ``val_loss`` and ``val_<metric>`` with a val_loader, and ``lr``
    (the first group's learning rate during the epoch).

    Under ``minidl.distributed`` (a ``DistributedDataParallel`` model, loaders with a ``DistributedSampler``):
    the logs are averaged over the ranks (weighted by their sample counts), so every rank sees the same
    values; progress is shown and callbacks write files (checkpoints, CSV) on rank 0 only; the train
    loader's sampler gets ``set_epoch(epoch)`` before each epoch, so a resumed run shuffles as the
    uninterrupted one, on any world size with the same global batch. ``evaluate`` averages likewise.
    """
    from minidl.train.callbacks import LRSchedulerCallback

    progress = Progress(verbose and is_rank_zero())
    state = FitState(model, optimizer, scheduler, epochs, initial_epoch, History(), train_loader, progress)
    callbacks = list(callbacks)
    if scheduler is not None:
        callbacks.insert(0, LRSchedulerCallback(scheduler))
    state.callbacks = callbacks
    # at the end of an epoch the schedulers step first, so that checkpoints save the stepped schedule
    epoch_end_order = sorted(callbacks, key=lambda cb: not isinstance(cb, LRSchedulerCallback))
    dtype = _param_dtype(model)
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        for epoch in range(initial_epoch, epochs):
            state.epoch = epoch
            if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):  # DistributedSampler
                train_loader.sampler.set_epoch(epoch)
            for cb in callbacks:
                cb.on_epoch_begin(state)
            lr = optimizer.param_groups[0]["lr"]
            start = time.perf_counter()
            progress.epoch_start(epoch, epochs, len(train_loader) if hasattr(train_loader, "__len__") else None)
            logs, steps = _train_epoch(state, loss_fn, metrics, callbacks, dtype, clip_grad_norm)
            train_seconds = time.perf_counter() - start
            if val_loader is not None:
                logs.update({f"val_{k}": v for k, v in evaluate(model, loss_fn, val_loader, metrics).items()})
            logs["lr"] = lr
            state.history.append(epoch, logs)
            progress.epoch_end(logs, steps, train_seconds, time.perf_counter() - start)
            for cb in epoch_end_order:
                cb.on_epoch_end(state, logs)
            if state.stop_training:
                break
    finally:
        progress.close()
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history


def _train_epoch(state: FitState, loss_fn: Any, metrics: Iterable[Any], callbacks: list[Any], dtype: Any,
                 clip_grad_norm: float | None) -> tuple[dict[str, float], int]:
    model, optimizer = state.model, state.optimizer
    model.train()
    meters = _metrics(metrics)
    total, count, steps = 0.0, 0, 0
    for step, batch in enumerate(state.train_loader):
        x, y = _split(batch, dtype)
        if y is None:
            raise ValueError("fit: the training loader must yield (x, y) batches")
        out = model(x)
        loss = loss_fn(out, y)
        optimizer.zero_grad()
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        value, n = float(loss.item()), _batch_size(x)
        total, count, steps = total + value * n, count + n, steps + 1
        if meters:  # metrics=() lets a model return what only its loss_fn reads (a tuple, a state)
            out_np, y_np = to_numpy(out.detach()), to_numpy(y)
            for m in meters:
                m.update(out_np, y_np)
        state.progress.batch_end({"loss": total / count})
        for cb in callbacks:
            cb.on_batch_end(state, step, {"loss": value, "size": n})
        if state.stop_training:
            break
    if count == 0:
        raise ValueError("fit: the training loader yielded no batches")
    logs = {"loss": total / count}
    logs.update({m.name: m.compute() for m in meters})
    return average_logs(logs, count), steps
