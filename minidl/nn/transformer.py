"""The transformer encoder (Vaswani et al., 2017) and positional embeddings.

One ``TransformerEncoderLayer`` is self-attention then a two-layer MLP, each wrapped in a residual
connection and a LayerNorm:

    post-norm (norm_first=False, the 2017 paper):   x = LN1(x + SA(x));      x = LN2(x + FF(x))
    pre-norm  (norm_first=True, GPT-2 and later):   x = x + SA(LN1(x));      x = x + FF(LN2(x))
    FF(x) = linear2(dropout(activation(linear1(x))))

Pre-norm keeps an unnormalised residual path from input to output, which trains deep stacks
without learning-rate warm-up tricks. Submodule names are PyTorch's (``self_attn``, ``linear1``,
``linear2``, ``norm1``, ``norm2``, ...), so PyTorch state dicts load.

Attention alone does not know where a token is: it treats its input as a set. Position enters
through an embedding added to the token embeddings, either learned (one trained vector per
position) or sinusoidal (fixed; Vaswani et al.):

    pe[t, 2i] = sin(t / 10000^(2i / d)),   pe[t, 2i + 1] = cos(t / 10000^(2i / d))

>>> import minidl, minidl.nn as nn
>>> layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
>>> encoder = nn.TransformerEncoder(layer, num_layers=2)
>>> x = minidl.randn(2, 7, 16)
>>> encoder(x + nn.SinusoidalPositionalEmbedding(100, 16)(x)).shape
minidl.Size([2, 7, 16])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.creation import arange, empty
from minidl.nn import init
from minidl.nn.attention import MultiheadAttention
from minidl.nn.containers import ModuleList
from minidl.nn.dropout import Dropout
from minidl.nn.linear import Linear
from minidl.nn.module import Module
from minidl.nn.normalization import LayerNorm
from minidl.nn.parameter import Parameter
from minidl.ops.activation import gelu
from minidl.ops.elementwise import relu
from minidl.ops.embedding import embedding
from minidl.random import Generator
from minidl.tensor import Tensor

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": relu, "gelu": gelu}


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward block (see the module docstring); PyTorch's arguments and names.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src (T, N, E), or
    (N, T, E) with ``batch_first=True``; masks as in ``MultiheadAttention``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, dtype: Any = None,
                 backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        if isinstance(activation, str) and activation not in _ACTIVATIONS:
            raise ValueError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, "
                             f"got {activation!r}")
        factory = {"dtype": dtype, "backend": backend}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            generator=generator, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, generator=generator, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, generator=generator, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _ACTIVATIONS[activation] if isinstance(activation, str) else activation

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (each with its own weights), then ``norm``."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


# --------------------------------------------------------------------------- positional embeddings
class _PositionalEmbedding(Module):
    def _positions(self, x: Tensor) -> tuple[int, bool]:
        axis = 1 if (self.batch_first and x.ndim == 3) else 0
        T = x.shape[axis] if x.ndim >= 2 else x.shape[0]
        if T > self.max_len:
            raise ValueError(f"{type(self).__name__}: a sequence of {T} positions is longer than max_len "
                             f"{self.max_len}")
        return T, axis == 0 and x.ndim == 3

    def forward(self, x: Tensor) -> Tensor:
        """The embeddings of positions 0..T-1 of x's sequence: (T, d), or (T, 1, d) for time-first
        (T, N, d) input, so that ``x + pos(x)`` broadcasts over the batch."""
        T, time_first = self._positions(x)
        pe = self._table(T, x)
        return pe.reshape(T, 1, -1) if time_first else pe


class LearnedPositionalEmbedding(_PositionalEmbedding):
    """One learned vector per position: ``weight`` (max_len, embedding_dim) ~ N(0, 1) (like Embedding)."""

    def __init__(self, max_len: int, embedding_dim: int, batch_first: bool = True, dtype: Any = None,
                 backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        self.max_len, self.embedding_dim, self.batch_first = max_len, embedding_dim, batch_first
        self.weight = Parameter(empty(max_len, embedding_dim, dtype=dtype or "float32", backend=backend))
        init.normal_(self.weight, generator=generator)

    def _table(self, T: int, x: Tensor) -> Tensor:
        return embedding(arange(T, backend=self.weight.backend), self.weight)


class SinusoidalPositionalEmbedding(_PositionalEmbedding):
    """Fixed sines and cosines of geometrically spaced frequencies (a non-persistent buffer, not learned)."""

    def __init__(self, max_len: int, embedding_dim: int, batch_first: bool = True, dtype: Any = None,
                 backend: Any = None) -> None:
        super().__init__()
        self.max_len, self.embedding_dim, self.batch_first = max_len, embedding_dim, batch_first
        position = np.arange(max_len)[:, None]
        frequency = np.exp(np.arange(0, embedding_dim, 2) * (-math.log(10000.0) / embedding_dim))
        pe = np.zeros((max_len, embedding_dim))
        pe[:, 0::2] = np.sin(position * frequency)
        pe[:, 1::2] = np.cos(position * frequency[: embedding_dim // 2])
        self.register_buffer("pe", Tensor(pe, dtype=dtype or "float32", backend=backend), persistent=False)

    def _table(self, T: int, x: Tensor) -> Tensor:
        return self.pe[:T]
