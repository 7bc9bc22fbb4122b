"""The autograd engine: Function, the backward walk, and grad modes.

How it works, in four sentences:

1. Calling a ``Function`` runs its ``forward`` on raw arrays and wraps the results in Tensors.
2. When grad mode is on and an input requires a gradient, the function remembers its inputs and
   becomes the ``creator`` of its outputs; it holds the outputs only *weakly*, so a graph nobody
   references anymore frees itself.
3. ``backward`` walks the graph from the output, newest function first (each function has a
   ``generation`` one higher than its newest input), and calls each function's ``backward``
   with the gradients of its outputs; that ``backward`` is written with minidl ops, so the same
   walk with ``create_graph=True`` records a graph of the gradient itself: higher-order
   gradients come for free.
4. Broadcasting is undone in one place, here: a gradient whose shape differs from its input's
   shape is summed back to that shape (``sum_to``) before it is passed on.

The walk is a loop over a heap, not a recursion: a chain of 100,000 ops backpropagates.

Two tools look inside a step and cost nothing when unused: anomaly mode (``detect_anomaly()``: every
op's outputs and every gradient checked for NaN/inf, each op's source line recorded) and gradient
hooks (``Tensor.register_hook``, ``retain_grad``), run by the walk on tensors that have them.
"""

from __future__ import annotations

import contextvars
import functools
import heapq
import itertools
import linecache
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl import fp_errors
from minidl.backends import Backend
from minidl.backends.base import accumulation_dtype
from minidl.dtypes import BFLOAT16
from minidl.errors import AnomalyError, BackendMismatchError, shape_error, user_frame
from minidl.tensor import Tensor, TensorHooks

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("minidl_grad_enabled", default=True)
# minidl.amp.autocast: None when off; inside it, the function that casts the inputs of an op whose class sets
# ``autocast`` (minidl/amp/autocast.py). Off during the backward walk: backward runs in the dtypes forward chose.
_autocast: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar("minidl_autocast", default=None)


# --------------------------------------------------------------------------- grad modes
def is_grad_enabled() -> bool:
    """True when new ops are recorded for backward."""
    return _grad_enabled.get()


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """True inside an enabled ``minidl.autocast`` block (for ``device_type`` when given), as PyTorch's."""
    casting = _autocast.get()
    return casting is not None and (device_type is None or casting.device_type == device_type)


class set_grad_enabled:
    """Context manager and decorator that turns graph recording on or off.

    >>> import minidl
    >>> x = minidl.ones(2, requires_grad=True)
    >>> with minidl.no_grad():
    ...     (x * 2).requires_grad
    False
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(_grad_enabled.set(self.mode))

    def __exit__(self, *exc: object) -> None:
        _grad_enabled.reset(self._tokens.pop())

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


def no_grad() -> set_grad_enabled:
    """``with minidl.no_grad():`` (or ``@minidl.no_grad()``): record nothing inside."""
    return set_grad_enabled(False)


def inference_mode(mode: bool = True) -> set_grad_enabled:
    """PyTorch's ``inference_mode``: here the same as ``no_grad`` (record nothing) when ``mode`` is True."""
    return set_grad_enabled(not mode)


def enable_grad() -> set_grad_enabled:
    """Turn recording back on inside a ``no_grad`` block."""
    return set_grad_enabled(True)


# --------------------------------------------------------------------------- anomaly mode
# 0 when off (every op reads this once); otherwise a set of bits:
_ANOMALY_ON = 1  # record where each op was created
_ANOMALY_CHECK_NAN = 2  # check every output and gradient for NaN/inf
_ANOMALY_IN_BACKWARD = 4  # set by the backward walk: ops inside a backward are checked as one, by the walk
_anomaly: contextvars.ContextVar[int] = contextvars.ContextVar("minidl_anomaly", default=0)
_anomaly_parent: contextvars.ContextVar[Function | None] = contextvars.ContextVar("minidl_anomaly_parent",
                                                                                  default=None)


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()`` (or after ``set_detect_anomaly(True)``)."""
    return bool(_anomaly.get() & _ANOMALY_ON)


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode also checks outputs and gradients for NaN/inf (its default)."""
    return bool(_anomaly.get() & _ANOMALY_CHECK_NAN)


