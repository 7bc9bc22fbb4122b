"""How the profiler sees every op and every kernel, and why an unprofiled step pays nothing for it.

Nothing in ``Function.__call__`` or in a backend asks "am I being profiled?". Instead, while a profiler
(or ``MINIDL_LOG=kernels``) is on, three things are swapped in, and swapped back when the last one ends:

* ``Function.__call__`` becomes ``_profiled_call``: a span around the real call (the op's name, its inputs'
  shapes, dtype and backend, the bytes of its new outputs). A recorded Function also gets an instance
  attribute ``backward`` (``_BackwardSpan``) so that the walk's ``f.backward(*grads)`` is a span too.
* ``autograd._run_backward`` becomes ``_profiled_run_backward``: the walk is one span, and every op and
  kernel inside it is marked ``phase="backward"``.
* each backend instance gets one instance attribute per kernel name in ``KERNELS``, shadowing the class's
  method with a timed wrapper; on exit the attributes are deleted and the class methods show again.

Spans nest per thread: a stack of open events, each closed event adding its duration to its parent's
``child_ns``, so that ``self_ns = duration - child_ns`` (time spent in the span itself, not below it).
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from typing import Any

from minidl import autograd
from minidl import backends as backend_registry
from minidl.autograd import Function
from minidl.backends import KERNELS, Backend
from minidl.tensor import Tensor

_now = time.perf_counter_ns


class Event:
    """One span: an op (``kind="op"``), a backend kernel (``"kernel"``) or a ``record_function`` range
    (``"user"``). Times are ``time.perf_counter_ns()`` values; ``bytes`` counts the new output arrays."""

    __slots__ = ("name", "kind", "phase", "backend", "shapes", "dtype", "parent", "depth", "tid",
                 "start_ns", "end_ns", "child_ns", "bytes")

    def __init__(self, name: str, kind: str, phase: str, backend: str, shapes: tuple, dtype: str,
                 parent: Event | None, depth: int, tid: int) -> None:
        self.name, self.kind, self.phase, self.backend = name, kind, phase, backend
        self.shapes, self.dtype, self.parent, self.depth, self.tid = shapes, dtype, parent, depth, tid
        self.start_ns = self.end_ns = self.child_ns = self.bytes = 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def self_ns(self) -> int:
        return self.end_ns - self.start_ns - self.child_ns

    def __repr__(self) -> str:
        return (f"Event({self.name!r}, {self.kind}, {self.phase}, backend={self.backend!r}, shapes={self.shapes}, "
                f"{self.duration_ns / 1e3:.1f} us)")


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list[Event] = []  # the spans open in this thread, innermost last
        self.phase = "forward"  # "backward" inside the backward walk


_local = _Local()
_sinks: list[list[Event]] = []  # one event list per running profiler
_log_kernels = False  # MINIDL_LOG=kernels: one line per kernel call on stderr
_lock = threading.RLock()
_installed = False
_saved: dict[str, Any] = {}  # what was swapped out (the plain Function.__call__ and backward walk)
_wrapped: dict[int, tuple[Backend, dict[str, Any]]] = {}  # id(backend) -> (backend, kernel -> previous attribute)
_shimmed: weakref.WeakSet[Function] = weakref.WeakSet()  # Functions given a _BackwardSpan
_MISSING = object()


# --------------------------------------------------------------------------- spans
def begin(name: str, kind: str, backend: str = "", shapes: tuple = (), dtype: str = "") -> Event | None:
    """Open a span in this thread (None when no profiler runs)."""
    if not _sinks:
        return None
    local = _local
    stack = local.stack
    ev = Event(name, kind, local.phase, backend, shapes, dtype, stack[-1] if stack else None, len(stack),
               threading.get_native_id())
    for sink in _sinks:
        sink.append(ev)
    stack.append(ev)
    ev.start_ns = _now()
    return ev


def end(ev: Event) -> None:
    """Close ``ev`` (the innermost open span of this thread)."""
    ev.end_ns = _now()
    stack = _local.stack
    if stack and stack[-1] is ev:
        stack.pop()
    elif ev in stack:  # a span left open below (a generator suspended inside one): close up to ev
        del stack[stack.index(ev):]
    if ev.parent is not None:
        ev.parent.child_ns += ev.end_ns - ev.start_ns


def _root(array: Any) -> Any:
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def new_bytes(outputs: Any, inputs: Any) -> int:
    """Bytes of the arrays in ``outputs`` that are not views of an array in ``inputs``."""
    outs = outputs if isinstance(outputs, tuple | list) else (outputs,)
    outs = [getattr(o, "array", o) for o in outs]
    outs = [o for o in outs if hasattr(o, "nbytes") and hasattr(o, "shape")]
    if not outs:
        return 0
    roots = {id(_root(getattr(x, "array", x))) for x in inputs if hasattr(getattr(x, "array", x), "shape")}
    return sum(int(o.nbytes) for o in outs if id(_root(o)) not in roots)


def _shape_and_dtype(args: tuple, scalars: bool = False) -> tuple[tuple, str]:
    """The shapes of the arrays (and Tensors) in ``args`` and the first one's dtype; ``scalars=True`` gives
    other arguments the shape ``()`` (an op's Python-number input, shown ``[]`` as in PyTorch's table)."""
    shapes, dtype = [], ""
    for a in args:
        a = getattr(a, "array", a)
        shape = getattr(a, "shape", None)
        if shape is not None and hasattr(a, "dtype"):
            shapes.append(tuple(shape))
            if not dtype:
                dtype = str(a.dtype)
        elif scalars:
            shapes.append(())
    return tuple(shapes), dtype


# --------------------------------------------------------------------------- ops and the backward walk
def _profiled_call(self: Function, *inputs: Any) -> Any:
    backend = next((x.backend for x in inputs if isinstance(x, Tensor)), None)
    if backend is not None and id(backend) not in _wrapped:
        wrap_backend(backend)  # a backend created after the profiler started
    call = _saved["call"]
    if not _sinks:
        return call(self, *inputs)
    shapes, dtype = _shape_and_dtype(inputs, scalars=True)
    ev = begin(self.name, "op", backend.name if backend is not None else "", shapes, dtype)
    try:
        out = call(self, *inputs)
    finally:
        if ev is not None:
            end(ev)
    if ev is not None:
        ev.bytes = new_bytes(out, inputs)
        if self.inputs is not None and "backward" not in self.__dict__:  # recorded for backward
            self.backward = _BackwardSpan(self)
            _shimmed.add(self)
    return out


class _BackwardSpan:
    """``f.backward`` as a span named like PyTorch's nodes (``MulBackward``), for Functions made while profiling."""

    __slots__ = ("ref", "fn", "name")

    def __init__(self, f: Function) -> None:
        self.ref = weakref.ref(f)  # no cycle: f holds this, this holds f weakly
        self.fn = type(f).backward
        self.name = f"{f.name}Backward"

    def __call__(self, *grads: Any) -> Any:
        f = self.ref()
        shapes, dtype = _shape_and_dtype(grads)
        ev = begin(self.name, "op", f.backend.name, shapes, dtype)
        try:
            return self.fn(f, *grads)
        finally:
            if ev is not None:
                end(ev)


