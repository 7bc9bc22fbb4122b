"""Keras-style convenience: ``model.compile(...)`` then ``model.fit(x, y)``, ``evaluate``, ``predict``.

For readers coming from Keras. ``Sequential`` here *is* an ``nn.Sequential`` (same layers, parameters,
``state_dict``) with four more methods; they only gather arguments and call the PyTorch-style functions
of ``minidl.train``, which stay the first-class way to train. Arrays are batched (and shuffled each
epoch) for you.

>>> import numpy as np, minidl, minidl.nn as nn
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((200, 2)).astype(np.float32); y = (x.sum(1) > 0).astype(np.int64)
>>> model = Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
>>> model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], lr=0.01)
>>> history = model.fit(x, y, epochs=20, batch_size=32, validation_split=0.2, verbose=False, seed=0)
>>> model.evaluate(x, y)["accuracy"] > 0.95
True

Losses follow PyTorch, not Keras: ``"cross_entropy"`` takes *logits* (no softmax layer at the end).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minidl import nn, optim
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor
from minidl.train.loop import History, evaluate, fit, predict

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
              "adagrad": optim.Adagrad}
LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss, "sparse_categorical_crossentropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss, "mse": nn.MSELoss, "mean_squared_error": nn.MSELoss, "mae": nn.L1Loss, "l1": nn.L1Loss,
    "mean_absolute_error": nn.L1Loss, "bce": nn.BCELoss, "binary_crossentropy": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss, "huber": nn.HuberLoss, "smooth_l1": nn.SmoothL1Loss,
}


class _Batches:
    """``(x[idx], y[idx])`` batches of arrays or Tensors, in a new random order each epoch when ``shuffle``."""

    def __init__(self, x: Any, y: Any, batch_size: int, shuffle: bool, generator: Generator | None) -> None:
        self.x, self.y, self.batch_size, self.shuffle, self.generator = x, y, batch_size, shuffle, generator

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Any:
        n = len(self.x)
        order = get_generator(self.generator).permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield (self.x[idx], self.y[idx]) if self.y is not None else (self.x[idx],)


def _is_data(x: Any) -> bool:
    return isinstance(x, np.ndarray | Tensor)


class KerasModel:
    """Mixin for a Module: ``compile``, then ``fit`` / ``evaluate`` / ``predict`` on arrays or loaders."""

    def compile(self, optimizer: str | optim.Optimizer = "adam", loss: Any = "cross_entropy",
                metrics: Iterable[Any] = (), **optimizer_kwargs: Any) -> None:
        """Choose the optimizer (a name with its keyword arguments, e.g. ``lr=0.01``, or an Optimizer made
        on ``model.parameters()``), the loss (a name, a loss Module or a function) and the metrics."""
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZERS:
                raise ValueError(f"compile: unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
            optimizer = OPTIMIZERS[optimizer.lower()](self.parameters(), **optimizer_kwargs)
        elif optimizer_kwargs:
            raise TypeError("compile: optimizer keyword arguments need an optimizer given by name")
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(f"compile: unknown loss {loss!r}; known: {', '.join(LOSSES)}")
            loss = LOSSES[loss]()
        # A plain dict: a loss Module stored as an attribute would become a child (and a layer of Sequential).
        self._compiled = {"optimizer": optimizer, "loss": loss, "metrics": list(metrics)}

    def _config(self) -> dict[str, Any]:
        config = self.__dict__.get("_compiled")
        if config is None:
            raise RuntimeError(f"{type(self).__name__}: call model.compile(optimizer=..., loss=...) before fit, "
                               f"evaluate or predict")
        return config

    def fit(self, x: Any, y: Any = None, batch_size: int = 32, epochs: int = 1, validation_data: Any = None,
            validation_split: float = 0.0, shuffle: bool = True, callbacks: Iterable[Any] = (),
            scheduler: Any = None, verbose: bool = True, seed: int | None = None, initial_epoch: int = 0) -> History:
        """Train on arrays ``x, y`` (or a loader ``x``); ``validation_split`` holds out the *last* samples."""
        config = self._config()
        val = validation_data
        if _is_data(x):
            if validation_split:
                cut = int(len(x) * (1 - validation_split))
                x, y, val = x[:cut], y[:cut], (x[cut:], y[cut:])
            generator = Generator(seed) if seed is not None else None
            x = _Batches(x, y, batch_size, shuffle, generator)
        if isinstance(val, tuple) and _is_data(val[0]):
            val = _Batches(val[0], val[1], batch_size, False, None)
        return fit(self, config["loss"], config["optimizer"], x, epochs, val_loader=val, metrics=config["metrics"],
                   callbacks=callbacks, scheduler=scheduler, verbose=verbose, initial_epoch=initial_epoch)

    def evaluate(self, x: Any, y: Any = None, batch_size: int = 32) -> dict[str, float]:
        """``{"loss": ..., "<metric>": ...}`` over arrays ``x, y`` or a loader ``x``."""
        config = self._config()
        loader = _Batches(x, y, batch_size, False, None) if _is_data(x) else x
        return evaluate(self, config["loss"], loader, config["metrics"])

    def predict(self, x: Any, batch_size: int = 32) -> Tensor:
        """Outputs for every sample of ``x`` (an array, a Tensor or a loader), concatenated."""
        return predict(self, x, batch_size=batch_size)


class Sequential(KerasModel, nn.Sequential):
    """``nn.Sequential`` with ``compile`` / ``fit`` / ``evaluate`` / ``predict`` (see the module docstring)."""