def _anomaly_mode(mode: bool, check_nan: bool) -> int:
    return (_ANOMALY_ON | (_ANOMALY_CHECK_NAN if check_nan else 0)) if mode else 0


class detect_anomaly:
    """Context manager and decorator (PyTorch's name) that finds the op where a NaN or inf first appears.

    Inside it every op's outputs are checked in forward and every gradient in backward; the first
    NaN or inf raises ``minidl.errors.AnomalyError`` naming the Function, its inputs' shapes, dtypes
    and backends, the output or input gradient that went bad, and the line of *your* code that made
    the op (recorded only in this mode: outside it, an op pays one context-variable read).
    ``check_nan=False`` records the lines without checking.

    >>> import minidl
    >>> x = minidl.tensor([4.0, 0.0], requires_grad=True)
    >>> with minidl.autograd.detect_anomaly():
    ...     y = x.sqrt().sum()           # forward is fine: sqrt(0) = 0
    ...     y.backward()                 # but d sqrt(x)/dx = 1 / (2 sqrt(x)) is inf at 0
    Traceback (most recent call last):
    minidl.errors.AnomalyError: Sqrt's backward returned inf values in its gradient for input 0 ...
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._tokens: list[contextvars.Token[int]] = []

    def __enter__(self) -> None:
        self._tokens.append(_anomaly.set(_anomaly_mode(True, self.check_nan)))

    def __exit__(self, *exc: object) -> None:
        _anomaly.reset(self._tokens.pop())

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(True)`` turns anomaly mode on from here on (in this thread or task);
    ``with set_detect_anomaly(mode):`` sets it for a block and restores it after, as in PyTorch."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._token = _anomaly.set(_anomaly_mode(mode, check_nan))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _anomaly.reset(self._token)


def _non_finite(array: Any, xp: Any) -> str | None:
    """"nan" or "inf" if the array holds one (nan first), else None; integer arrays are never checked."""
    if (array.dtype.kind not in "fc" and array.dtype != BFLOAT16) or bool(xp.isfinite(array).all()):
        return None
    return "nan" if bool(xp.isnan(array).any()) else "inf"


def _where_made(mode: int) -> str:
    """Where the op being called now was made, in words (anomaly mode only)."""
    if mode & _ANOMALY_IN_BACKWARD:
        parent = _anomaly_parent.get()
        if parent is not None:
            return f"the backward of {parent.name}, whose op was made at {getattr(parent, '_anomaly_site', '?')}"
    frame = user_frame()
    if frame is None:
        return "an unknown line (no caller outside minidl)"
    path, line = frame.f_code.co_filename, frame.f_lineno
    code = linecache.getline(path, line).strip()
    return f"{os.path.relpath(path) if not path.startswith('<') else path}:{line} in {frame.f_code.co_name}" + (
        f"\n      {code}" if code else "")


def _describe_inputs(tensors: Sequence[Any]) -> str:
    return "\n".join(f"    input {i}: shape {tuple(t.shape)}, {t.dtype}, backend {t.backend.name}"
                     for i, t in enumerate(tensors) if isinstance(t, Tensor))


def _forward_in_anomaly_mode(f: Function, tensors: list[Tensor], mode: int) -> Any:
    """``f.forward`` with the op's line recorded and, unless inside a backward, its outputs checked."""
    f._anomaly_site = _where_made(mode)
    if not mode & _ANOMALY_CHECK_NAN:
        token = fp_errors.enter()
        try:
            return f.forward(*[t.array for t in tensors])
        finally:
            fp_errors.leave(token)
    with np.errstate(all="ignore"):  # a NaN raises AnomalyError (here or in the walk): no NumPy warning first
        ys = f.forward(*[t.array for t in tensors])
    if not mode & _ANOMALY_IN_BACKWARD:
        for i, y in enumerate(ys if isinstance(ys, tuple) else (ys,)):
            bad = _non_finite(y, f.backend.xp)
            if bad is not None:
                raise AnomalyError(
                    f"{f.name} returned {bad} values in its output {i} (forward; shape {tuple(y.shape)}, "
                    f"{y.dtype}).\n  inputs:\n{_describe_inputs(tensors)}\n  the op was made at {f._anomaly_site}")
    return ys


