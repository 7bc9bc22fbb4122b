"""Errors raised by minidl, and ``warn`` for warnings that point at the user's line.

Every error names the op, the shapes (or backends) involved and what was expected, so that a user
can find the bad line without a debugger.
"""

from __future__ import annotations

import os
import sys
import types
import warnings


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


class AnomalyError(MinidlError, RuntimeError):
    """Anomaly mode (``minidl.autograd.detect_anomaly()``) found a NaN or inf in an op's output or gradient."""


def shape_error(op: str, *shapes: tuple[int, ...], expected: str) -> ShapeError:
    """Build a ShapeError that reads ``op: got shapes (2, 3) and (4,); expected ...``."""
    got = " and ".join(str(tuple(s)) for s in shapes)
    return ShapeError(f"{op}: got shapes {got}; expected {expected}")


def dtype_mismatch_error(op: str, **tensors: object) -> DTypeError:
    """Build the DTypeError of an op whose tensors (None skipped) must share one dtype, as in PyTorch's
    linear and conv: ``linear: got input int64, weight float32 and bias float32; expected one dtype ...``.

    Without that check an int64 or float64 input to a float32 layer computes in float64 and leaves a
    float64 gradient on the float32 weight. Callers compare the dtypes on their hot path and call this
    only to build the message.
    """
    dtypes = {name: str(t.dtype) for name, t in tensors.items() if t is not None}  # type: ignore[attr-defined]
    got = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
    weight = dtypes.get("weight")
    cast = {"float32": "x.float()", "float64": "x.double()"}.get(weight or "", f"x.to(minidl.{weight})")
    return DTypeError(f"{op}: got {got}; expected one dtype (as in PyTorch, nothing is promoted). Convert the "
                      f"input to the weight's dtype with {cast}, or the layer with .float() / .double()")


# --------------------------------------------------------------------------- warnings at the user's line
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _in_minidl(frame: types.FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_PACKAGE_DIR)


def user_frame() -> types.FrameType | None:
    """The innermost frame of the caller's stack that is outside the minidl package (None if there is none)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and _in_minidl(frame):
        frame = frame.f_back
    return frame


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` at the user's line: the innermost frame outside the minidl package.

    A fixed ``stacklevel`` cannot do it (an op is reached through a varying number of minidl
    frames: a Module, a container, ``backward``), so the frames are walked. The warning keeps the
    minidl module that issued it as its ``module``, so filters such as
    ``error::RuntimeWarning:minidl.*`` still select it; its filename and line are the user's.
    (Python 3.12's ``skip_file_prefixes`` would do the walk, but minidl supports 3.11.)
    """
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and not _in_minidl(frame):  # NumPy's frames, when called back from it
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "minidl") if frame is not None else "minidl"
    while frame is not None and _in_minidl(frame):
        frame = frame.f_back
    if frame is None:  # minidl was called from nowhere else (e.g. a thread it started)
        warnings.warn(message, category, stacklevel=2)
        return
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, module=module,
                           registry=frame.f_globals.setdefault("__warningregistry__", {}),
                           module_globals=frame.f_globals)
