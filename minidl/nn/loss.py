"""Loss modules: each stores its settings and calls the function of the same name in
``minidl.ops.loss`` (where the formulas are), like PyTorch's ``nn.CrossEntropyLoss``.

>>> import minidl, minidl.nn as nn
>>> loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
>>> logits = minidl.zeros(4, 3, requires_grad=True)
>>> loss = loss_fn(logits, minidl.tensor([0, 1, 2, 1]))
>>> round(float(loss), 4)      # uniform predictions: log(3)
1.0986
>>> loss.backward(); logits.grad.shape
minidl.Size([4, 3])
"""

from __future__ import annotations

from typing import Any

from minidl.nn.module import Module
from minidl.ops import loss as L
from minidl.tensor import Tensor


def _buffer(value: Any) -> Tensor | None:
    """Class weights given as a list or numpy array become a (float32 unless float64) tensor."""
    return value if value is None or isinstance(value, Tensor) else Tensor(value)


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("none", "mean", "sum", "batchmean"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    """A loss with optional per-class weights, kept as a buffer (moved by ``.to()``, not saved)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight), persistent=False)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax + negative log-likelihood on logits (N, C, *), for class indices or class probabilities."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C, *) at class indices (N, *)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in (0, 1)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of sigmoid(logits), computed stably from the logits; ``pos_weight`` weighs positives."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", _buffer(pos_weight), persistent=False)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class MSELoss(_Loss):
    """Mean squared error (x - t)^2."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |x - t|."""

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """Quadratic for |x - t| < delta, linear beyond."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """Huber loss divided by ``beta``: quadratic for |x - t| < beta, |x - t| - beta / 2 beyond."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.smooth_l1_loss(input, target, self.reduction, self.beta)


class KLDivLoss(_Loss):
    """Pointwise KL divergence ``t (log t - input)`` for log-probabilities ``input``; use ``"batchmean"``."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return L.kl_div(input, target, self.reduction, self.log_target)
