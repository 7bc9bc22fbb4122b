"""Loss functions (PyTorch names, arguments and reductions).

The workhorse is the fused softmax cross-entropy, a kernel of the contract. For logits x (N, C)
and class indices t (N,):

    lse_i  = log sum_j exp(x_ij)            (computed as m + log sum exp(x - m), m = max_j x_ij)
    loss_i = lse_i - x_{i, t_i}             = -log softmax(x_i)[t_i]
    dloss_i/dx_ij = softmax(x_i)_j - [j == t_i]

so the forward keeps one number per row (lse) and never a (N, C) probability matrix, and nothing
overflows even for logits of +-1e4. The backward is itself an op (``SoftmaxCrossEntropyBackward``)
whose own gradient is written with minidl ops, so double backward works:

    gx_ij = g_i (p_ij - y_ij)   =>  d/dg_i = sum_j G_ij (p_ij - y_ij),
                                    d/dx_ij = g_i p_ij (G_ij - sum_k p_ik G_ik)

Every other loss is a short composition of differentiable ops. ``reduction`` is ``"mean"`` (default),
``"sum"`` or ``"none"``.

>>> import minidl
>>> from minidl.ops.loss import cross_entropy
>>> logits = minidl.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1e4]])
>>> round(float(cross_entropy(logits, minidl.tensor([0, 2]))), 4)
0.1198
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Function
from minidl.errors import DTypeError, shape_error
from minidl.ops.activation import softplus
from minidl.ops.elementwise import abs, clip, log, mask, where
from minidl.ops.index import take_along_axis
from minidl.ops.reduce import logsumexp
from minidl.ops.shape import permute, reshape
from minidl.ops.softmax import log_softmax, softmax
from minidl.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


class SoftmaxCrossEntropy(Function):
    """loss_i = logsumexp(x_i) - x[i, t_i] for logits (N, C); the targets are a constant."""
    autocast = "float32"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    def __init__(self, target: Any, ignore_index: int) -> None:
        self.target, self.ignore_index = target, ignore_index

    def forward(self, x):
        loss, lse = self.backend.softmax_cross_entropy(x, self.target, self.ignore_index)
        self.save_for_backward(lse)  # log-sum-exp of each row: softmax(x) = exp(x - lse) in backward
        return loss

    def backward(self, gloss):
        (lse,) = self.saved_tensors
        return SoftmaxCrossEntropyBackward(self.target, self.ignore_index, lse)(self.inputs[0], gloss)


class SoftmaxCrossEntropyBackward(Function):
    """gx = (softmax(x) - onehot(t)) * g[:, None] on the rows that are not ignored."""

    def __init__(self, target: Any, ignore_index: int, lse: Any) -> None:
        self.target, self.ignore_index, self.lse = target, ignore_index, lse

    def forward(self, x, gloss):
        return self.backend.softmax_cross_entropy_backward(x, self.target, self.lse, gloss, self.ignore_index)

    def backward(self, ggx):
        x, gloss = self.inputs
        xp = self.backend.xp
        valid = (self.target != self.ignore_index).astype(x.dtype)[:, None]
        onehot = (xp.arange(x.shape[1]) == self.target[:, None]).astype(x.dtype)
        p = softmax(x, -1)
        ggx = mask(ggx, valid)
        g_gloss = ((p - onehot) * ggx).sum(-1)
        pg = p * ggx
        g_x = reshape(gloss, -1, 1) * (pg - p * pg.sum(-1, keepdims=True))
        return g_x, g_gloss


def softmax_cross_entropy(logits: Tensor, target: Any, ignore_index: int = -100) -> Tensor:
    """Per-row losses ``-log softmax(logits)[i, target_i]`` for logits (N, C) and int targets (N,)."""
    t = _index_array(target, logits)
    if logits.ndim != 2 or t.shape != logits.shape[:1]:
        raise shape_error("softmax_cross_entropy", logits.shape, t.shape, expected="logits (N, C) and targets (N,)")
    return SoftmaxCrossEntropy(t, ignore_index)(logits)


# --------------------------------------------------------------------------- helpers
def _index_array(target: Any, like: Tensor) -> Any:
    if isinstance(target, Tensor):
        if target.backend.xp is not like.backend.xp or target.backend.is_gpu != like.backend.is_gpu:
            raise ValueError(f"loss: the target is on backend {target.backend.name!r}, "
                             f"the input on {like.backend.name!r} (another device)")
        array = target.array
    else:
        array = like.backend.asarray(target)
    if array.dtype.kind not in "iu":
        raise TypeError(f"loss: class-index targets must be integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_classes(op: str, t: Any, n_classes: int, ignore_index: int) -> None:
    bad = ((t < 0) | (t >= n_classes)) & (t != ignore_index)
    if bool(bad.any()):
        raise IndexError(f"{op}: target {int(t[bad][0])} is out of range for {n_classes} classes "
                         f"(expected 0 <= target < {n_classes} or target == ignore_index={ignore_index})")


def _rows(input: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N * d1 * ..., C): classes on the last axis, one row per prediction."""
    if input.ndim == 1:
        return reshape(input, 1, -1)
    if input.ndim == 2:
        return input
    return reshape(permute(input, 0, *range(2, input.ndim), 1), -1, input.shape[1])


