"""Elementwise ops: arithmetic, exp/log, trigonometry, activations, where/clip.

Each class is one op: ``forward`` on arrays, ``backward`` on Tensors with other minidl ops, so
that the gradient is itself differentiable. Broadcasting needs no code here: the engine sums a
gradient back to its input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Function
from minidl.dtypes import promote_types
from minidl.errors import shape_error
from minidl.ops import compare
from minidl.tensor import Tensor


def result_dtype(a: Any, b: Any) -> Any:
    """The dtype of a binary op on arrays ``a`` and ``b``: PyTorch's promotion, not NumPy's.

    * different kinds (bool < integer < floating): the higher kind's dtype wins, so a float32
      tensor times an int64 tensor stays float32 (NumPy would give float64);
    * the same kind: the wider dtype, except that a 0-d operand does not widen an operand with
      dimensions (``x + minidl.tensor(1.0, dtype=float64)`` stays float32 for a float32 x).
    Python numbers never reach here: they become 0-d constants of the tensor's dtype first.
    """
    rank = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3, "V": 2}  # "V": NumPy's kind of bfloat16, a float
    ka, kb = rank[a.dtype.kind], rank[b.dtype.kind]
    if ka != kb:
        return a.dtype if ka > kb else b.dtype
    if (a.ndim == 0) != (b.ndim == 0):
        return b.dtype if a.ndim == 0 else a.dtype
    return promote_types(a.dtype, b.dtype)  # NumPy's, but PyTorch's for bfloat16


class _Binary(Function):
    """Binary op: ``forward`` applies ``self.fn`` (after PyTorch's dtype promotion, ``result_dtype``)
    and turns a numpy broadcast failure into a ShapeError naming the op and both shapes."""

    def forward(self, a, b):
        if a.dtype != b.dtype:
            dtype = result_dtype(a, b)
            a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
        try:
            return self.fn(a, b)
        except ValueError:
            raise shape_error(self.name.lower(), a.shape, b.shape, expected="shapes that broadcast") from None


class Add(_Binary):
    """y = a + b;  dy/da = 1, dy/db = 1."""

    @staticmethod
    def fn(a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(_Binary):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    @staticmethod
    def fn(a, b):
        return a - b

    def backward(self, gy):
        return gy, (-gy if self.inputs[1].requires_grad else None)


class Mul(_Binary):
    """y = a * b;  dy/da = b, dy/db = a."""

    @staticmethod
    def fn(a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs  # a product with a constant (x * mask, loss * scale) computes one gradient, not two
        return (gy * b if a.requires_grad else None), (gy * a if b.requires_grad else None)


class Div(_Binary):
    """y = a / b;  dy/da = 1 / b, dy/db = -a / b^2."""

    @staticmethod
    def fn(a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return (ga if a.requires_grad else None), (-ga * a / b if b.requires_grad else None)


class Pow(_Binary):
    """y = a ** b;  dy/da = b a^(b-1), dy/db = y log(a)  (only needed, and only defined, for a > 0)."""

    uses_outputs = True  # backward reads self.output()

    @staticmethod
    def fn(a, b):
        return a**b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy * b * a ** (b - 1) if a.requires_grad else None
        gb = gy * self.output() * log(a) if b.requires_grad else None
        return ga, gb


class PowScalar(Function):
    """y = x ** c for a Python number c;  dy/dx = c x^(c-1)."""

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x):
        return x**self.c

    def backward(self, gy):
        (x,) = self.inputs
        return gy * self.c * x ** (self.c - 1)


class Neg(Function):
    """y = -x;  dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Abs(Function):
    """y = |x|;  dy/dx = sign(x)  (0 at 0, like PyTorch)."""

    def forward(self, x):
        return self.backend.xp.abs(x)

    def backward(self, gy):
        (x,) = self.inputs
        return mask(gy, self.backend.xp.sign(x.array))


class Exp(Function):
    """y = e^x;  dy/dx = y."""

    uses_outputs = True  # backward reads self.output()

    def forward(self, x):
        return self.backend.xp.exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    """y = ln x;  dy/dx = 1 / x."""

    def forward(self, x):
        return self.backend.xp.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Log1p(Function):
    """y = ln(1 + x), accurate for small x;  dy/dx = 1 / (1 + x)."""

    def forward(self, x):
        return self.backend.xp.log1p(x)

    def backward(self, gy):
        return gy / (self.inputs[0] + 1)


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)."""

    uses_outputs = True  # backward reads self.output()

    def forward(self, x):
        return self.backend.xp.sqrt(x)

    def backward(self, gy):
        return gy / (self.output() * 2)


class Sin(Function):
    """y = sin x;  dy/dx = cos x."""

    def forward(self, x):
        return self.backend.xp.sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    """y = cos x;  dy/dx = -sin x."""

    def forward(self, x):
        return self.backend.xp.cos(x)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


class TanhFunction(Function):
    """y = tanh x;  dy/dx = 1 - y^2."""

    uses_outputs = True  # backward reads self.output()

    def forward(self, x):
        return self.backend.xp.tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


class SigmoidFunction(Function):
    """y = 1 / (1 + e^-x) = (1 + tanh(x/2)) / 2 (the tanh form never overflows);  dy/dx = y (1 - y)."""

    uses_outputs = True  # backward reads self.output()

    def forward(self, x):
        y = self.backend.xp.tanh(x * 0.5)
        y *= 0.5
        y += 0.5
        return y

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


class Mask(Function):
    """y = x * m for a constant array m (the gradient rule of relu, clip, where, max);  dy/dx = m."""

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def forward(self, x):
        return x * self.mask

    def backward(self, gy):
        return mask(gy, self.mask)


class Relu(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0 else 0."""

    def forward(self, x):
        return self.backend.xp.maximum(x, 0)

    def backward(self, gy):
        x = self.inputs[0].array
        return mask(gy, x > 0)  # a boolean mask: a quarter of the memory of a float one, same product