def _profiled_run_backward(*args: Any, **kwargs: Any) -> Any:
    local = _local
    previous, local.phase = local.phase, "backward"
    ev = begin("autograd.backward", "op")
    try:
        return _saved["run_backward"](*args, **kwargs)
    finally:
        if ev is not None:
            end(ev)
        local.phase = previous


# --------------------------------------------------------------------------- kernels
def _kernel_wrapper(backend_name: str, name: str, method: Any) -> Any:
    def kernel(*args: Any, **kwargs: Any) -> Any:
        shapes, dtype = _shape_and_dtype(args)
        ev = begin(name, "kernel", backend_name, shapes, dtype)
        t0 = _now()
        try:
            out = method(*args, **kwargs)
        finally:
            if ev is not None:
                end(ev)
        t1 = _now()
        if ev is not None:
            ev.bytes = new_bytes(out, args)
        if _log_kernels:
            print(format_kernel_line(name, backend_name, shapes, dtype, t1 - t0), file=sys.stderr, flush=True)
        return out

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__wrapped__ = method  # type: ignore[attr-defined]
    return kernel


def format_kernel_line(name: str, backend: str, shapes: tuple, dtype: str, ns: int) -> str:
    """One ``MINIDL_LOG=kernels`` line: ``[minidl] numpy  im2col  32x1x28x28  float32  0.123 ms``."""
    dims = ", ".join("x".join(str(n) for n in s) or "scalar" for s in shapes) or "-"
    return f"[minidl] {backend:<10} {name:<30} {dims:<40} {dtype or '-':<8} {ns / 1e6:9.3f} ms"


def wrap_backend(backend: Backend) -> None:
    """Shadow each kernel of ``backend`` with a timed instance attribute (until ``uninstall``)."""
    with _lock:
        if id(backend) in _wrapped or not _installed:
            return
        previous = {}
        for name in KERNELS:
            method = getattr(backend, name, None)
            if method is None:
                continue
            previous[name] = backend.__dict__.get(name, _MISSING)
            setattr(backend, name, _kernel_wrapper(backend.name, name, method))
        _wrapped[id(backend)] = (backend, previous)


def _unwrap_all() -> None:
    for backend, previous in _wrapped.values():
        for name, old in previous.items():
            if old is _MISSING:
                backend.__dict__.pop(name, None)
            else:
                setattr(backend, name, old)
    _wrapped.clear()


# --------------------------------------------------------------------------- switching on and off
def _refresh() -> None:
    """Install the instrumentation while a profiler or the kernel log needs it; remove it otherwise."""
    global _installed
    wanted = bool(_sinks) or _log_kernels
    if wanted and not _installed:
        _saved["call"] = Function.__call__  # kept after uninstall: a call begun in another thread still finds it
        _saved["run_backward"] = autograd._run_backward
        _installed = True
        Function.__call__ = _profiled_call  # type: ignore[method-assign]
        autograd._run_backward = _profiled_run_backward
        for backend in list(backend_registry._instances.values()):
            wrap_backend(backend)
    elif not wanted and _installed:
        _installed = False
        Function.__call__ = _saved["call"]  # type: ignore[method-assign]
        autograd._run_backward = _saved["run_backward"]
        _unwrap_all()
        for f in list(_shimmed):
            f.__dict__.pop("backward", None)
        _shimmed.clear()


def add_sink(events: list[Event]) -> None:
    with _lock:
        _sinks.append(events)
        _refresh()


def remove_sink(events: list[Event]) -> None:
    with _lock:
        for i, sink in enumerate(_sinks):
            if sink is events:
                del _sinks[i]
                break
        _refresh()


def set_kernel_log(enabled: bool) -> None:
    """Print one line per kernel call on stderr (what ``MINIDL_LOG=kernels`` turns on at import)."""
    global _log_kernels
    with _lock:
        _log_kernels = bool(enabled)
        _refresh()


def is_instrumented() -> bool:
    """True while ops and kernels are being timed (a profiler runs or the kernel log is on)."""
    return _installed
