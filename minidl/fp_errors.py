"""NumPy's floating-point warnings inside an op, re-issued at the user's line.

``log(-1)`` makes NumPy warn "invalid value encountered in log" from the Python line that called
the ufunc, which is inside minidl (``minidl/ops/elementwise.py``), not the user's line. While an
op's ``forward`` runs, ``Function.__call__`` switches every error kind that NumPy would *warn*
about to NumPy's *call* mode with ``_on_fp_error`` as the callback, which warns through
``minidl.errors.warn`` (at the first frame outside minidl) and names the op:

    RuntimeWarning: invalid value encountered in minidl op Log        (at the user's line)

Kinds the user set to anything else (``np.seterr(all="raise")`` to hunt a NaN, "ignore", "print",
or a callback of their own) are left exactly as they are.

The switch runs on every op, so it must cost little: NumPy 2 keeps its error state in a
contextvar holding an opaque object; the object derived from each state the user runs in is
built once and cached, and an op then costs one contextvar set and reset (0.3 us against 2 us for
``np.errstate``). NumPy 1.26 takes the public ``np.errstate`` route.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from minidl.errors import warn

try:  # NumPy >= 2: private, hence the fallback below if a release moves them
    from numpy._core.umath import _extobj_contextvar, _get_extobj_dict, _make_extobj
except ImportError:  # pragma: no cover - NumPy 1.26
    _extobj_contextvar = None

_KINDS = ("divide", "over", "under", "invalid")
_derived: dict[Any, Any] = {}  # the user's error state -> the same with "warn" replaced by "call"


def _on_fp_error(kind: str, flag: int) -> None:
    """NumPy's callback: kind is "divide by zero", "overflow", "underflow" or "invalid value"."""
    op = "an op"
    frame = sys._getframe(1)
    while frame is not None:  # the innermost Function.forward that is running
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "forward" else None
        if owner is not None and hasattr(owner, "backward"):
            op = type(owner).__name__
            break
        frame = frame.f_back
    warn(f"{kind} encountered in minidl op {op}", RuntimeWarning)


def _redirected(settings: dict[str, Any]) -> dict[str, str] | None:
    """The modes to use inside an op, or None when nothing is to change."""
    if settings["call"] is not None or not any(settings[k] == "warn" for k in _KINDS):
        return None  # a callback of the user's own, or no kind that warns: leave it all alone
    return {k: "call" if settings[k] == "warn" else settings[k] for k in _KINDS}


def enter() -> Any:
    """Switch to the redirected state for one op's forward; returns the token for ``leave``."""
    if _extobj_contextvar is None:
        modes = _redirected({**np.geterr(), "call": np.geterrcall()})
        if modes is None:
            return None
        state = np.errstate(call=_on_fp_error, **modes)
        state.__enter__()
        return state
    current = _extobj_contextvar.get()
    derived = _derived.get(current)
    if derived is None:
        settings = _get_extobj_dict()  # the state `current` stands for
        modes = _redirected(settings)
        derived = current if modes is None else _make_extobj(call=_on_fp_error, bufsize=settings["bufsize"], **modes)
        if len(_derived) > 64:  # every `with np.errstate(...)` makes a new state: keep the cache small
            _derived.clear()
        _derived[current] = derived
    return _extobj_contextvar.set(derived)


def leave(token: Any) -> None:
    """Back to the user's state after the op's forward."""
    if _extobj_contextvar is not None:
        _extobj_contextvar.reset(token)
    elif token is not None:
        token.__exit__(None, None, None)
