"""Activation functions beyond relu/sigmoid/tanh (those live in ``elementwise.py``).

Each op computes its forward on arrays and writes its gradient with minidl ops on the input, so
the gradient is itself differentiable (double backward works). With g = dL/dy:

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
from typing import Any

from minidl.autograd import Function
from minidl.ops.elementwise import exp, mask, sigmoid, tanh, where
from minidl.tensor import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_array(xp: Any, x: Any) -> Any:
    """erf of an array, vectorised, to about 1e-15 (float64).

    float32 numpy arrays get a rational approximation (``_erf_float32``, 1.6x faster than SciPy, which
    computes in float64). Otherwise SciPy's C implementation when it is installed (numpy arrays) or
    ``cupyx``'s (cupy arrays); without them this readable pure-array version, 10x slower:

    * |x| < 2: the series  erf(x) = 2/sqrt(pi) x e^(-x^2) sum_n (2x^2)^n / (1*3*...*(2n+1)),
      whose terms are all positive (no cancellation), evaluated in nested (Horner) form;
    * |x| >= 2: the continued fraction  erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    """
    if x.dtype == xp.float32 and xp.__name__ == "numpy":  # 1.6x faster than SciPy's (float64) erf
        return _erf_float32(xp, x)
    fast = _fast_erf(xp)
    if fast is not None:
        return fast(x)
    z = xp.abs(x)
    out = xp.empty_like(z)
    small = z < 2
    zs = z[small]
    two_z2 = 2 * zs * zs
    s = xp.ones_like(zs)
    for k in range(32, 0, -1):  # 32 terms reach double precision for |x| < 2
        s = 1 + s * two_z2 / (2 * k + 1)
    out[small] = _TWO_OVER_SQRT_PI * zs * xp.exp(-zs * zs) * s
    zl = z[~small]
    f = zl.copy()
    for k in range(40, 0, -1):  # 40 levels of the fraction reach double precision for |x| >= 2
        f = zl + (k / 2) / f
    out[~small] = 1 - xp.exp(-zl * zl) / (math.sqrt(math.pi) * f)
    return xp.sign(x) * out


# erf(x) ~= x P(x^2) / Q(x^2) on [-4, 4]: the minimax rational approximation of Eigen's
# ``generic_fast_erf_float`` (XLA uses the same). Highest power first, for Horner's rule.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
            -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
            -1.42647390514189e-02)


def _erf_float32(xp: Any, x: Any) -> Any:
    """erf of a float32 array: x P(x^2) / Q(x^2) with x clamped to [-4, 4] (beyond, erf is +-1 in
    float32). Twelve multiply-adds and a division, all in float32, in place: on (16, 64, 512), 6.4 ms
    against SciPy's 10.2 ms (interleaved) and 63 ms for the float64 series below; within 4.5e-7 of the
    exact erf (measured against ``math.erf`` on 2M points)."""
    x = xp.clip(x, -4.0, 4.0)
    x2 = x * x
    p = xp.full_like(x, _ERF32_P[0])
    for c in _ERF32_P[1:]:
        p *= x2
        p += xp.float32(c)
    q = xp.full_like(x, _ERF32_Q[0])
    for c in _ERF32_Q[1:]:
        q *= x2
        q += xp.float32(c)
    p *= x
    p /= q
    return p


def _fast_erf(xp: Any) -> Any:
    try:
        if xp.__name__ == "numpy":
            from scipy.special import erf
        elif xp.__name__ == "cupy":
            from cupyx.scipy.special import erf
        else:
            return None
    except ImportError:
        return None
    return erf


class Erf(Function):
    def forward(self, x):
        return erf_array(self.backend.xp, x).astype(x.dtype, copy=False)

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
    def __init__(self, approximate: str) -> None:
        self.approximate = approximate

    def forward(self, x):
        xp = self.backend.xp
        if self.approximate == "tanh":
            return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
        return (0.5 * x * (1 + erf_array(xp, x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.inputs
        if self.approximate == "tanh":
            t = tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
        pdf = _INV_SQRT_2PI * exp(-0.5 * x * x)
        return gy * (cdf + x * pdf)


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
