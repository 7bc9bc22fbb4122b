"""Embedding lookup: row ``i`` of a weight matrix for every index ``i``.

    y[..., :] = W[idx[...], :]
    dL/dW[r] = sum of dL/dy[...] over every position where idx == r     (a scatter-add)

The scatter-add is the ``embedding_backward`` kernel; the row ``padding_idx`` gets no gradient (it
stays the fixed "padding" vector). The backward is itself an op whose own gradient is a lookup
again (the scatter-add is linear in dL/dy), so double backward works.

>>> import minidl
>>> from minidl.ops.embedding import embedding
>>> W = minidl.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = embedding(minidl.tensor([[1, 2, 1]]), W)
>>> y.shape
minidl.Size([1, 3, 2])
>>> y.sum().backward(); W.grad    # row 1 was used twice
tensor([[0., 0.],
        [2., 2.],
        [1., 1.]])
"""

from __future__ import annotations

from typing import Any

from minidl.autograd import Function
from minidl.errors import shape_error
from minidl.tensor import Tensor


class Embedding(Function):
    def __init__(self, indices: Any, padding_idx: int | None) -> None:
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        self.num_embeddings = weight.shape[0]
        return self.backend.xp.take(weight, self.indices, axis=0)

    def backward(self, gy):
        return EmbeddingBackward(self.indices, self.num_embeddings, self.padding_idx)(gy)


class EmbeddingBackward(Function):
    def __init__(self, indices: Any, num_embeddings: int, padding_idx: int | None) -> None:
        self.indices, self.num_embeddings, self.padding_idx = indices, num_embeddings, padding_idx

    def forward(self, gy):
        return self.backend.embedding_backward(self.indices, gy, self.num_embeddings, self.padding_idx)

    def backward(self, ggw):
        return Embedding(self.indices, None)(_zero_padding_row(ggw, self.padding_idx))


def _zero_padding_row(w: Tensor, padding_idx: int | None) -> Tensor:
    if padding_idx is None:
        return w
    keep = w.backend.xp.ones((w.shape[0], 1), dtype=w.dtype)
    keep[padding_idx] = 0
    return w * Tensor._wrap(keep, w.backend, False)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, D) at the integer ``input`` (any shape) -> (*input.shape, D)."""
    if weight.ndim != 2:
        raise shape_error("embedding", weight.shape, expected="a weight of shape (num_embeddings, embedding_dim)")
    n = weight.shape[0]
    indices = input.array if isinstance(input, Tensor) else weight.backend.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise IndexError(f"embedding: indices must be in [0, {n}) for a weight of shape {weight.shape}; got values "
                         f"in [{int(indices.min())}, {int(indices.max())}]")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    return Embedding(indices, padding_idx)(weight)