def _check_gradients(f: Function, gxs: tuple[Any, ...]) -> None:
    """Anomaly mode, in backward: raise if ``f.backward`` returned a NaN or inf gradient."""
    for i, gx in enumerate(gxs):
        bad = None if gx is None else _non_finite(gx.array, gx.backend.xp)
        if bad is not None:
            site = getattr(f, "_anomaly_site", None) or "a line not recorded (made outside detect_anomaly())"
            raise AnomalyError(
                f"{f.name}'s backward returned {bad} values in its gradient for input {i} (shape "
                f"{tuple(gx.shape)}, {gx.dtype}, backend {gx.backend.name}).\n  inputs:\n"
                f"{_describe_inputs(f.inputs or ())}\n  the op was made at {site}")


# --------------------------------------------------------------------------- Function
class Function:
    """One differentiable op: ``forward`` on arrays, ``backward`` on Tensors.

    Subclasses keep their non-tensor parameters (axis, shape, ...) in ``__init__`` and
    implement:

    * ``forward(self, *arrays) -> array | tuple[array, ...]`` using ``self.backend``'s
      ``xp`` and kernels;
    * ``backward(self, *grad_outputs: Tensor) -> Tensor | None | tuple`` using minidl ops,
      one gradient per input (None where an input gets no gradient).

    ``self.inputs`` holds the input Tensors. A function whose gradient uses its own output (exp:
    dy/dx = y) sets ``uses_outputs = True`` and reads it with ``self.output(i)``; the backward walk
    then keeps its outputs alive while its ``backward`` runs. Every other function's outputs may be
    freed before its ``backward`` runs: a relu's output is not needed to backpropagate through the
    relu, and freeing it there lowers the peak memory of a training step by one activation.
    """

    generation: int = 0
    uses_outputs: bool = False
    autocast: str | None = None  # "lower", "float32" or "float32_cuda": the op's rule under minidl.amp.autocast
    inputs: Sequence[Any] | None = None
    backend: Backend

    def __call__(self, *inputs: Any) -> Any:
        # The hot path of every op, a few microseconds (docs/benchmarks.md, "Per-op overhead").
        for t in inputs:
            if not isinstance(t, Tensor):  # Python scalars / arrays become constants on the tensors' backend
                inputs = _with_constants(self, inputs)
                break
        # One pass over the inputs gathers their backend, whether any requires grad, and their arrays.
        backend = None
        record = False
        arrays = []
        for t in inputs:
            if backend is None:
                backend = t.backend
            elif t.backend is not backend:
                backend = _one_backend(self, backend, t.backend)
            if t._requires_grad:
                record = True
            arrays.append(t.array)
        if backend is None:
            raise TypeError(f"{type(self).__name__}: needs at least one Tensor input")
        if self.autocast is not None:  # an op with an autocast policy: one context-variable read when it is off
            cast = _autocast.get()
            if cast is not None:
                inputs = cast(self, inputs)
                arrays = [t.array for t in inputs]
        self.backend = backend
        anomaly = _anomaly.get()  # 0 unless detect_anomaly() is on: the only cost of anomaly mode
        if anomaly:
            ys = _forward_in_anomaly_mode(self, inputs, anomaly)
        else:
            token = fp_errors.enter()  # NumPy's warnings (log(-1): invalid value) point at the user's line
            try:
                ys = self.forward(*arrays)
            finally:
                fp_errors.leave(token)
        record = record and _grad_enabled.get()
        backend = self.backend  # forward may have moved the result to another backend (Copy)
        if not isinstance(ys, tuple):  # one output: the common case
            out = Tensor._wrap(ys, backend, record)
            if record:
                self._record(inputs, (out,))
            return out
        outputs = tuple(Tensor._wrap(y, backend, record) for y in ys)
        if record:
            self._record(inputs, outputs)
        return outputs

    def _record(self, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> None:
        """Remember the inputs (and their versions, see check_versions) and become the creator of the
        outputs (held weakly); the outputs' generation is one more than the newest input's."""
        self.inputs = inputs
        self._input_versions = versions = []
        generation = 0
        for t in inputs:
            versions.append(t._version)
            if t.generation > generation:
                generation = t.generation
        self.generation = generation
        self._outputs = list(map(weakref.ref, outputs))
        self._output_meta = [(o.array.shape, o.array.dtype) for o in outputs]
        for o in outputs:
            o.creator = self
            o.generation = generation + 1

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, *gys: Any) -> Any:
        raise NotImplementedError

    def output(self, i: int = 0) -> Tensor:
        """Output ``i`` of this call (it is alive whenever a gradient flows through it)."""
        out = self._outputs[i]()
        if out is None:
            raise RuntimeError(f"{type(self).__name__}: output {i} was freed before backward "
                               f"(a Function that reads its outputs sets uses_outputs = True)")
        return out

    def check_versions(self) -> None:
        """Raise if an input, or an output that backward reads, was modified in place since this op ran.

        Every in-place op bumps ``tensor._version`` (``minidl/ops/inplace.py``). The values this op
        saved for backward are its inputs (and its outputs when ``uses_outputs``); if one changed,
        the gradient would be silently wrong, so backward stops here instead (PyTorch's rule).
        """
        versions = self._input_versions
        for i, t in enumerate(self.inputs):
            if t._version != versions[i]:
                raise RuntimeError(_modified_in_place(self, f"input {i}", t, versions[i]))
        if self.uses_outputs:
            for i, ref in enumerate(self._outputs):
                out = ref()
                if out is not None and out._version != 0:
                    raise RuntimeError(_modified_in_place(self, f"output {i}", out, 0))

    def save_for_backward(self, *values: Any) -> None:
        """Keep what ``backward`` needs beyond the inputs (PyTorch's ``ctx.save_for_backward``).

        ``values`` are arrays or Tensors computed in ``forward`` (a kernel's activations, a softmax's
        log-sum-exp, a norm's 1/std). Declaring them here, in one place, lets ``release`` free them
        after backward and lets tools list what a graph holds (``saved_nbytes``).
        """
        self._saved = values

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """What ``save_for_backward`` kept, in the order given."""
        saved = getattr(self, "_saved", None)
        if saved is None:
            raise RuntimeError(f"{self.name}: nothing saved for backward, or it was freed by an earlier backward "
                               f"(pass retain_graph=True to backpropagate twice)")
        return saved

    def saved_nbytes(self) -> int:
        """Bytes held for backward by this Function's saved values (inputs not counted)."""
        return sum(getattr(getattr(v, "array", v), "nbytes", 0) for v in getattr(self, "_saved", None) or ())

    def release(self) -> None:
        """Drop what was saved for backward; a second backward through here then raises."""
        self.inputs = None
        self._saved = None

    def wrap(self, array: Any) -> Tensor:
        """An array this Function computed (a backward kernel's result, a constant) as a Tensor on its
        backend that records nothing."""
        return Tensor._wrap(array, self.backend, False)

    @property
    def name(self) -> str:
        return type(self).__name__


