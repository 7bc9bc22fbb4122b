"""Dropout: randomly zero activations while training (Srivastava et al., 2014).

Inverted dropout keeps each element with probability 1 - p and scales the survivors by 1 / (1 - p),
so the expected value is unchanged and evaluation needs no rescaling:

    m ~ Bernoulli(1 - p) elementwise,   y = x * m / (1 - p),   dL/dx = dL/dy * m / (1 - p)

The mask is a constant of the op (drawn once, on the host, from a seeded ``minidl.Generator``, so
every backend sees the same mask for the same seed).

>>> import minidl
>>> from minidl.ops.dropout import dropout
>>> y = dropout(minidl.ones(8), p=0.5, generator=minidl.Generator(0))
>>> sorted(set(y.tolist()))   # each element is dropped (0) or kept and doubled (2)
[0.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from minidl.ops.elementwise import mask
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor


def dropout_mask(shape: tuple[int, ...], p: float, dtype: np.dtype, generator: Generator | None = None) -> np.ndarray:
    """A host array of 0 and 1 / (1 - p): each entry kept with probability 1 - p."""
    keep = get_generator(generator).np.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


def _check_p(op: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, got p={p}")


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p); the identity when
    ``training`` is False or p = 0 (all zeros for p = 1)."""
    _check_p("dropout", p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return mask(x, x.backend.xp.zeros(x.shape, dtype=x.dtype))
    return mask(x, x.backend.asarray(dropout_mask(x.shape, p, x.dtype, generator)))


def dropout_nd(x: Tensor, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Channel dropout (``dropout1d/2d/3d``): zero whole channels x[n, c] of an (N, C, *) input, one draw per
    (n, c), for convolutional features whose neighbouring values are strongly correlated."""
    _check_p("dropout2d", p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return mask(x, x.backend.xp.zeros(x.shape, dtype=x.dtype))
    shape = x.shape[:2] + (1,) * (x.ndim - 2)
    return mask(x, x.backend.asarray(dropout_mask(shape, p, x.dtype, generator)))
