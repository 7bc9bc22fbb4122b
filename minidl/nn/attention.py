"""``MultiheadAttention``: attention in ``num_heads`` subspaces at once (Vaswani et al., 2017).

For query x_q (L, E), key x_k (S, kdim), value x_v (S, vdim) (per batch element):

    q = x_q W_q^T + b_q,   k = x_k W_k^T + b_k,   v = x_v W_v^T + b_v           (each ... x E)
    split E into H heads of size d = E / H:  q_h, k_h, v_h
    head_h = softmax(q_h k_h^T / sqrt(d) + mask) v_h                             (L, d)
    out = concat(head_1, ..., head_H) W_o^T + b_o                                (L, E)

Parameters have PyTorch's names: ``in_proj_weight`` (3E, E) holds [W_q; W_k; W_v] (or, when kdim or
vdim differ from E, separate ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``), ``in_proj_bias``
(3E,), and ``out_proj`` (a Linear E -> E). PyTorch state dicts load unchanged.

Masks as in PyTorch: a boolean ``attn_mask`` (L, S) or (N * H, L, S) is True where attention is *not*
allowed; a boolean ``key_padding_mask`` (N, S) is True at padding keys; float masks are added to the
scores. ``need_weights=True`` (the default, as in PyTorch) also returns the attention weights,
averaged over heads unless ``average_attn_weights=False``; with ``need_weights=False`` the fused
``scaled_dot_product_attention`` kernel does the work (faster: use it when you do not need them).

>>> import minidl, minidl.nn as nn
>>> mha = nn.MultiheadAttention(8, 2, batch_first=True)
>>> x = minidl.randn(3, 5, 8)
>>> out, w = mha(x, x, x)
>>> out.shape, w.shape
(minidl.Size([3, 5, 8]), minidl.Size([3, 5, 5]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.creation import empty, factory_backend
from minidl.errors import shape_error
from minidl.nn import init
from minidl.nn.linear import Linear, linear
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.attention import additive_mask, attention_weights, dropout_multiplier, scaled_dot_product_attention
from minidl.ops.matmul import matmul
from minidl.ops.shape import split
from minidl.random import Generator
from minidl.tensor import Tensor


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters, masks and layouts (see the module docstring).

    Inputs are (L, N, E) time first, or (N, L, E) with ``batch_first=True``, or unbatched (L, E).
    Returns ``(attn_output, attn_weights or None)``. ``add_bias_kv`` and ``add_zero_attn`` are not
    supported.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, dtype: Any = None, backend: Any = None,
                 device: Any = None,
                 generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        dtype = dtype or "float32"
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * E, E, dtype=dtype, backend=backend))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(empty(E, E, dtype=dtype, backend=backend))
            self.k_proj_weight = Parameter(empty(E, self.kdim, dtype=dtype, backend=backend))
            self.v_proj_weight = Parameter(empty(E, self.vdim, dtype=dtype, backend=backend))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * E, dtype=dtype, backend=backend))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype, backend=backend, generator=generator)
        self.generator = generator
        self._reset_parameters(generator)

    def _reset_parameters(self, generator: Generator | None = None) -> None:
        """PyTorch's init: Xavier-uniform projections, zero biases (out_proj.weight keeps Linear's init)."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w, generator=generator)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    # ------------------------------------------------------------------ pieces
    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v (N, H, T, d) from the input projections. Self-attention (query is key is value) is one
        matmul into (N, T, 3E), read as (N, T, 3H, d), heads brought forward and split in three: four graph
        nodes instead of ten (a split, then a reshape and a permute per tensor)."""
        E, b = self.embed_dim, self.in_proj_bias
        if self._qkv_same_embed_dim and query is key and key is value:
            N, T = query.shape[0], query.shape[1]
            qkv = linear(query, self.in_proj_weight, b).reshape(N, T, 3 * self.num_heads, self.head_dim)
            return split(qkv.permute(0, 2, 1, 3), self.num_heads, 1)
        bq, bk, bv = (None, None, None) if b is None else split(b, E)
        if self._qkv_same_embed_dim:
            wq, wk, wv = split(self.in_proj_weight, E)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return tuple(self._heads(linear(x, w, b)) for x, w, b in ((query, wq, bq), (key, wk, bk), (value, wv, bv)))

    def _heads(self, x: Tensor) -> Tensor:
        """(N, T, E) -> (N, H, T, d)."""
        N, T = x.shape[0], x.shape[1]
        return x.reshape(N, T, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _mask(self, attn_mask: Any, key_padding_mask: Any, like: Tensor, N: int, L: int, S: int) -> Any:
        """attn_mask and key_padding_mask merged into one additive array (N, H, L, S)-broadcastable, or None."""
        mask = None
        if attn_mask is not None:
            m = additive_mask(~attn_mask if _is_bool(attn_mask) else attn_mask, like)
            if m.shape == (L, S):
                mask = m
            elif m.shape == (N * self.num_heads, L, S):
                mask = m.reshape(N, self.num_heads, L, S)
            else:
                raise shape_error("MultiheadAttention", m.shape,
                                  expected=f"attn_mask of shape {(L, S)} or {(N * self.num_heads, L, S)}")
        if key_padding_mask is not None:
            m = additive_mask(~key_padding_mask if _is_bool(key_padding_mask) else key_padding_mask, like)
            if m.shape != (N, S):
                raise shape_error("MultiheadAttention", m.shape, expected=f"key_padding_mask of shape {(N, S)}")
            m = m.reshape(N, 1, 1, S)
            mask = m if mask is None else mask + m
        return mask

    # ------------------------------------------------------------------ forward
    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise shape_error("MultiheadAttention", query.shape, key.shape, value.shape,
                              expected="query, key and value all (L, N, E) (batch_first: (N, L, E)) or all unbatched")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise shape_error("MultiheadAttention", query.shape, key.shape, value.shape,
                              expected=f"last dimensions {self.embed_dim}, {self.kdim}, {self.vdim}")
        same = query is key and key is value
        if not batched:  # one sequence: a batch of one
            query, key, value = (x.unsqueeze(0) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.reshape(1, -1)
        elif not self.batch_first:  # work batch first: (L, N, E) -> (N, L, E)
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if same:
            key = value = query
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != (N, S) or value.shape[:2] != (N, S):
            raise shape_error("MultiheadAttention", query.shape, key.shape, value.shape,
                              expected="one batch size, and key and value of one length")
        q, k, v = self._project(query, key, value)
        mask = self._mask(attn_mask, key_padding_mask, q, N, L, S)
        p_drop = self.dropout if self.training else 0.0
        weights = None
        if need_weights:  # the weights are wanted too: attention as separate ops (like PyTorch's slow path)
            weights = attention_weights(q, k, mask, is_causal)
            if p_drop > 0:  # PyTorch returns the weights after dropout, as they were used
                keep = dropout_multiplier(weights.shape, p_drop, q, self.generator)
                weights = weights * Tensor._wrap(keep, q.backend, False)
            out = matmul(weights, v)
        else:
            out = scaled_dot_product_attention(q, k, v, mask, p_drop, is_causal, generator=self.generator)
        out = out.permute(0, 2, 1, 3).reshape(N, L, self.embed_dim)  # heads side by side again
        out = self.out_proj(out)
        if not batched:
            out = out.reshape(L, self.embed_dim)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        if weights is not None:
            weights = weights.mean(1) if average_attn_weights else weights
            if not batched:
                weights = weights.reshape(weights.shape[1:])
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, " \
               f"batch_first={self.batch_first}"


def _is_bool(mask: Any) -> bool:
    dtype = getattr(mask, "dtype", None)
    return dtype is not None and np.dtype(dtype) == np.bool_
