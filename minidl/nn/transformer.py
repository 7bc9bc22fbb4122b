"""The transformer (Vaswani et al., 2017): encoder, decoder, both together, and positional embeddings.

One ``TransformerEncoderLayer`` is self-attention then a two-layer MLP, each wrapped in a residual
connection and a LayerNorm:

    post-norm (norm_first=False, the 2017 paper):   x = LN1(x + SA(x));      x = LN2(x + FF(x))
    pre-norm  (norm_first=True, GPT-2 and later):   x = x + SA(LN1(x));      x = x + FF(LN2(x))
    FF(x) = linear2(dropout(activation(linear1(x))))

A ``TransformerDecoderLayer`` adds cross-attention (CA) between the two: its queries come from the
target sequence x, its keys and values from the encoder's output ``memory`` m:

    post-norm:   x = LN1(x + SA(x));   x = LN2(x + CA(x, m));   x = LN3(x + FF(x))
    pre-norm:    x = x + SA(LN1(x));   x = x + CA(LN2(x), m);   x = x + FF(LN3(x))

``Transformer`` is an encoder stack (memory = Encoder(src)) and a decoder stack (Decoder(tgt, memory)),
each ending in a LayerNorm. A decoder that predicts token t + 1 from tokens <= t must not see the
future: its self-attention takes ``tgt_mask = Transformer.generate_square_subsequent_mask(T)``, which
adds -inf to the scores of every key after the query (row i: 0 up to column i, -inf after it).

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
>>> model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
...                        dim_feedforward=32, batch_first=True)
>>> tgt = minidl.randn(2, 5, 16)
>>> model(x, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5)).shape
minidl.Size([2, 5, 16])
>>> nn.Transformer.generate_square_subsequent_mask(3).tolist()
[[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.creation import arange, empty, full
from minidl.device import backend_for
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


def _activation(activation: str | Callable[[Tensor], Tensor], who: str) -> Callable[[Tensor], Tensor]:
    if not isinstance(activation, str):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{who}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return _ACTIVATIONS[activation]


def _factory(dtype: Any, backend: Any, device: Any) -> dict[str, Any]:
    """The dtype and backend the sublayers are created with (``device=`` as in PyTorch: 'cpu', 'cuda')."""
    return {"dtype": dtype, "backend": backend if device is None else backend_for(device)}


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward block (see the module docstring); PyTorch's arguments and names.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: src (T, N, E), or
    (N, T, E) with ``batch_first=True``; masks as in ``MultiheadAttention``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None, backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        activation = _activation(activation, "TransformerEncoderLayer")
        factory = _factory(dtype, backend, device)
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
        self.activation = activation

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


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory``, feed-forward (see the module docstring).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``: tgt (T, N, E) and
    memory (S, N, E), or batch first; ``tgt_mask`` (T, T) masks the self-attention, ``memory_mask``
    (T, S) the cross-attention. PyTorch's arguments and submodule names (``self_attn``,
    ``multihead_attn``, ``linear1``, ``linear2``, ``norm1``..``norm3``, ``dropout1``..``dropout3``).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None, backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        activation = _activation(activation, "TransformerDecoderLayer")
        factory = _factory(dtype, backend, device)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            generator=generator, **factory)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, generator=generator, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, generator=generator, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, generator=generator, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = activation

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))


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
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, self.layers[0].self_attn.batch_first))
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` (each with its own weights), then ``norm``.
    Every layer attends to the same ``memory``; the arguments are ``TransformerDecoderLayer``'s."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal,
                                               _seq_len(tgt, self.layers[0].self_attn.batch_first))
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                      memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """Encoder-decoder transformer (see the module docstring), PyTorch's arguments and names:
    ``encoder`` (a TransformerEncoder with a final LayerNorm) and ``decoder`` (a TransformerDecoder
    with one), or ``custom_encoder`` / ``custom_decoder``. Every weight matrix starts Xavier-uniform.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)``: src (S, N, E), tgt (T, N, E) (batch first: (N, S, E), (N, T, E);
    unbatched: (S, E), (T, E)) -> (T, N, E). Masks: src_mask (S, S), tgt_mask (T, T), memory_mask
    (T, S), or (N * nhead, ., .); boolean True or float -inf = may not attend; key padding masks
    (N, S), (N, T), (N, S) are True at padding positions.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None,
                 backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        factory = _factory(dtype, backend, device)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args, generator=generator, **factory)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args, generator=generator, **factory)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        self._reset_parameters(generator)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self, generator: Generator | None = None) -> None:
        """PyTorch's init: Xavier-uniform for every parameter with two or more dimensions."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p, generator=generator)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None, memory_mask: Any = None,
                src_key_padding_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch] != tgt.shape[batch]):
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got shapes "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}), got shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """The causal mask (sz, sz): -inf above the diagonal (key j > query i may not be seen), 0 elsewhere."""
        return full((sz, sz), float("-inf"), dtype=dtype or "float32", device=device).triu(1)


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask: Any, is_causal: bool | None, size: int) -> bool:
    """``is_causal`` when given; otherwise whether ``mask`` is ``generate_square_subsequent_mask(size)``.

    (A hint only: the layers apply the mask itself either way, so the result is the same.)"""
    if is_causal is not None or mask is None:
        return bool(is_causal)
    array = mask.backend.to_numpy(mask.array) if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype.kind != "f" or array.shape != (size, size):
        return False
    return bool(np.array_equal(array, np.triu(np.full((size, size), -np.inf), 1)))


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
