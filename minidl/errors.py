"""Errors raised by minidl.

Every error names the op, the shapes (or backends) involved and what was expected, so that a user
can find the bad line without a debugger.
"""

from __future__ import annotations


class MinidlError(Exception):
    """Base class of every error minidl raises on purpose."""


class ShapeError(MinidlError, ValueError):
    """Shapes that do not fit an op: broadcasting, matmul, reshape, concatenation, ..."""


class DTypeError(MinidlError, TypeError):
    """A dtype an op cannot work with (e.g. a gradient asked of an integer tensor)."""


class BackendMismatchError(MinidlError, ValueError):
    """Tensors on different backends were given to one op."""


class BackendUnavailableError(MinidlError, ImportError):
    """A backend was asked for whose package (or device) is missing."""


def shape_error(op: str, *shapes: tuple[int, ...], expected: str) -> ShapeError:
    """Build a ShapeError that reads ``op: got shapes (2, 3) and (4,); expected ...``."""
    got = " and ".join(str(tuple(s)) for s in shapes)
    return ShapeError(f"{op}: got shapes {got}; expected {expected}")
