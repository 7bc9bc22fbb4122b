"""Gradient clipping and flattening parameters into one vector (``torch.nn.utils`` names); pruning in
:mod:`minidl.nn.utils.prune` (``torch.nn.utils.prune``).

Clipping keeps one bad batch from throwing the weights far away (exploding gradients in RNNs, the
first steps of a transformer). Call it between ``loss.backward()`` and ``optimizer.step()``::

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

>>> import minidl, minidl.nn as nn
>>> w = minidl.tensor([3.0, 4.0], requires_grad=True)
>>> (w * w).sum().backward()               # grad = [6, 8], norm 10
>>> float(clip_grad_norm_([w], max_norm=5.0))
10.0
>>> [round(g, 4) for g in w.grad.tolist()]  # scaled by 5 / (10 + 1e-6)
[3.0, 4.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from minidl.creation import tensor
from minidl.nn.utils import prune  # noqa: F401  (torch.nn.utils.prune)
from minidl.ops.shape import cat
from minidl.tensor import Tensor

TensorsT = Tensor | Iterable[Tensor]


def _grads(parameters: TensorsT) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _norm(array: object, xp: object, norm_type: float) -> float:
    """The ``norm_type``-norm of one array, as a Python float (computed in float64)."""
    a = xp.abs(array.astype(np.float64, copy=False)).ravel()
    if a.size == 0:
        return 0.0
    if norm_type == math.inf:
        return float(a.max())
    if norm_type == 2.0:
        return float(xp.sqrt(xp.dot(a, a)))
    return float((a**norm_type).sum() ** (1.0 / norm_type))


def clip_grad_norm_(parameters: TensorsT, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``; return that norm.

    The total norm is the norm of the vector of every gradient entry, ``||(g_1, ..., g_n)||_p``, which is the
    norm of the per-tensor norms. Each gradient is multiplied in place by ``min(1, max_norm / (total + 1e-6))``.
    With ``error_if_nonfinite=True`` a NaN or infinite total norm raises instead of spreading NaN to the
    gradients. ``norm_type`` may be ``float("inf")`` (the largest absolute entry).
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    norms = [_norm(g.array, g.backend.xp, norm_type) for g in grads]
    if norm_type == math.inf:
        total = max(norms)
    else:
        total = float(np.sum(np.asarray(norms) ** norm_type) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
                           f"so they cannot be clipped; set error_if_nonfinite=False to clip anyway (the "
                           f"gradients then become NaN)")
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # also when coef is NaN: like PyTorch, NaN then spreads to every gradient
        for g in grads:
            g.array *= coef
    return tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters: TensorsT, clip_value: float) -> None:
    """Clamp every gradient entry, in place, into ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.backend.xp.clip(g.array, -clip_value, clip_value, out=g.array)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-d tensor (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place (the inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-d Tensor, got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {total}")
    start = 0
    for p in params:
        chunk = vec.array[start:start + p.numel()].reshape(p.shape)
        p.array[...] = p.backend.asarray(vec.backend.to_numpy(chunk) if p.backend is not vec.backend else chunk)
        start += p.numel()