class Maximum(_Binary):
    """y = max(a, b);  the gradient goes to the larger input (split evenly on ties)."""

    def fn(self, a, b):
        return self.backend.xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return _split_by_winner(gy, a.array > b.array, a.array == b.array)


class Minimum(_Binary):
    """y = min(a, b);  the gradient goes to the smaller input (split evenly on ties)."""

    def fn(self, a, b):
        return self.backend.xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return _split_by_winner(gy, a.array < b.array, a.array == b.array)


def _split_by_winner(gy: Tensor, a_wins: Any, tie: Any) -> tuple[Tensor, Tensor]:
    dtype = gy.dtype
    ma = a_wins.astype(dtype) + tie.astype(dtype) * 0.5
    return mask(gy, ma), mask(gy, 1 - ma)


class Clip(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 inside [lo, hi], 0 where clipped."""

    def __init__(self, lo: float | None, hi: float | None) -> None:
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return self.backend.xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].array
        inside = self.backend.xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return mask(gy, inside.astype(x.dtype))


class Where(Function):
    """y = a where cond else b (cond is constant);  dy/da = cond, dy/db = not cond."""

    def __init__(self, cond: Any) -> None:
        self.cond = cond

    def forward(self, a, b):
        return self.backend.xp.where(self.cond, a, b)

    def backward(self, gy):
        dtype = gy.dtype
        return mask(gy, self.cond.astype(dtype)), mask(gy, (~self.cond).astype(dtype))


# --------------------------------------------------------------------------- functional API
def add(a: Any, b: Any) -> Tensor:
    """a + b with numpy broadcasting."""
    return Add()(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a - b with numpy broadcasting."""
    return Sub()(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """a * b with numpy broadcasting."""
    return Mul()(a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b, true division: two integer operands give float32 (as in PyTorch)."""
    if _is_integer(a) and _is_integer(b):
        if isinstance(a, Tensor):
            a = a.to(np.float32)
        else:
            b = b.to(np.float32)
    return Div()(a, b)


def divide(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """PyTorch's ``div``: true division (None), or rounded toward minus infinity ("floor") or zero ("trunc").

    The rounded forms have no gradient (it is zero almost everywhere): the graph stops there.
    """
    if rounding_mode is None:
        return div(a, b)
    if rounding_mode == "floor":
        return compare.floor_divide(a, b)
    if rounding_mode == "trunc":
        return compare.trunc_divide(a, b)
    raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")


def _is_integer(v: Any) -> bool:
    return (isinstance(v, Tensor) and v.dtype.kind in "biu") or (isinstance(v, int) and not isinstance(v, bool))


def pow(a: Any, b: Any) -> Tensor:
    """a ** b; a Python-number exponent uses the cheaper PowScalar."""
    if isinstance(a, Tensor) and isinstance(b, int | float) and not isinstance(b, bool):
        return PowScalar(b)(a)
    return Pow()(a, b)


def neg(x: Tensor) -> Tensor:
    return Neg()(x)


def abs(x: Tensor) -> Tensor:
    return Abs()(x)


def exp(x: Tensor) -> Tensor:
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    return Log()(x)


def log1p(x: Tensor) -> Tensor:
    return Log1p()(x)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt()(x)


def sin(x: Tensor) -> Tensor:
    return Sin()(x)


def cos(x: Tensor) -> Tensor:
    return Cos()(x)


def tanh(x: Tensor) -> Tensor:
    return TanhFunction()(x)


def sigmoid(x: Tensor) -> Tensor:
    return SigmoidFunction()(x)


def relu(x: Tensor) -> Tensor:
    return Relu()(x)


def mask(x: Tensor, m: Any) -> Tensor:
    """x * m where m is a constant array of x's backend (no gradient flows into m)."""
    return Mask(m)(x)


def maximum(a: Any, b: Any) -> Tensor:
    return Maximum()(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return Minimum()(a, b)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp x into [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip(min, max)(x)


clamp = clip


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Pick ``a`` where ``cond`` is true, ``b`` elsewhere (cond is a bool tensor or array)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("where: at least one of a and b must be a Tensor")
    ref = a if isinstance(a, Tensor) else b
    c = cond.array if isinstance(cond, Tensor) else ref.backend.asarray(cond)
    return Where(c.astype(bool))(a, b)
