"""Non-differentiable ops: comparisons, logical not, argmax/argmin. They return tensors with
``requires_grad=False`` (bool or int64) and record nothing in the graph."""

from __future__ import annotations

from typing import Any

from minidl.errors import shape_error
from minidl.tensor import Tensor


def _data(x: Any, like: Tensor) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _compare(op: str, a: Tensor, b: Any, fn: Any) -> Tensor:
    try:
        return Tensor._wrap(fn(a.data, _data(b, a)), a.backend, False)
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
    return Tensor._wrap(~a.data, a.backend, False)


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest value (over the flattened tensor when axis is None), as int64."""
    return Tensor._wrap(x.data.argmax(axis=axis, keepdims=keepdims).astype("int64"), x.backend, False)


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value, as int64."""
    return Tensor._wrap(x.data.argmin(axis=axis, keepdims=keepdims).astype("int64"), x.backend, False)
