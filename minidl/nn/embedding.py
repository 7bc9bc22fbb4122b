"""``Embedding``: a lookup table of learned vectors, one row per token id.

>>> import minidl, minidl.nn as nn
>>> emb = nn.Embedding(10, 4, padding_idx=0)
>>> emb(minidl.tensor([[1, 2, 0]])).shape
minidl.Size([1, 3, 4])
>>> emb.weight[0].tolist()    # the padding row starts at zero and never gets a gradient
[0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any

from minidl.creation import empty
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.embedding import embedding
from minidl.random import Generator
from minidl.tensor import Tensor


class Embedding(Module):
    """``weight`` (num_embeddings, embedding_dim) ~ N(0, 1); ``forward(ids)`` returns ``weight[ids]``."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 _weight: Tensor | None = None, _freeze: bool = False, dtype: Any = None, backend: Any = None,
                 generator: Generator | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {num_embeddings} rows")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype or "float32", backend=backend),
                                    requires_grad=not _freeze)
            self.reset_parameters(generator)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        return embedding(input, self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None) -> Embedding:
        """An Embedding holding (a copy of) ``embeddings`` (2-d); frozen unless ``freeze=False``."""
        weight = embeddings if isinstance(embeddings, Tensor) else Tensor(embeddings)
        if weight.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-d, got shape {weight.shape}")
        rows, dim = weight.shape
        return cls(rows, dim, padding_idx=padding_idx, _weight=weight.detach().clone(), _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
