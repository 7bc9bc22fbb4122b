"""Weight initialisation, in place, with the formulas and names of ``torch.nn.init``.

Why it matters: if every layer multiplies the variance of its input by ``fan_in * Var(w)``, a deep
net's activations explode or vanish. Choosing ``Var(w)`` to cancel that keeps them O(1):

* Xavier/Glorot (tanh, linear):  ``std = gain * sqrt(2 / (fan_in + fan_out))``
* Kaiming/He (ReLU family):      ``std = gain / sqrt(fan)``,  ``gain = sqrt(2)`` for ReLU
* a uniform on ``[-b, b]`` has ``std = b / sqrt(3)``, so the uniform variants use ``b = sqrt(3) * std``.

``fan_in`` of a weight of shape ``(out, in, *kernel)`` is ``in * prod(kernel)`` and ``fan_out`` is
``out * prod(kernel)``. Every function writes into ``tensor`` (under ``no_grad``), returns it, and
takes an optional ``generator=`` (``minidl.Generator``) for reproducible draws.

>>> import minidl, minidl.nn as nn
>>> w = minidl.empty(256, 128)
>>> _ = nn.init.kaiming_normal_(w, nonlinearity="relu", generator=minidl.Generator(0))
>>> round(float(w.std()) * (128 ** 0.5), 1)  # std = sqrt(2 / fan_in)
1.4
"""

from __future__ import annotations

import math

import numpy as np

from minidl.autograd import no_grad
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor

_LINEAR_LIKE = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which ``nonlinearity`` shrinks the standard deviation, to be undone at init.

    linear/conv/sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);  leaky_relu(slope): sqrt(2 / (1 + slope^2));  selu: 3/4.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, int | float):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive_field = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Copy host ``values`` into ``tensor`` in place, in its dtype and on its backend."""
    with no_grad():
        tensor.array[...] = tensor.backend.asarray(np.asarray(values).astype(tensor.dtype, copy=False))
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with draws from U(a, b)."""
    return _write(tensor, get_generator(generator).uniform(tensor.shape, a, b))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    return _write(tensor, get_generator(generator).normal(tensor.shape, mean, std))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2) draws, redrawing any that fall outside [a, b]."""
    gen = get_generator(generator)
    values = gen.normal(tensor.shape, mean, std)
    bad = (values < a) | (values > b)
    while bad.any():  # each round redraws only the rejected values (a vectorised rejection sampler)
        values[bad] = gen.normal((int(bad.sum()),), mean, std)
        bad = (values < a) | (values > b)
    return _write(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _write(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """U(-b, b) with ``b = sqrt(3) * gain / sqrt(fan)`` (He et al., 2015); ``a`` is the leaky_relu slope."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with ``std = gain / sqrt(fan)``."""
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)), generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013); dims after the first are flattened.

    Draw a Gaussian matrix, take Q of its QR decomposition, and fix the signs with diag(R) so that Q
    is uniformly distributed over orthogonal matrices.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dimensions, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = get_generator(generator).normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (gain * q).reshape(tensor.shape))
