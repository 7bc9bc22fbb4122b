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
"""

from __future__ import annotations

import contextvars
import functools
import heapq
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from minidl import fp_errors
from minidl.backends import Backend
from minidl.backends.base import accumulation_dtype
from minidl.errors import BackendMismatchError, DTypeError, shape_error
from minidl.tensor import Tensor

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("minidl_grad_enabled", default=True)


# --------------------------------------------------------------------------- grad modes
def is_grad_enabled() -> bool:
    """True when new ops are recorded for backward."""
    return _grad_enabled.get()


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
    inputs: Sequence[Any] | None = None
    backend: Backend

    def __call__(self, *inputs: Any) -> Any:
        # This is the hot path of every op: one pass over the inputs, no needless allocations.
        tensors = list(inputs)
        backend = None
        record = has_constants = False
        for i, t in enumerate(inputs):
            if isinstance(t, Tensor):
                if backend is None:
                    backend = t.backend
                elif t.backend is not backend:
                    raise BackendMismatchError(
                        f"{type(self).__name__}: inputs are on backends {backend.name!r} and {t.backend.name!r}; "
                        f"move them to one backend with .to(name)"
                    )
                if t._requires_grad:
                    record = True
            else:
                tensors[i] = None
                has_constants = True
        if backend is None:
            raise TypeError(f"{type(self).__name__}: needs at least one Tensor input")
        if has_constants:  # Python scalars / arrays become constants on the tensors' backend
            first = next(t for t in tensors if t is not None)  # (`is`, never ==: Tensor.__eq__ is elementwise)
            tensors = [t if t is not None else _constant_like(x, first) for t, x in zip(tensors, inputs)]
        self.backend = backend
        token = fp_errors.enter()  # NumPy's warnings (log(-1): invalid value) point at the user's line
        try:
            ys = self.forward(*[t.array for t in tensors])
        finally:
            fp_errors.leave(token)
        record = record and _grad_enabled.get()
        backend = self.backend  # forward may have moved the result to another backend (Copy)
        if not isinstance(ys, tuple):
            out = Tensor._wrap(ys, backend, record)
            if record:
                self._record(tensors, (out,))
            return out
        outputs = tuple(Tensor._wrap(y, backend, record) for y in ys)
        if record:
            self._record(tensors, outputs)
        return outputs

    def _record(self, tensors: list[Tensor], outputs: tuple[Tensor, ...]) -> None:
        """Remember the inputs and become the creator of the outputs (held weakly)."""
        self.inputs = tensors
        self._input_versions = [t._version for t in tensors]  # see check_versions
        self.generation = generation = max([t.generation for t in tensors])
        self._outputs = [weakref.ref(o) for o in outputs]
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
        for i, (t, version) in enumerate(zip(self.inputs, self._input_versions)):
            if t._version != version:
                raise RuntimeError(_modified_in_place(self, f"input {i}", t, version))
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

    @property
    def name(self) -> str:
        return type(self).__name__


def _modified_in_place(f: Function, which: str, t: Tensor, version: int) -> str:
    return (f"backward through {f.name}: one of the variables needed for gradient computation has been modified "
            f"by an inplace operation: {which}, of shape {tuple(t.shape)} and dtype {t.dtype}, is at version "
            f"{t._version}; expected version {version}. Do the in-place change after backward, or use the "
            f"out-of-place form (y = y + 1 instead of y.add_(1))")


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
    """
    grads: dict[int, list[Any]] = {}  # id(tensor) -> [tensor, gradient]; holding the tensor keeps the id unique
    heap: list[tuple[int, int, Function]] = []  # (-generation, id, function): newest function first
    queued: set[int] = set()
    wanted_ids = None if wanted is None else {id(t) for t in wanted}
    leaves: list[Tensor] = []

    def accumulate(t: Tensor, g: Tensor) -> None:
        entry = grads.get(id(t))
        if entry is not None:
            entry[1] = entry[1] + g
            return
        grads[id(t)] = [t, g]
        f = t.creator
        if f is None:
            if wanted_ids is None:
                leaves.append(t)
        elif id(f) not in queued:
            if f.inputs is None:
                raise RuntimeError(
                    f"backward through {f.name} a second time: its graph was freed by the first "
                    f"backward; pass retain_graph=True to the first call"
                )
            queued.add(id(f))
            heapq.heappush(heap, (-f.generation, id(f), f))

    token = _grad_enabled.set(create_graph)
    try:
        for t, g in zip(roots, root_grads, strict=True):
            accumulate(t, g)
        while heap:
            f = heapq.heappop(heap)[2]
            gys = []
            for ref, (shape, dtype) in zip(f._outputs, f._output_meta):
                out = ref()
                entry = None if out is None else grads.get(id(out))
                if entry is None:  # an output nobody used: its gradient is zero
                    gys.append(Tensor._wrap(f.backend.xp.zeros(shape, dtype=dtype), f.backend, False))
                    continue
                if wanted_ids is None or id(out) not in wanted_ids:
                    del grads[id(out)]  # an intermediate's gradient is not needed after this point
                gys.append(entry[1])
            # Hold the outputs only if backward reads them; otherwise an output nobody else holds
            # (the relu activation a max pool has finished with) is freed before backward allocates.
            outputs_alive = [ref() for ref in f._outputs] if f.uses_outputs else None
            out = entry = None
            f.check_versions()
            gxs = f.backward(*gys)
            del outputs_alive
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, gx in zip(f.inputs, gxs, strict=True):
                if gx is None or not x._requires_grad:
                    continue
                if gx.array.shape != x.array.shape:
                    gx = sum_to(gx, x.array.shape)  # undo broadcasting: the one place it is done
                accumulate(x, gx)
            x = gx = gys = gxs = None  # these locals would keep the last input and the gradients alive
            if not retain_graph:
                f.release()
    finally:
        _grad_enabled.reset(token)

    if wanted is not None:
        return [grads[id(t)][1] if id(t) in grads else None for t in wanted]
    handed_out = {id(a.array) for a in root_grads}  # arrays that some caller or leaf already holds
    for leaf in leaves:
        g = grads[id(leaf)][1]
        if not create_graph:
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
        return Tensor._wrap(t.backend.xp.ones(t.shape, dtype=t.dtype), t.backend, False)
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


def _require_float(op: str, t: Tensor) -> None:
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: only floating point tensors can require gradients, got dtype {t.dtype}")


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
    shape = tuple(int(s) for s in shape)
    if shape == x.shape:
        return x
    return BroadcastTo(shape)(x)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum x down to ``shape``, the inverse of broadcasting ``shape`` up to ``x.shape``."""
    if x.shape == shape:
        return x
    return SumTo(tuple(shape))(x)