def _one_backend(f: Function, a: Backend, b: Backend) -> Backend:
    """The backend an op runs on when its inputs come from two backends ``a`` and ``b``.

    Two CPU backends hold the same numpy arrays on the same device, so they work together, as any two
    CPU tensors do in PyTorch: the op runs on the faster one (``numba`` rather than the reference
    ``numpy``). Tensors on different devices (CPU and GPU), or on two GPU backends, are refused.
    """
    if a.xp is b.xp and not a.is_gpu and not b.is_gpu:
        return b if a.name == "numpy" else a
    raise BackendMismatchError(f"{f.name}: inputs are on backends {a.name!r} and {b.name!r} (different devices or "
                               f"GPU backends); move them to one with .to(device) or .to(backend name)")


def _modified_in_place(f: Function, which: str, t: Tensor, version: int) -> str:
    return (f"backward through {f.name}: one of the variables needed for gradient computation has been modified "
            f"by an inplace operation: {which}, of shape {tuple(t.shape)} and dtype {t.dtype}, is at version "
            f"{t._version}; expected version {version}. Do the in-place change after backward, or use the "
            f"out-of-place form (y = y + 1 instead of y.add_(1))")


def _with_constants(f: Function, inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """``inputs`` with each Python scalar or array made a constant Tensor on the first Tensor's backend."""
    first = next((t for t in inputs if isinstance(t, Tensor)), None)
    if first is None:
        raise TypeError(f"{f.name}: needs at least one Tensor input")
    return tuple(t if isinstance(t, Tensor) else _constant_like(t, first) for t in inputs)


def _constant_like(value: Any, like: Tensor) -> Tensor:
    """Wrap a Python scalar or array as a constant on ``like``'s backend.

    NumPy 2 promotion for Python scalars: a Python number takes the tensor's dtype (a float32
    tensor times 0.5 stays float32); a Python float with an integer tensor gives float32.
    """
    xp = like.backend.xp
    if isinstance(value, bool | int | float):
        kind = like.dtype.kind
        if isinstance(value, float) and kind in "biu":
            dtype = xp.float32
        elif isinstance(value, int) and not isinstance(value, bool) and kind == "b":
            dtype = xp.int64
        else:
            dtype = like.dtype
        return Tensor._wrap(xp.asarray(value, dtype=dtype), like.backend, False)
    return Tensor._wrap(like.backend.asarray(value), like.backend, False)


# --------------------------------------------------------------------------- gradient hooks
_handle_ids = itertools.count()
_leaf_hooks = 0  # hooks registered on leaves and not removed: when 0, backward skips counting leaf uses


class RemovableHandle:
    """What every ``register_*hook`` returns: ``handle.remove()`` takes the hook away again
    (``with handle:`` removes it at the end of the block), as ``torch.utils.hooks.RemovableHandle``."""

    def __init__(self, hooks: OrderedDict[int, Any], on_remove: Callable[[], None] | None = None) -> None:
        self.id = next(_handle_ids)
        self._hooks = weakref.ref(hooks)  # the handle does not keep a freed tensor's or module's hooks alive
        self._on_remove = on_remove

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None and hooks.pop(self.id, None) is not None and self._on_remove is not None:
            self._on_remove()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_tensor_hook(t: Tensor, fn: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
    """``t.register_hook(fn)``: see ``TensorMethods.register_hook``."""
    global _leaf_hooks
    if not t.requires_grad:
        raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
    if t._hooks is None:
        t._hooks = TensorHooks()
    on_remove = None
    if t.creator is None:
        _leaf_hooks += 1
        on_remove = _leaf_hook_removed
    handle = RemovableHandle(t._hooks.fns, on_remove)
    t._hooks.fns[handle.id] = fn
    return handle


def _leaf_hook_removed() -> None:
    global _leaf_hooks
    _leaf_hooks -= 1


def _run_tensor_hooks(t: Tensor, g: Tensor, create_graph: bool) -> Tensor:
    """Call ``t``'s hooks on its gradient ``g`` (each may return a replacement); fill ``.grad`` of a
    non-leaf that ``retain_grad()`` asked for (last, after every hook, as in PyTorch)."""
    hooks = t._hooks
    assert hooks is not None
    for fn in list(hooks.fns.values()):
        new = fn(g)
        if new is not None:
            if not isinstance(new, Tensor) or new.shape != g.shape:
                raise RuntimeError(f"a hook on a tensor of shape {tuple(t.shape)} returned "
                                   f"{getattr(new, 'shape', type(new).__name__)}; expected a Tensor of that shape")
            g = new
    if hooks.retain and t.creator is not None:
        kept = g if create_graph else Tensor._wrap(g.array.copy(), g.backend, False)
        t.grad = kept if t.grad is None else t.grad + kept
    return g


def _leaf_uses(roots: Sequence[Tensor]) -> dict[int, int]:
    """How many gradients each leaf with hooks will receive in this backward: its hooks run when the last
    one has arrived, before the walk goes on (PyTorch runs a leaf's AccumulateGrad as soon as it is ready)."""
    uses: dict[int, int] = {}
    seen: set[int] = set()
    stack = []
    for t in roots:
        if t.creator is None:
            if t._hooks is not None:
                uses[id(t)] = uses.get(id(t), 0) + 1
        else:
            stack.append(t.creator)
    while stack:
        f = stack.pop()
        if id(f) in seen or f.inputs is None:
            continue
        seen.add(id(f))
        for x in f.inputs:
            if x.creator is not None:
                stack.append(x.creator)
            elif x._hooks is not None and x._requires_grad:
                uses[id(x)] = uses.get(id(x), 0) + 1
    return uses


# --------------------------------------------------------------------------- backward walk
def _run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    wanted: Sequence[Tensor] | None,
) -> list[Tensor | None] | None:
    """Propagate ``root_grads`` from ``roots`` through the graph.

    With ``wanted=None`` (``Tensor.backward``) gradients accumulate into the ``.grad`` of leaf
    tensors. Otherwise (``minidl.grad``) the gradients of ``wanted`` are returned and no
    ``.grad`` is touched.

    One loop does it all: hand each (tensor, gradient) pair out - first the roots' pairs, then
    each function's (input, gradient of that input) pairs - and pop the newest function whose
    outputs have all their gradients. It runs once per op of every training step, so it computes
    each ``id()`` once and calls no helper on the common path (docs/benchmarks.md, "Per-op overhead").
    """
    grads: dict[int, list[Any]] = {}  # id(tensor) -> [tensor, gradient]; holding the tensor keeps the id unique
    heap: list[tuple[int, int, Function]] = []  # (-generation, id, function): newest function first
    queued: set[int] = set()
    wanted_ids = None if wanted is None else {id(t) for t in wanted}
    leaves: list[list[Any]] = []  # the [leaf, gradient] entries of `grads`: their .grad is filled at the end
    hooked_leaves = _leaf_uses(roots) if _leaf_hooks else None  # id -> gradients still to come

    anomaly = _anomaly.get()
    if anomaly & _ANOMALY_CHECK_NAN:
        for t, g in zip(roots, root_grads, strict=True):
            if _non_finite(g.array, g.backend.xp):
                raise AnomalyError(f"the gradient given to backward for an output of shape {tuple(t.shape)} "
                                   f"holds {_non_finite(g.array, g.backend.xp)} values")
    token = _grad_enabled.set(create_graph)
    autocast_token = _autocast.set(None)
    anomaly_token = _anomaly.set(anomaly | _ANOMALY_IN_BACKWARD) if anomaly else None
    try:
        pairs = zip(roots, root_grads, strict=True)  # (tensor, its gradient) to hand out: the roots' first
        while True:
            for x, gx in pairs:  # add gx to the gradient of x; queue x's creator when its first gradient comes
                if gx is None or not x._requires_grad:
                    continue
                if gx.array.shape != x.array.shape:
                    gx = sum_to(gx, x.array.shape)  # undo broadcasting: the one place it is done
                key = id(x)
                entry = grads.get(key)
                if entry is not None:
                    entry[1] = entry[1] + gx
                else:
                    grads[key] = entry = [x, gx]
                    f = x.creator
                    if f is None:
                        if wanted_ids is None:
                            leaves.append(entry)
                    elif id(f) not in queued:
                        if f.inputs is None:
                            raise RuntimeError(
                                f"backward through {f.name} a second time: its graph was freed by the first "
                                f"backward; pass retain_graph=True to the first call"
                            )
                        queued.add(id(f))
                        heapq.heappush(heap, (-f.generation, id(f), f))
                if hooked_leaves and key in hooked_leaves:
                    hooked_leaves[key] -= 1
                    if hooked_leaves[key] == 0:  # the last gradient of a leaf with hooks: run them now
                        del hooked_leaves[key]
                        entry[1] = _run_tensor_hooks(x, entry[1], create_graph)
            x = gx = entry = None  # these locals would keep the last input and its gradient alive
            if not heap:
                break
            f = heapq.heappop(heap)[2]
            gys = []
            for ref, (shape, dtype) in zip(f._outputs, f._output_meta):
                out = ref()
                key = id(out)
                entry = None if out is None else grads.get(key)
                if entry is None:  # an output nobody used: its gradient is zero
                    gys.append(Tensor._wrap(f.backend.xp.zeros(shape, dtype=dtype), f.backend, False))
                    continue
                g = entry[1]
                if out._hooks is not None:  # register_hook / retain_grad: the gradient of `out` is complete
                    g = _run_tensor_hooks(out, g, create_graph)
                if wanted_ids is None or key not in wanted_ids:
                    del grads[key]  # an intermediate's gradient is not needed after this point
                else:
                    entry[1] = g
                gys.append(g)
            # Hold the outputs only if backward reads them; otherwise an output nobody else holds
            # (the relu activation a max pool has finished with) is freed before backward allocates.
            outputs_alive = [ref() for ref in f._outputs] if f.uses_outputs else None
            out = entry = g = None
            f.check_versions()
            if anomaly:
                parent_token = _anomaly_parent.set(f)  # ops made inside f.backward name f as their origin
                try:
                    gxs = f.backward(*gys)
                finally:
                    _anomaly_parent.reset(parent_token)
            else:
                gxs = f.backward(*gys)
            del outputs_alive
            gys = None
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if anomaly & _ANOMALY_CHECK_NAN:
                _check_gradients(f, gxs)
            pairs = zip(f.inputs, gxs, strict=True)
            gxs = None
            if not retain_graph:
                f.release()
        for t_id in hooked_leaves or ():  # a leaf whose last gradient never came (a backward returned None)
            if t_id in grads:
                entry = grads[t_id]
                entry[1] = _run_tensor_hooks(entry[0], entry[1], create_graph)
    finally:
        _grad_enabled.reset(token)
        _autocast.reset(autocast_token)
        if anomaly_token is not None:
            _anomaly.reset(anomaly_token)

    if wanted is not None:
        return [grads[id(t)][1] if id(t) in grads else None for t in wanted]
    handed_out = {id(a.array) for a in root_grads}  # arrays that some caller or leaf already holds
    for leaf, g in leaves:
        if not create_graph:
            if g.creator is not None or g._requires_grad:  # (a root gradient or a hook's result can be)
                g = g.detach()
            if leaf.grad is None and (id(g.array) in handed_out or not getattr(g.array.flags, "writeable", True)):
                # One array can be the gradient of several leaves (``x + y`` passes its gradient to both)
                # or a read-only broadcast view: each .grad owns its memory, so in-place updates
                # (clipping, zero_grad(set_to_none=False)) cannot leak from one gradient to another.
                g = Tensor._wrap(g.array.copy(), g.backend, False)
            handed_out.add(id(g.array))
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    return None


def _check_root_grad(t: Tensor, g: Any) -> Tensor:
    if g is None:
        if t.numel() != 1:
            raise RuntimeError(
                f"backward: grad can be created implicitly only for outputs with one element; "
                f"got shape {t.shape}: pass grad=minidl.ones_like(out) or reduce first"
            )
        ones = t.backend.xp.empty(t.array.shape, dtype=t.array.dtype)
        ones.fill(1)  # (half the time of xp.ones, paid by every backward)
        return Tensor._wrap(ones, t.backend, False)
    if not isinstance(g, Tensor):
        g = Tensor._wrap(t.backend.asarray(g, dtype=t.dtype), t.backend, False)
    if g.shape != t.shape:
        raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {t.shape}")
    return g


def backward(tensor: Tensor, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Gradients *accumulate* (``+=``) like in PyTorch: call ``zero_grad`` between steps. The graph
    is freed afterwards unless ``retain_graph=True``; ``create_graph=True`` records the backward
    pass itself so that the resulting ``.grad`` can be differentiated again.
    """
    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no creator")
    _run_backward([tensor], [_check_root_grad(tensor, grad)], retain_graph or create_graph, create_graph, None)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Return d(outputs)/d(inputs) without touching any ``.grad`` (like ``torch.autograd.grad``).

    >>> import minidl
    >>> x = minidl.tensor(3.0, requires_grad=True)
    >>> (dx,) = minidl.grad(x ** 3, x, create_graph=True)
    >>> (ddx,) = minidl.grad(dx, x)
    >>> float(dx), float(ddx)
    (27.0, 18.0)
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad")
    for o in outputs:
        if not o.requires_grad:
            raise RuntimeError(f"grad: an output of shape {o.shape} does not require grad (computed under no_grad?)")
    roots = [_check_root_grad(o, g) for o, g in zip(outputs, grad_outputs, strict=True)]
    if retain_graph is None:
        retain_graph = create_graph
    result = _run_backward(outputs, roots, retain_graph, create_graph, inputs)
    assert result is not None
    for x, g in zip(inputs, result, strict=True):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: an input of shape {x.shape} was not used to compute the outputs; "
                f"pass allow_unused=True to get None for it"
            )
    return tuple(g if g is None or create_graph else g.detach() for g in result)


# --------------------------------------------------------------------------- broadcasting, undone here
# The backward walk sums a gradient back to its input's shape (``sum_to``); its gradient is
# ``broadcast_to`` and the other way round, so the two Functions live beside the walk.
class BroadcastTo(Function):
    """y = x repeated along broadcast axes;  dL/dx = dL/dy summed over those axes (sum_to)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        if x.size == 1:  # e.g. the gradient of a full sum: filling is ~10x cheaper than numpy's broadcast_to
            out = self.backend.xp.empty(self.shape, dtype=x.dtype)
            out.fill(x.reshape(()))
            return out
        try:
            return self.backend.xp.broadcast_to(x, self.shape)
        except ValueError:
            raise shape_error("broadcast_to", x.shape, self.shape, expected="shapes that broadcast") from None

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class SumTo(Function):
    """y = x summed down to ``shape`` (the inverse of broadcasting);  dL/dx = broadcast_to(dL/dy)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        lead = x.ndim - len(self.shape)
        squeezed = tuple(i + lead for i, n in enumerate(self.shape) if n == 1 and x.shape[i + lead] != 1)
        axes = tuple(range(lead)) + squeezed
        if axes and accumulation_dtype(x.dtype) != x.dtype:  # float16: add up in float32 (see reduce.py)
            y = x.sum(axis=axes, keepdims=True, dtype=accumulation_dtype(x.dtype)).astype(x.dtype)
        elif axes:
            y = x.sum(axis=axes, keepdims=True)
        else:
            y = x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(map(int, shape))
    if shape == x.array.shape:
        return x
    return BroadcastTo(shape)(x)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum x down to ``shape``, the inverse of broadcasting ``shape`` up to ``x.shape``."""
    if x.array.shape == shape:
        return x
    return SumTo(tuple(shape))(x)
