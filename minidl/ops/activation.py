"""Activation functions beyond relu/sigmoid/tanh (those live in ``elementwise.py``).

Each op computes its forward on arrays and writes its gradient with minidl ops on the input, so
the gradient is itself differentiable (double backward works); GELU is a fused op (ops/fused.py): its
forward and backward are one kernel each, its double backward differentiates the composite. With g = dL/dy:

leaky_relu  y = x if x > 0 else a x                       dy/dx = 1 if x > 0 else a
elu         y = x if x > 0 else a (e^x - 1)               dy/dx = 1 if x > 0 else y + a
gelu        y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2
                                                          dy/dx = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
gelu tanh   y = x (1 + tanh u) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3)
                                                          dy/dx = (1 + t)/2 + x (1 - t^2) u'(x) / 2,  t = tanh u
silu        y = x s,  s = sigmoid(x)                      dy/dx = s (1 + x (1 - s))
softplus    y = log(1 + e^(b x)) / b  (= x where b x > threshold)
                                                          dy/dx = sigmoid(b x)  (1 where linear)
erf         y = 2/sqrt(pi) int_0^x e^(-t^2) dt            dy/dx = 2/sqrt(pi) e^(-x^2)

```pycon
>>> import minidl
>>> from minidl.ops.activation import gelu, silu
>>> x = minidl.tensor([-1.0, 0.0, 2.0])
>>> [round(v, 4) for v in gelu(x).tolist()]
[-0.1587, 0.0, 1.9545]
>>> [round(v, 4) for v in silu(x).tolist()]
[-0.2689, 0.0, 1.7616]

```
"""

from __future__ import annotations

import math

from minidl.autograd import Function
from minidl.backends.numpy_backend import erf_array  # noqa: F401  (minidl.nn.functional exports it)
from minidl.ops.elementwise import exp, mask, sigmoid, tanh, where
from minidl.ops.fused import FusedBackward
from minidl.tensor import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Erf(Function):
    def forward(self, x):
        return self.backend.erf(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * _TWO_OVER_SQRT_PI * exp(-(x * x))


class LeakyReLUFunction(Function):
    def __init__(self, negative_slope: float) -> None:
        self.negative_slope = negative_slope

    def forward(self, x):
        return self.backend.xp.where(x > 0, x, x * self.negative_slope)

    def backward(self, gy):
        x = self.inputs[0].array
        return mask(gy, self.backend.xp.where(x > 0, 1, self.negative_slope).astype(x.dtype))


class ELUFunction(Function):
    uses_outputs = True  # backward reads self.output()

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def forward(self, x):
        xp = self.backend.xp
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(self, gy):
        positive = (self.inputs[0].array > 0).astype(gy.dtype)
        # y + alpha = alpha e^x on the negative side; using the output keeps it differentiable.
        return mask(gy, positive) + mask(gy * (self.output() + self.alpha), 1 - positive)


class GELUFunction(Function):
    """GELU by the fused kernels ``gelu_forward`` / ``gelu_backward`` (one pass each on Numba); the backward
    is another node, ``GELUBackward``, whose own gradient differentiates ``_gelu`` (ops/fused.py's rule)."""

    def __init__(self, approximate: str) -> None:
        self.approximate = approximate

    def forward(self, x):
        return self.backend.gelu_forward(x, self.approximate)

    def backward(self, gy):
        return GELUBackward(self.approximate)(gy, self.inputs[0])


class GELUBackward(FusedBackward):
    """dL/dx = gy * gelu'(x) by the kernel; ``composite`` is GELU written with minidl ops."""

    def __init__(self, approximate: str) -> None:
        self.approximate = approximate

    def forward(self, gy, x):
        return self.backend.gelu_backward(gy, x, self.approximate)

    def composite(self, x):
        return _gelu(x, self.approximate)


def _gelu(x: Tensor, approximate: str) -> Tensor:
    """GELU as a composite of differentiable minidl ops (the reference the kernels are checked against)."""
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + erf(x * (1 / math.sqrt(2))))


class SiLUFunction(Function):
    def forward(self, x):
        return x * (0.5 + 0.5 * self.backend.xp.tanh(0.5 * x))  # x * sigmoid(x), never overflows

    def backward(self, gy):
        (x,) = self.inputs
        s = sigmoid(x)
        return gy * s * (1 + x * (1 - s))


class SoftplusFunction(Function):
    def __init__(self, beta: float, threshold: float) -> None:
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = self.backend.xp
        bx = x * self.beta
        # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no overflow for large z, no loss for negative z.
        smooth = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / self.beta
        return xp.where(bx > self.threshold, x, smooth)

    def backward(self, gy):
        (x,) = self.inputs
        linear = (x.array * self.beta > self.threshold).astype(gy.dtype)
        return where(linear > 0, gy, gy * sigmoid(x * self.beta))


# --------------------------------------------------------------------------- user-facing functions
def erf(x: Tensor) -> Tensor:
    """The error function, elementwise."""
    return Erf()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, ``negative_slope * x`` elsewhere."""
    return LeakyReLUFunction(negative_slope)(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere (Clevert et al., 2015)."""
    return ELUFunction(alpha)(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Hendrycks & Gimpel, 2016); ``approximate="tanh"`` uses the tanh formula of GPT-2."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUFunction(approximate)(x)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return SiLUFunction()(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, a smooth relu; x itself where ``beta * x > threshold``."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return SoftplusFunction(beta, threshold)(x)
