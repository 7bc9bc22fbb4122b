"""In-place ops (``add_``, ``mul_``, ``fill_``, ``copy_``, ``normal_``, ``x[i] = v``, ...) and their guard.

An in-place op writes into the tensor's own memory, so everything that shares it (views, ``.data``,
an optimizer's reference to a parameter) sees the change. Autograd needs two rules for that, the
same as PyTorch's:

1. **No in-place op on a tensor the graph depends on, while the graph is being recorded.** A leaf
   that requires grad (a parameter) may be changed only inside ``minidl.no_grad()`` (optimizers and
   ``nn.init`` do so). minidl also refuses in-place ops on non-leaf tensors that require grad
   (PyTorch rewrites the graph there; use the out-of-place form, ``x = x + y``).
2. **Version counter.** Every in-place op bumps ``tensor._version``. A Function records the
   versions of its inputs when it runs; backward raises if one changed since (the saved value is
   gone, so the gradient would be silently wrong).

Each op computes its result out of place (with the ordinary op, under ``no_grad``) and copies it
into the tensor's memory: one extra temporary, and the same code path as the ops themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minidl.autograd import is_grad_enabled, no_grad
from minidl.ops.index import to_array_index
from minidl.random import get_generator
from minidl.tensor import Tensor


def check(t: Tensor, op: str, *others: Any) -> None:
    """Raise if writing into ``t`` in place would corrupt a graph that is being recorded."""
    if not is_grad_enabled():
        return
    if t.requires_grad and t.is_leaf:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad (shape {tuple(t.shape)}) is used in an in-place "
                           f"operation; do it inside `with minidl.no_grad():` (as optimizers and nn.init do)")
    if t.requires_grad:
        raise RuntimeError(f"{op}: in-place operations on a tensor that is part of the graph (created by "
                           f"{t.creator.name}) are not supported in minidl; use the out-of-place form "
                           f"(e.g. `x = x + y` instead of `x.add_(y)`)")
    if any(isinstance(o, Tensor) and o.requires_grad for o in others):
        raise RuntimeError(f"{op}: the value written in place requires grad, but the tensor written into does not "
                           f"(shape {tuple(t.shape)}); use the out-of-place form so the gradient is tracked")


def _write(t: Tensor, op: str, array: Any) -> Tensor:
    """Copy ``array`` into ``t``'s memory (same shape, cast to ``t``'s dtype) and bump its version."""
    if tuple(array.shape) != tuple(t.array.shape):
        raise RuntimeError(f"{op}: the result has shape {tuple(array.shape)} but the tensor written into has "
                           f"shape {tuple(t.array.shape)} (in-place ops cannot change a tensor's shape)")
    if array.dtype != t.array.dtype and not np.can_cast(array.dtype, t.array.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {array.dtype} can't be cast to the tensor's dtype {t.array.dtype}")
    t.array[...] = array
    t._version += 1
    return t


def apply(t: Tensor, op: str, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
    """``t = fn(t, *args)`` written into ``t``'s memory: the body of ``add_``, ``mul_``, ``clamp_``, ..."""
    check(t, op, *args)
    with no_grad():
        result = fn(t, *args, **kwargs)
    return _write(t, op, result.array)


def fill_(t: Tensor, value: Any) -> Tensor:
    """Set every element to ``value`` (a number or a one-element tensor)."""
    check(t, "fill_", value)
    if isinstance(value, Tensor):
        value = value.item()
    t.array[...] = value
    t._version += 1
    return t


def copy_(t: Tensor, src: Any) -> Tensor:
    """Copy ``src`` (a Tensor on any backend, an array or a number; broadcast to ``t``) into ``t``."""
    check(t, "copy_", src)
    if isinstance(src, Tensor):
        src = src.array if src.backend is t.backend else t.backend.asarray(src.backend.to_numpy(src.array))
    try:
        t.array[...] = src
    except ValueError:
        raise RuntimeError(f"copy_: cannot broadcast a source of shape {tuple(np.shape(src))} to the destination's "
                           f"shape {tuple(t.array.shape)}") from None
    t._version += 1
    return t


def random_(t: Tensor, op: str, kind: str, a: float, b: float, generator: Any) -> Tensor:
    """Fill ``t`` with samples: ``kind="normal"`` (mean a, std b) or ``"uniform"`` in [a, b)."""
    check(t, op)
    g = get_generator(generator)
    shape = tuple(t.array.shape)
    draws = g.normal(shape, a, b) if kind == "normal" else g.uniform(shape, a, b)
    t.array[...] = t.backend.asarray(draws.astype(t.array.dtype))
    t._version += 1
    return t


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value`` in place (``value``: a number, an array or a Tensor of any backend)."""
    check(t, "__setitem__", value)
    if isinstance(value, Tensor):
        value = value.array if value.backend is t.backend else t.backend.asarray(value.backend.to_numpy(value.array))
    t.array[to_array_index(index, t.backend)] = value
    t._version += 1