def _reduce(loss: Tensor, reduction: str, op: str, denominator: Any = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / denominator if denominator is not None else loss.mean()
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _as_tensor(value: Any, like: Tensor) -> Tensor:
    """A target or weight as a tensor of ``like``'s dtype (float32 stays float32) and backend."""
    if isinstance(value, Tensor):
        return value if value.dtype == like.dtype else value.astype(like.dtype)
    return Tensor._wrap(like.backend.asarray(value, dtype=like.dtype), like.backend, False)


def _check_same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise shape_error(op, input.shape, target.shape, expected="input and target of the same shape")


# --------------------------------------------------------------------------- classification
def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits ``input`` (N, C, *) or (C,) and ``target``.

    * class indices (N, *) of ints:  l_n = -w[t_n] log softmax(x_n)[t_n]; "mean" divides by sum_n w[t_n]
      over the targets that are not ``ignore_index`` (the fused kernel computes -log softmax(x_n)[t_n]);
    * class probabilities (same shape as input):  l_n = -sum_c w_c t_nc log softmax(x_n)_c; "mean" divides
      by the number of predictions.

    ``label_smoothing`` = e mixes the target with the uniform distribution: (1 - e) t + e / C.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _rows(input)
    n_classes = x.shape[1]
    out_shape = (input.shape[0], *input.shape[2:]) if input.ndim > 1 else ()
    w = None if weight is None else _as_tensor(weight, input)
    if w is not None and w.shape != (n_classes,):
        raise shape_error("cross_entropy", w.shape, expected=f"a weight of shape ({n_classes},), one per class")
    if _is_float(target):  # class probabilities
        t = _as_tensor(target, input)
        if t.shape == out_shape and t.shape != input.shape:  # float class indices, e.g. labels of a float array
            raise DTypeError(f"cross_entropy: float targets of shape {t.shape} for input {input.shape}; class-index "
                             f"targets must be int64 (e.g. target.long()), class probabilities must have the "
                             f"input's shape {input.shape}")
        _check_same_shape("cross_entropy", input, t)
        t = _rows(t)
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / n_classes
        terms = log_softmax(x, -1) * t
        loss = -(terms * w if w is not None else terms).sum(-1)
        return _reduce(reshape(loss, *out_shape), reduction, "cross_entropy")

    t = _index_array(target, input)
    if t.shape != out_shape:
        raise shape_error("cross_entropy", input.shape, t.shape, expected=f"class-index targets of shape {out_shape}")
    t = t.reshape(-1)
    _check_classes("cross_entropy", t, n_classes, ignore_index)
    valid = t != ignore_index
    loss = SoftmaxCrossEntropy(t, ignore_index)(x)  # the fused kernel: 0 on ignored rows
    # w[t_n], 0 on ignored rows: a constant (no gradient flows to the class weights, as in PyTorch)
    w_t = w.array[t * valid] * valid if w is not None else valid.astype(x.dtype)
    if w is not None:
        loss = loss * Tensor._wrap(w_t, x.backend, False)
    if label_smoothing > 0:
        # smooth_n = -sum_c w_c log p_nc = lse_n sum_c w_c - sum_c w_c x_nc  (w_c = 1 without weights)
        if w is not None:
            smooth = logsumexp(x, -1) * w.sum() - (x * w).sum(-1)
        else:
            smooth = logsumexp(x, -1) * n_classes - x.sum(-1)
        smooth = mask(smooth, valid.astype(x.dtype))
        loss = loss * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)
    if reduction == "mean":
        return _reduce(loss, reduction, "cross_entropy", Tensor._wrap(w_t.sum(), x.backend, False))
    return _reduce(reshape(loss, *out_shape), reduction, "cross_entropy")


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *) at class indices ``target`` (N, *):
    l_n = -w[t_n] input[n, t_n]; "mean" divides by sum_n w[t_n] over targets that are not ``ignore_index``."""
    x = _rows(input)
    n_classes = x.shape[1]
    out_shape = (input.shape[0], *input.shape[2:]) if input.ndim > 1 else ()
    t = _index_array(target, input)
    if t.shape != out_shape:
        raise shape_error("nll_loss", input.shape, t.shape, expected=f"class-index targets of shape {out_shape}")
    t = t.reshape(-1)
    _check_classes("nll_loss", t, n_classes, ignore_index)
    valid = t != ignore_index
    safe = t * valid  # ignored rows read class 0, then get weight 0
    w_t = valid.astype(x.dtype)
    if weight is not None:
        w = _as_tensor(weight, input)
        if w.shape != (n_classes,):
            raise shape_error("nll_loss", w.shape, expected=f"a weight of shape ({n_classes},), one per class")
        w_t = w.array[safe] * w_t
    picked = reshape(take_along_axis(x, safe[:, None], 1), -1)
    loss = -mask(picked, w_t)
    if reduction == "mean":
        return _reduce(loss, reduction, "nll_loss", Tensor._wrap(w_t.sum(), x.backend, False))
    return _reduce(reshape(loss, *out_shape), reduction, "nll_loss")


def binary_cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """l = -w (t log p + (1 - t) log(1 - p)) for probabilities p = ``input``; each log is clamped at -100
    (as in PyTorch) so that p = 0 or 1 gives a finite loss (and a zero gradient there)."""
    t = _as_tensor(target, input)
    _check_same_shape("binary_cross_entropy", input, t)
    # log(max(p, 1e-45)) >= -103.6 (1e-45 is a float32 subnormal): log(0) is never taken; then clamp at -100.
    loss = -(t * clip(log(clip(input, 1e-45)), -100.0) + (1 - t) * clip(log(clip(1 - input, 1e-45)), -100.0))
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """BCE of sigmoid(x) computed from the logits x, stably:
    l = w (pw t softplus(-x) + (1 - t) softplus(x)),  as -log sigmoid(x) = softplus(-x) and
    -log(1 - sigmoid(x)) = softplus(x); ``pos_weight`` pw (one per class, last axis) weighs the positives."""
    t = _as_tensor(target, input)
    _check_same_shape("binary_cross_entropy_with_logits", input, t)
    inf = float("inf")  # never switch softplus to its linear approximation: the loss stays exact
    pos = softplus(-input, threshold=inf) * t
    if pos_weight is not None:
        pos = pos * _as_tensor(pos_weight, input)
    loss = pos + softplus(input, threshold=inf) * (1 - t)
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# --------------------------------------------------------------------------- regression
def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """l = (x - t)^2."""
    t = _as_tensor(target, input)
    _check_same_shape("mse_loss", input, t)
    d = input - t
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """l = |x - t|  (gradient sign(x - t), 0 at 0)."""
    t = _as_tensor(target, input)
    _check_same_shape("l1_loss", input, t)
    return _reduce(abs(input - t), reduction, "l1_loss")


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """l = d^2 / 2 where |d| < delta, delta (|d| - delta / 2) elsewhere (d = x - t): quadratic near 0,
    linear (robust to outliers) far away."""
    t = _as_tensor(target, input)
    _check_same_shape("huber_loss", input, t)
    d = input - t
    a = abs(d)
    return _reduce(where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """l = d^2 / (2 beta) where |d| < beta, |d| - beta / 2 elsewhere (Huber divided by beta; L1 for beta = 0)."""
    t = _as_tensor(target, input)
    _check_same_shape("smooth_l1_loss", input, t)
    d = input - t
    a = abs(d)
    if beta == 0:
        return _reduce(a, reduction, "smooth_l1_loss")
    return _reduce(where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta), reduction, "smooth_l1_loss")


def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || q) pointwise, with ``input`` = log q:  l = t (log t - input)  (0 where t = 0);
    with ``log_target``:  l = e^t (t - input). Use ``reduction="batchmean"`` for the true KL divergence
    (sum divided by the batch size); "mean" divides by the number of elements, as in PyTorch."""
    t = _as_tensor(target, input)
    _check_same_shape("kl_div", input, t)
    if log_target:
        loss = t.exp() * (t - input)
    else:
        safe_t = where(t.array > 0, t, 1.0)  # log(1) = 0 where t = 0
        loss = t * (log(safe_t) - input)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim > 0 else 1)
    return _reduce(loss, reduction, "kl_div")


def _is_float(target: Any) -> bool:
    if isinstance(target, Tensor):
        return target.dtype.kind == "f"
    return np.asarray(target).dtype.kind == "f" if not hasattr(target, "__cuda_array_interface__") \
        else target.dtype.kind == "f"
