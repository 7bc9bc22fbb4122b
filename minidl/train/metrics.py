"""Metrics for the fit loop: accumulated over an epoch's batches, then computed once.

A metric sees every batch's model output and target (as numpy arrays on the host) through
``update``, and gives the epoch's value with ``compute``. Counting correct predictions and dividing once
at the end gives the exact accuracy over the epoch, even when the last batch is smaller.

>>> import numpy as np
>>> acc = get_metric("accuracy")
>>> acc.update(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))  # predictions 0 and 1
>>> acc.update(np.array([[0.0, 1.0]]), np.array([1]))
>>> acc.compute()
0.6666666666666666

``metrics=`` of ``fit`` takes names (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"mae"``), Metric
instances, or plain functions ``fn(output, target) -> float`` (averaged over samples).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class Metric:
    """Base class: ``reset()``, ``update(output, target)`` per batch, ``compute() -> float`` per epoch."""

    name = "metric"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


def _labels(output: np.ndarray, target: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true class labels from logits/probabilities and indices/one-hot targets."""
    if output.ndim == target.ndim + 1:  # (N, C, ...) scores and (N, ...) class indices: PyTorch's layout
        return output.argmax(axis=1), target
    if output.shape == target.shape and output.ndim >= 2 and output.shape[1] > 1:  # one-hot or soft targets
        return output.argmax(axis=1), target.argmax(axis=1)
    # binary: one score per sample; logits (values outside [0, 1]) go through a sigmoid first
    scores = output.reshape(target.shape) if output.size == target.size else output
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        scores = 1 / (1 + np.exp(-scores))
    return (scores > threshold).astype(np.int64), target.astype(np.int64)


class Accuracy(Metric):
    """Fraction of correct predictions: argmax over the class axis (axis 1), or ``score > threshold``
    for one score per sample (a sigmoid is applied first to logits, like torchmetrics)."""

    name = "accuracy"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        pred, true = _labels(output, target, self.threshold)
        self.total += float((pred == true).sum())
        self.count += true.size


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` highest scores (output (N, C), target (N,))."""

    def __init__(self, k: int = 5) -> None:
        self.k, self.name = k, f"top{k}_accuracy"
        super().__init__()

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        top = np.argpartition(-output, min(self.k, output.shape[1]) - 1, axis=1)[:, :self.k]
        self.total += float((top == target.reshape(-1, 1)).any(axis=1).sum())
        self.count += target.shape[0]


class MeanSquaredError(Metric):
    """Mean of ``(output - target)^2`` over every element."""

    name = "mse"

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        self.total += float(np.square(output.reshape(target.shape) - target).sum())
        self.count += target.size


class MeanAbsoluteError(Metric):
    """Mean of ``|output - target|`` over every element."""

    name = "mae"

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        self.total += float(np.abs(output.reshape(target.shape) - target).sum())
        self.count += target.size


class FunctionMetric(Metric):
    """Wrap ``fn(output, target) -> float`` (a batch mean), averaged over samples weighted by batch size."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], float], name: str | None = None) -> None:
        self.fn, self.name = fn, name or getattr(fn, "__name__", "metric")
        super().__init__()

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        n = len(target) if np.ndim(target) else 1
        self.total += float(self.fn(output, target)) * n
        self.count += n


_NAMES: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get_metric(metric: str | Metric | Callable[..., float]) -> Metric:
    """A fresh Metric from a name, a Metric (returned as is) or a function ``fn(output, target)``."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        if metric.startswith("top") and metric.endswith("_accuracy") and metric[3:-9].isdigit():
            return TopKAccuracy(int(metric[3:-9]))
        if metric not in _NAMES:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(_NAMES)}, topK_accuracy "
                             f"(e.g. 'top5_accuracy'), a Metric instance or a function fn(output, target)")
        return _NAMES[metric]()
    if callable(metric):
        return FunctionMetric(metric)
    raise TypeError(f"a metric must be a name, a Metric or a function, got {type(metric).__name__}")


def to_numpy(value: Any) -> np.ndarray:
    """A batch's output or target on the host, without tracking gradients."""
    if hasattr(value, "backend") and hasattr(value, "data"):  # a minidl Tensor
        return np.asarray(value.backend.to_numpy(value.array))
    return np.asarray(value)
