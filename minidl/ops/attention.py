"""Scaled dot-product attention, the core of every transformer.

For queries q (..., L, E), keys k (..., S, E) and values v (..., S, Ev):

    s = scale * q k^T + mask          (..., L, S)   scale = 1/sqrt(E) unless given
    p = softmax(s) along S            each query's weights over the keys, summing to 1
    out = dropout(p) v                (..., L, Ev)

``mask`` is additive: 0 where a key may be attended, -inf where it may not (a boolean mask is turned
into that: True = allowed, as in PyTorch). ``is_causal`` forbids query i to see keys j > i.

Backward (g = dL/dout, pd = dropout(p), m = the dropout multiplier, 0 or 1/(1-p_drop)):

    dL/dv = pd^T g
    dL/dp = (g v^T) * m
    dL/ds = p * (dL/dp - sum_S(dL/dp * p))          (softmax backward, row by row)
    dL/dq = scale * dL/ds k,      dL/dk = scale * dL/ds^T q

Forward and backward are the kernels ``attention_forward``/``attention_backward`` of the backend
contract. The NumPy reference forms the whole score matrix: it keeps p for backward, which costs
O(B * H * L * S) memory (a GPU backend may keep only the row log-sum-exps and recompute p). Rows whose
keys are all masked give 0 instead of NaN. The backward is another node,
``ScaledDotProductAttentionBackward`` (the kernel); its own gradient (double backward) differentiates
the composite definition, ``attention_weights`` and a matmul in minidl ops, twice (``minidl/ops/fused.py``).

>>> import minidl
>>> q = k = v = minidl.ones(1, 3, 4)
>>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
minidl.Size([1, 3, 4])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.autograd import Function
from minidl.errors import shape_error
from minidl.ops.elementwise import mask
from minidl.ops.fused import FusedBackward
from minidl.ops.matmul import matmul
from minidl.ops.shape import swapaxes
from minidl.ops.softmax import softmax
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor

#: stands in for -inf where a masked score must stay finite (the op-composed path): exp() of it is 0
_MASKED = -1e30


def _masked_score(dtype: Any) -> float:
    """``_MASKED``, or half the most negative finite value of a narrower dtype (float16: -32752, since
    -1e30 would round to -inf there), so that a score plus it stays finite and its exp() is still 0."""
    return max(_MASKED, float(np.finfo(dtype).min) / 2)


class ScaledDotProductAttention(Function):
    """out = dropout(softmax(scale q k^T + mask)) v; ``mask`` and the dropout multiplier ``keep`` are constants."""
    autocast = "lower"  # under minidl.amp.autocast (see minidl/amp/autocast.py)

    uses_outputs = True  # the backward kernel reads the output

    def __init__(self, mask: Any, scale: float, is_causal: bool, keep: Any) -> None:
        self.mask, self.scale, self.is_causal, self.keep = mask, scale, is_causal, keep

    def forward(self, q, k, v):
        out, state = self.backend.attention_forward(q, k, v, self.mask, self.scale, self.is_causal, self.keep)
        self.save_for_backward(state)  # the kernel's choice: p, or the row log-sum-exps on a GPU
        return out

    def backward(self, gout):
        (state,) = self.saved_tensors
        return ScaledDotProductAttentionBackward(self, self.output().array, state)(gout, *self.inputs)


class ScaledDotProductAttentionBackward(FusedBackward):
    """(dL/dq, dL/dk, dL/dv) from gout, q, k, v by the ``attention_backward`` kernel (module docstring);
    its own gradient is the second derivative of ``composite``, attention written with minidl ops."""

    wrt = (0, 1, 2)

    def __init__(self, op: ScaledDotProductAttention, out: Any, state: Any) -> None:
        self.mask, self.scale, self.is_causal, self.keep = op.mask, op.scale, op.is_causal, op.keep
        self.out, self.state = out, state  # the forward's output and kernel state, read by the kernel

    def forward(self, gout, q, k, v):
        return self.backend.attention_backward(gout, q, k, v, self.out, self.state, self.mask, self.scale,
                                               self.is_causal, self.keep)

    def composite(self, q, k, v):
        p = attention_weights(q, k, self.mask, self.is_causal, self.scale)
        return matmul(p if self.keep is None else mask(p, self.keep), v)


# --------------------------------------------------------------------------- helpers
def additive_mask(mask: Any, like: Tensor) -> Any:
    """``mask`` (Tensor or array, boolean or float) as an additive float array of ``like``'s dtype and
    backend: a boolean True (allowed) becomes 0 and False becomes -inf; a float mask is used as given."""
    if mask is None:
        return None
    be, xp = like.backend, like.backend.xp
    array = mask.array if isinstance(mask, Tensor) else be.asarray(mask)
    if array.dtype == bool:
        return xp.where(array, 0.0, -xp.inf).astype(like.dtype)
    return array.astype(like.dtype, copy=False)


def attention_weights(q: Tensor, k: Tensor, mask: Any = None, is_causal: bool = False,
                      scale: float | None = None) -> Tensor:
    """p = softmax(scale q k^T + mask) as minidl ops (differentiable to any order); ``mask`` is additive.

    Masked scores are set to a large negative finite number, so that a row whose keys are all masked
    gives weights 0 (not NaN). This is what ``MultiheadAttention`` returns with ``need_weights=True``.
    """
    xp = q.backend.xp
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = matmul(q, swapaxes(k, -1, -2)) * scale
    L, S = s.shape[-2], s.shape[-1]
    bias = mask
    if is_causal:
        causal = xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -xp.inf).astype(q.dtype)
        bias = causal if bias is None else bias + causal
    if bias is None:
        return softmax(s, -1)
    allowed = xp.isfinite(bias)
    p = softmax(s + Tensor._wrap(xp.where(allowed, bias, _masked_score(q.dtype)).astype(q.dtype), q.backend, False), -1)
    row_ok = allowed.any(axis=-1, keepdims=True)
    if not row_ok.all():
        p = p * Tensor._wrap(row_ok.astype(q.dtype), q.backend, False)
    return p


def dropout_multiplier(shape: tuple[int, ...], p: float, like: Tensor, generator: Generator | None = None) -> Any:
    """The inverted-dropout multiplier: 0 with probability p, else 1/(1-p), as an array like ``like``."""
    keep = get_generator(generator).uniform(shape) >= p
    return like.backend.asarray((keep / (1 - p)).astype(like.dtype))


# --------------------------------------------------------------------------- functional API
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 generator: Generator | None = None) -> Tensor:
    """Attention of ``query`` (..., L, E) over ``key`` (..., S, E) and ``value`` (..., S, Ev) -> (..., L, Ev).

    ``attn_mask``: boolean (True = may attend) or additive float, broadcasting to (..., L, S); it is a
    constant (no gradient flows into a float mask). ``is_causal``: query i sees keys j <= i (combined
    with ``attn_mask`` when both are given). ``dropout_p`` drops attention weights (always, like
    PyTorch's functional form: pass 0.0 in evaluation). Like ``torch.nn.functional.scaled_dot_product_attention``.
    """
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise shape_error("scaled_dot_product_attention", q.shape, k.shape, v.shape,
                          expected="query (..., L, E), key (..., S, E), value (..., S, Ev)")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise shape_error("scaled_dot_product_attention", q.shape, k.shape, v.shape,
                          expected="query and key with one embedding size E, key and value with one length S")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise shape_error("scaled_dot_product_attention", q.shape, k.shape, v.shape,
                          expected="batch dimensions that broadcast") from None
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    mask = additive_mask(attn_mask, q)
    if mask is not None:
        try:
            fits = np.broadcast_shapes(mask.shape, batch + (L, S)) == batch + (L, S)
        except ValueError:
            fits = False
        if not fits:
            raise shape_error("scaled_dot_product_attention", mask.shape,
                              expected=f"an attn_mask that broadcasts to {batch + (L, S)}")
    keep = dropout_multiplier(batch + (L, S), dropout_p, q, generator) if dropout_p > 0 else None
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention(mask, scale, bool(is_causal), keep)(q, k, v)
