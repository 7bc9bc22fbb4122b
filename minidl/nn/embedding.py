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
from minidl.device import backend_for
from minidl.nn import init
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.embedding import embedding
from minidl.random import Generator
from minidl.tensor import Tensor


class Embedding(Module):
    """``weight`` (num_embeddings, embedding_dim) ~ N(0, 1); ``forward(ids)`` returns ``weight[ids]``.

    With ``max_norm``, every call first rescales (in place) the rows it looks up whose ``norm_type``-norm
    exceeds ``max_norm`` to that norm; ``scale_grad_by_freq`` divides each row's gradient by how often
    its id occurs in the batch (both as in PyTorch; see ``minidl.ops.embedding``).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None, backend: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not supported; minidl's "
                                      "gradients are dense (pass sparse=False: the values are the same)")
        if device is not None:
            backend = backend_for(device)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, \
            scale_grad_by_freq, sparse
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
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding (a copy of) ``embeddings`` (2-d); frozen unless ``freeze=False``."""
        weight = embeddings if isinstance(embeddings, Tensor) else Tensor(embeddings)
        if weight.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-d, got shape {weight.shape}")
        rows, dim = weight.shape
        return cls(rows, dim, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=weight.detach().clone(),
                   _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        s += f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        s += f", max_norm={self.max_norm}" if self.max_norm is not None else ""
        s += f", norm_type={self.norm_type}" if self.norm_type != 2 else ""
        return s + (", scale_grad_by_freq=True" if self.scale_grad_by_freq else "")
