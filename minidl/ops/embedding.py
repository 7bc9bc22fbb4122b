"""Embedding lookup: row ``i`` of a weight matrix for every index ``i``.

    y[..., :] = W[idx[...], :]
    dL/dW[r] = sum of dL/dy[...] over every position where idx == r     (a scatter-add)

The scatter-add is the ``embedding_backward`` kernel; the row ``padding_idx`` gets no gradient (it
stays the fixed "padding" vector). The backward is itself an op whose own gradient is a lookup
again (the scatter-add is linear in dL/dy), so double backward works.

Options as in PyTorch:

* ``max_norm``: before the lookup, every row that is looked up and whose p-norm (``norm_type``)
  exceeds ``max_norm`` is scaled in place, under ``no_grad``, to norm ``max_norm``:
  ``W[r] *= max_norm / (||W[r]||_p + 1e-7)``. The weight itself changes (as in PyTorch), and the
  rescaling is not differentiated: the gradient is the plain scatter-add above.
* ``scale_grad_by_freq``: dL/dW[r] is divided by the number of times r occurs in ``input``.

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

import numpy as np

from minidl.autograd import Function
from minidl.errors import shape_error
from minidl.tensor import Tensor


class EmbeddingFunction(Function):
    def __init__(self, indices: Any, padding_idx: int | None, scale_grad_by_freq: bool = False) -> None:
        self.indices, self.padding_idx, self.scale_grad_by_freq = indices, padding_idx, scale_grad_by_freq

    def forward(self, weight):
        self.num_embeddings = weight.shape[0]
        return self.backend.xp.take(weight, self.indices, axis=0)

    def backward(self, gy):
        if self.scale_grad_by_freq:  # each position's gradient divided by how often its index occurs
            xp = self.backend.xp
            counts = xp.bincount(self.indices.reshape(-1), minlength=self.num_embeddings)
            gy = gy * self.wrap((1.0 / counts[self.indices])[..., None].astype(gy.dtype))
        return EmbeddingBackward(self.indices, self.num_embeddings, self.padding_idx)(gy)


class EmbeddingBackward(Function):
    def __init__(self, indices: Any, num_embeddings: int, padding_idx: int | None) -> None:
        self.indices, self.num_embeddings, self.padding_idx = indices, num_embeddings, padding_idx

    def forward(self, gy):
        return self.backend.embedding_backward(self.indices, gy, self.num_embeddings, self.padding_idx)

    def backward(self, ggw):
        return EmbeddingFunction(self.indices, None)(_zero_padding_row(ggw, self.padding_idx))


def _zero_padding_row(w: Tensor, padding_idx: int | None) -> Tensor:
    if padding_idx is None:
        return w
    keep = w.backend.xp.ones((w.shape[0], 1), dtype=w.dtype)
    keep[padding_idx] = 0
    return w * Tensor._wrap(keep, w.backend, False)


def embedding_renorm_(weight: Tensor, indices: Any, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale, in place, each row of ``weight`` named in ``indices`` whose ``norm_type``-norm exceeds
    ``max_norm`` down to norm ``max_norm`` (PyTorch's ``embedding_renorm_``; not recorded by autograd)."""
    xp = weight.backend.xp
    if indices.size == 0 or weight.shape[1] == 0:
        return weight
    rows = xp.unique(indices.reshape(-1))
    w = weight.array[rows]
    a = xp.abs(w).astype(np.float64)  # norms in float64: no float16 overflow of the sum of squares
    if norm_type == float("inf"):
        norms = a.max(axis=1)
    elif norm_type == 0:
        norms = (a != 0).sum(axis=1).astype(np.float64)
    else:
        norms = (a ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    over = norms > max_norm
    if bool(over.any()):
        scale = max_norm / (norms[over] + 1e-7)
        weight.array[rows[over]] = (w[over] * scale[:, None]).astype(w.dtype)
        weight._version += 1  # an in-place change: a graph that saved the old weight refuses to backward
    return weight


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, D) at the integer ``input`` (any shape) -> (*input.shape, D).

    ``max_norm`` renormalises the looked-up rows of ``weight`` in place first (see the module docstring).
    ``sparse=True`` (sparse gradients) is not supported: minidl's gradients are dense arrays.
    """
    if weight.ndim != 2:
        raise shape_error("embedding", weight.shape, expected="a weight of shape (num_embeddings, embedding_dim)")
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; minidl's gradients "
                                  "are dense (pass sparse=False: the values are the same)")
    n = weight.shape[0]
    indices = input.array if isinstance(input, Tensor) else weight.backend.asarray(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise IndexError(f"embedding: indices must be in [0, {n}) for a weight of shape {weight.shape}; got values "
                         f"in [{int(indices.min())}, {int(indices.max())}]")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None:
        embedding_renorm_(weight, indices, max_norm, norm_type)
    return EmbeddingFunction(indices, padding_idx, scale_grad_by_freq)(weight)
