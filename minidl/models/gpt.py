"""A GPT: a decoder-only transformer language model (Radford et al., 2018/2019), after nanoGPT.

    x = wte(idx) + wpe(0..T-1)                 token + position embeddings     (B, T, C)
    n_layer times:
        x = x + attn(ln_1(x))                  causal self-attention: token t sees tokens <= t
        x = x + mlp(ln_2(x))                   Linear C -> 4C, GELU, Linear 4C -> C
    logits = lm_head(ln_f(x))                  (B, T, vocab_size); lm_head shares wte's weight when tied

Trained with cross-entropy between the logits at position t and the token at t + 1, it learns
p(next token | all tokens so far); ``generate`` samples from it one token at a time. Weights start
as in GPT-2: N(0, 0.02), zero biases, and the residual projections scaled down by 1/sqrt(2 n_layer)
so that the residual stream does not grow with depth.

>>> import minidl
>>> from minidl.models import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=2, n_embd=32))
>>> idx = minidl.zeros(1, 3, dtype="int64")
>>> model(idx).shape
minidl.Size([1, 3, 65])
>>> model.generate(idx, 5, top_k=10, generator=minidl.Generator(0)).shape
minidl.Size([1, 8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minidl.autograd import no_grad
from minidl.creation import arange
from minidl.nn import init
from minidl.nn.activation import GELU
from minidl.nn.attention import MultiheadAttention
from minidl.nn.containers import ModuleList, Sequential
from minidl.nn.dropout import Dropout
from minidl.nn.embedding import Embedding
from minidl.nn.linear import Linear
from minidl.nn.module import Module
from minidl.nn.normalization import LayerNorm
from minidl.ops.loss import cross_entropy
from minidl.ops.shape import cat
from minidl.ops.softmax import softmax
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor


@dataclass
class GPTConfig:
    """The sizes of a GPT. ``bias``: biases in Linear and LayerNorm layers; ``tie_weights``: the output
    layer reuses the token embedding matrix (fewer parameters, usually better)."""

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True


class Block(Module):
    """One pre-LayerNorm transformer block: causal self-attention, then an MLP, each on a residual path."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.ln_1 = LayerNorm(C, bias=config.bias)
        self.attn = MultiheadAttention(C, config.n_head, dropout=config.dropout, bias=config.bias, batch_first=True)
        self.attn_dropout = Dropout(config.dropout)
        self.ln_2 = LayerNorm(C, bias=config.bias)
        self.mlp = Sequential(Linear(C, 4 * C, bias=config.bias), GELU(), Linear(4 * C, C, bias=config.bias),
                              Dropout(config.dropout))

    def forward(self, x: Tensor) -> Tensor:
        h = self.ln_1(x)
        x = x + self.attn_dropout(self.attn(h, h, h, need_weights=False, is_causal=True)[0])
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """``forward(idx, targets=None)``: idx (B, T) int64 with T <= block_size -> logits (B, T, vocab_size),
    or ``(logits, loss)`` when ``targets`` (B, T) are given (mean cross-entropy over all positions)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head})")
        self.config = config
        self.wte = Embedding(config.vocab_size, config.n_embd)
        self.wpe = Embedding(config.block_size, config.n_embd)
        self.drop = Dropout(config.dropout)
        self.blocks = ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.reset_parameters()
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight  # one Parameter in two places: parameters() lists it once

    def reset_parameters(self, generator: Generator | None = None) -> None:
        """GPT-2's init: N(0, 0.02) weights, zero biases, residual output projections N(0, 0.02/sqrt(2 n_layer))."""
        for module in self.modules():
            if isinstance(module, Linear | Embedding):
                init.normal_(module.weight, 0.0, 0.02, generator)
                if getattr(module, "bias", None) is not None:
                    init.zeros_(module.bias)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            init.normal_(block.attn.in_proj_weight, 0.0, 0.02, generator)
            init.normal_(block.attn.out_proj.weight, 0.0, residual_std, generator)
            init.normal_(block.mlp[2].weight, 0.0, residual_std, generator)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if idx.ndim != 2 or idx.shape[1] > self.config.block_size:
            raise ValueError(f"GPT: idx must be (B, T) with T <= block_size {self.config.block_size}, "
                             f"got shape {idx.shape}")
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(arange(T, backend=self.wte.weight.backend)))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss

    @no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: Generator | None = None) -> Tensor:
        """Append ``max_new_tokens`` sampled tokens to idx (B, T), each from softmax(logits / temperature)
        at the last position (only the ``top_k`` most likely tokens when given). Call ``model.eval()``
        first if the model has dropout."""
        if temperature <= 0:
            raise ValueError(f"GPT.generate: temperature must be positive, got {temperature}")
        rng = get_generator(generator).np
        for _ in range(max_new_tokens):
            context = idx if idx.shape[1] <= self.config.block_size else idx[:, -self.config.block_size:]
            logits = self(context)[:, -1, :] / temperature
            if top_k is not None:
                k = min(top_k, logits.shape[-1])
                kth = np.sort(logits.numpy(), axis=-1)[:, -k][:, None]  # the k-th largest logit of each row
                logits = logits + Tensor(np.where(logits.numpy() < kth, -np.inf, 0.0), dtype=logits.dtype,
                                         backend=logits.backend)
            probs = softmax(logits, -1).numpy().astype(np.float64)
            probs /= probs.sum(axis=-1, keepdims=True)
            # inverse-CDF sampling, one uniform draw per row
            u = rng.random((probs.shape[0], 1))
            nxt = np.minimum((probs.cumsum(axis=-1) < u).sum(axis=-1), probs.shape[-1] - 1)
            idx = cat([idx, Tensor(nxt[:, None].astype(np.int64), backend=idx.backend)], axis=1)
        return idx
