"""Non-differentiable ops: comparisons, logic, argmax/argmin, rounding, integer division, NaN tests.

They return tensors with ``requires_grad=False`` and record nothing in the graph: their gradient is
zero almost everywhere (rounding, sign, floor division) or undefined (comparisons, logic), so no
gradient flows through them (PyTorch returns zeros there; here the graph simply stops).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.errors import shape_error
from minidl.tensor import Tensor


def _data(x: Any, like: Tensor) -> Any:
    return x.array if isinstance(x, Tensor) else x


def _compare(op: str, a: Tensor, b: Any, fn: Any) -> Tensor:
    try:
        return Tensor._wrap(fn(a.array, _data(b, a)), a.backend, False)
    except ValueError:
        raise shape_error(op, a.shape, getattr(b, "shape", ()), expected="shapes that broadcast") from None


def eq(a: Tensor, b: Any) -> Tensor:
    return _compare("eq", a, b, lambda x, y: x == y)


def ne(a: Tensor, b: Any) -> Tensor:
    return _compare("ne", a, b, lambda x, y: x != y)


def lt(a: Tensor, b: Any) -> Tensor:
    return _compare("lt", a, b, lambda x, y: x < y)


def le(a: Tensor, b: Any) -> Tensor:
    return _compare("le", a, b, lambda x, y: x <= y)


def gt(a: Tensor, b: Any) -> Tensor:
    return _compare("gt", a, b, lambda x, y: x > y)


def ge(a: Tensor, b: Any) -> Tensor:
    return _compare("ge", a, b, lambda x, y: x >= y)


def logical_not(a: Tensor) -> Tensor:
    return Tensor._wrap(~a.array, a.backend, False)


def _wrap(x: Tensor, array: Any) -> Tensor:
    return Tensor._wrap(array, x.backend, False)


def _binary(op: str, a: Any, b: Any, fn: Any) -> Tensor:
    """``fn`` on the arrays of a and b (either may be a Python number) as a constant tensor."""
    like = a if isinstance(a, Tensor) else b
    return _compare(op, like, b if like is a else a, (lambda x, y: fn(x, y)) if like is a else (lambda x, y: fn(y, x)))


def logical_and(a: Any, b: Any) -> Tensor:
    return _binary("logical_and", a, b, lambda x, y: x.astype(bool) & _as_bool(y))


def logical_or(a: Any, b: Any) -> Tensor:
    return _binary("logical_or", a, b, lambda x, y: x.astype(bool) | _as_bool(y))


def _as_bool(y: Any) -> Any:
    return y.astype(bool) if hasattr(y, "astype") else bool(y)


def bitwise_and(a: Any, b: Any) -> Tensor:
    """``a & b`` for bool or integer tensors."""
    return _binary("bitwise_and", a, b, lambda x, y: x & y)


def bitwise_or(a: Any, b: Any) -> Tensor:
    return _binary("bitwise_or", a, b, lambda x, y: x | y)


def bitwise_xor(a: Any, b: Any) -> Tensor:
    return _binary("bitwise_xor", a, b, lambda x, y: x ^ y)


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b`` rounded toward minus infinity (PyTorch's ``floor_divide`` / ``div(rounding_mode="floor")``)."""
    return _binary("floor_divide", a, b, lambda x, y: x // y)


def trunc_divide(a: Any, b: Any) -> Tensor:
    """``a / b`` rounded toward zero (``div(rounding_mode="trunc")``); integers stay integers."""
    def fn(x: Any, y: Any) -> Any:
        if x.dtype.kind in "biu" and getattr(y, "dtype", np.dtype(type(y))).kind in "biu":
            q = x // y
            return q + ((q < 0) & (x % y != 0))  # floor went one below zero's side
        return np.trunc(x / y)
    return _binary("trunc_divide", a, b, fn)


def remainder(a: Any, b: Any) -> Tensor:
    """``a % b`` with the sign of ``b`` (Python's and PyTorch's ``remainder``)."""
    return _binary("remainder", a, b, lambda x, y: x % y)


def isnan(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.isnan(x.array))


def isinf(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.isinf(x.array))


def isfinite(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.isfinite(x.array))


def sign(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.sign(x.array))


def floor(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.floor(x.array))


def ceil(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.ceil(x.array))


def trunc(x: Tensor) -> Tensor:
    return _wrap(x, x.backend.xp.trunc(x.array))


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001  (PyTorch's name)
    """Round half to even, like PyTorch and NumPy."""
    return _wrap(x, x.backend.xp.round(x.array, decimals))


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (over ``dim``) is non-zero."""
    return _wrap(x, x.backend.xp.asarray(x.array.astype(bool).all(axis=dim, keepdims=keepdim)))


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element (over ``dim``) is non-zero."""
    return _wrap(x, x.backend.xp.asarray(x.array.astype(bool).any(axis=dim, keepdims=keepdim)))


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    """Index of the largest value along ``dim`` (over the flattened tensor when None), as int64."""
    dim, keepdim = (axis if dim is None else dim), (keepdim if keepdims is None else keepdims)
    return _wrap(x, x.array.argmax(axis=dim, keepdims=keepdim).astype("int64"))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    """Index of the smallest value along ``dim``, as int64."""
    dim, keepdim = (axis if dim is None else dim), (keepdim if keepdims is None else keepdims)
    return _wrap(x, x.array.argmin(axis=dim, keepdims=keepdim).astype("int64"))
