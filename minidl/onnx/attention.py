"""Attention as ONNX ops: ``MultiheadAttention`` decomposed into MatMul, Softmax, Reshape and Transpose.

    q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv          (N, L, E) each
    heads:   (N, L, E) -> Reshape (N, L, H, d) -> Transpose (N, H, L, d)
    p = Softmax(q k^T * scale + mask)                         (N, H, L, S)
    out = (p v) -> Transpose (N, L, H, d) -> Reshape (N, L, E) -> out_proj

Masks follow ``MultiheadAttention``: a boolean ``attn_mask`` / ``key_padding_mask`` is True where a
query may *not* attend (it becomes -inf), a float mask is added; ``is_causal`` adds the causal mask of
the traced lengths. A mask the model gets as an input stays an input; any other mask is a constant.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.onnx.graph import host
from minidl.tensor import Tensor


def attention(g: Any, q: str, k: str, v: str, rank: int, scale: float, mask: str | None,
              causal: tuple[int, int] | None, dtype: Any) -> tuple[str, str]:
    """(softmax(q k^T * scale + mask) v, the weights) for q (..., L, d), k and v (..., S, d)."""
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    s = g.node("Mul", [g.node("MatMul", [q, g.transpose(k, perm)]), g.scalar(scale, dtype)])
    if causal is not None:
        L, S = causal
        s = g.node("Add", [s, g.initializer(np.where(np.tril(np.ones((L, S), bool)), 0, -np.inf).astype(dtype))])
    if mask is not None:
        s = g.node("Add", [s, mask])
    p = g.node("Softmax", [s], axis=-1)
    return g.node("MatMul", [p, v]), p


def _additive(tr: Any, mask: Any, dtype: Any) -> str:
    """A boolean mask (True: masked) as 0 / -inf, or a float mask as it is, in ``dtype``."""
    t = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
    name = tr.value(t)
    if np.dtype(t.dtype) == np.bool_:
        return tr.g.node("Where", [name, tr.g.scalar(-np.inf, dtype), tr.g.scalar(0.0, dtype)])
    return name if np.dtype(t.dtype) == np.dtype(dtype) else tr.g.cast(name, dtype)


def _project(g: Any, x: str, w: Any, b: Any, name: str) -> str:
    """x W^T + b with W^T stored as a constant (a slice of in_proj_weight, named after it)."""
    y = g.node("MatMul", [x, g.initializer(np.ascontiguousarray(w.T), f"{name}.weight.T")])
    return y if b is None else g.node("Add", [y, g.initializer(b, f"{name}.bias")])


def multihead_attention(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> tuple[str, str | None]:

    g, query, key = tr.g, a["query"], a["key"]
    dtype = np.dtype(query.dtype)
    batched, E, H = query.ndim == 3, m.embed_dim, m.num_heads
    d = E // H
    xs = []
    for t in (query, key, a["value"]):
        x = tr.value(t)
        if not batched:
            x = g.unsqueeze(x, [0])
        elif not m.batch_first:
            x = g.transpose(x, [1, 0, 2])
        xs.append(x)
    L, S = (query.shape[0], key.shape[0]) if not batched or not m.batch_first else (query.shape[1], key.shape[1])
    if m.in_proj_weight is not None:
        ws = np.split(host(m.in_proj_weight), 3)
    else:
        ws = [host(w) for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]
    bs = [None] * 3 if m.in_proj_bias is None else np.split(host(m.in_proj_bias), 3)
    heads = []
    for x, w, b, part in zip(xs, ws, bs, "qkv"):
        y = _project(g, x, w, b, f"{path}.{part}_proj" if path else f"{part}_proj")
        heads.append(g.transpose(g.reshape(y, [0, 0, H, d]), [0, 2, 1, 3]))  # (N, H, T, d)
    mask = None
    if a["attn_mask"] is not None:
        mask = _additive(tr, a["attn_mask"], dtype)
        if a["attn_mask"].ndim == 3:  # (N * H, L, S) -> (N, H, L, S)
            mask = g.reshape(mask, [-1, H, L, S])
    if a["key_padding_mask"] is not None:
        pad = g.unsqueeze(_additive(tr, a["key_padding_mask"], dtype), [1, 2] if batched else [0, 1, 2])
        mask = pad if mask is None else g.node("Add", [mask, pad])
    y, p = attention(g, *heads, 4, 1 / math.sqrt(d), mask, (L, S) if a["is_causal"] else None, dtype)
    y = g.reshape(g.transpose(y, [0, 2, 1, 3]), [0, 0, E])
    y = tr.g.linear(y, tr.value(m.out_proj.weight), None if m.out_proj.bias is None else tr.value(m.out_proj.bias), 3)
    if not batched:
        y = g.squeeze(y, [0])
    elif not m.batch_first:
        y = g.transpose(y, [1, 0, 2])
    weights = None
    if out[1] is not None:
        weights = g.reduce("ReduceMean", p, [1], False) if a["average_attn_weights"] else p
        if not batched:
            weights = g.squeeze(weights, [0])
    return y, weights
