"""The tracer: run the model once and turn what ran into ONNX nodes.

Two sources of truth, both read while the model runs on the example inputs:

* **Module calls.** Each submodule of the model gets a wrapper around its ``forward`` (an instance
  attribute, removed again afterwards; the class and other models are untouched). A module whose
  class has a converter in ``layers.LAYERS`` (Conv2d, LSTM, MultiheadAttention, ...) runs as usual,
  then its converter writes the layer's ONNX nodes from the module's settings and weights; what ran
  inside it is not looked at. Any other module (Sequential, TransformerEncoderLayer, the user's own)
  just runs: the layers it calls convert themselves and the ops between them are found as below.
* **Ops, through the autograd graph.** The inputs (and the parameters) require grad during the trace,
  so every op between layers records itself as the ``creator`` of its output, with its inputs and
  settings (the same record ``backward`` walks). When a tensor without an ONNX name is needed, the
  tracer walks back through creators to tensors that have one and converts each Function on the way
  with ``ops.OPS``. A tensor without a creator and without a name is a constant: a parameter or
  buffer (stored under its ``state_dict`` name) or a value computed from constants (stored as is).

Each name is given to a tensor once, so a tensor used twice becomes one ONNX value used twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl.onnx.errors import UnsupportedOperatorError
from minidl.onnx.graph import Graph, host
from minidl.tensor import Tensor


def flatten(value: Any) -> Iterator[Any]:
    """The tensors of a nested tuple/list/dict output, in order."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from flatten(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from flatten(v)


class Tracer:
    """Names of traced tensors, the graph being written, and the module wrappers."""

    def __init__(self, model: Any, graph: Graph) -> None:
        from minidl.onnx.layers import LAYERS
        from minidl.onnx.ops import OPS

        self.g, self.layers, self.ops = graph, LAYERS, OPS
        self.names: dict[int, str] = {}  # id(tensor) -> ONNX value name
        self.arrays: dict[int, str] = {}  # id(tensor.array) -> name: ops keep index arrays, not tensors
        self.keep: list[Any] = []  # the named tensors stay alive, so their ids stay theirs
        self.constants = {id(t): name for name, t in model.named_parameters()}
        self.constants.update({id(t): name for name, t in model.named_buffers()})
        self.depth = 0  # > 0 while a converted layer runs: its insides are not traced
        self._wrapped: list[tuple[Any, Any]] = []
        for path, module in model.named_modules():
            self._wrap(path, module)

    # ------------------------------------------------------------------ names
    def bind(self, t: Tensor, name: str) -> None:
        self.names[id(t)] = name
        self.arrays[id(t.array)] = name
        self.keep.append(t)

    def bind_like(self, out: Any, names: Any) -> None:
        """Name each tensor of a layer's output (a tensor or nested tuple) with the converter's names."""
        if isinstance(out, Tensor):
            self.bind(out, names)
        elif isinstance(out, tuple | list):
            for o, n in zip(out, names, strict=True):
                self.bind_like(o, n)

    def constant(self, t: Tensor) -> str:
        name = self.g.initializer(host(t), self.constants.get(id(t)))
        self.bind(t, name)
        return name

    def array(self, a: Any, like: Tensor | None = None) -> str:
        """The name for an array an op keeps as a setting (an index, a mask): a traced value if it is one."""
        if id(a) in self.arrays:
            return self.arrays[id(a)]
        a = like.backend.to_numpy(a) if like is not None else a
        return self.g.initializer(np.asarray(a))

    def value(self, t: Tensor) -> str:
        """The ONNX name of ``t``, converting the ops that made it (a loop, not a recursion)."""
        stack = [t]
        while stack:
            cur = stack[-1]
            if id(cur) in self.names:
                stack.pop()
                continue
            fn = cur.creator
            if fn is None or fn.inputs is None:
                stack.pop()
                self.constant(cur)
                continue
            missing = [i for i in fn.inputs if id(i) not in self.names]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            self._convert(fn)
            if id(cur) not in self.names:  # pragma: no cover - a converter that forgot an output
                raise RuntimeError(f"minidl.onnx: the converter of {fn.name} did not name its output")
        return self.names[id(t)]

    def _convert(self, fn: Any) -> None:
        convert = self.ops.get(type(fn))
        if convert is None:
            raise UnsupportedOperatorError(
                f"minidl.onnx.export: the op {fn.name} has no ONNX converter (supported ops: "
                f"{', '.join(sorted(c.__name__ for c in self.ops))}; supported layers: "
                f"{', '.join(sorted(c.__name__ for c in self.layers))})")
        outs = convert(self, fn, [self.names[id(i)] for i in fn.inputs])
        outs = [outs] if isinstance(outs, str) else outs
        for ref, name in zip(fn._outputs, outs, strict=True):
            out = ref()
            if out is not None:
                self.bind(out, name)

    # ------------------------------------------------------------------ modules
    def _wrap(self, path: str, module: Any) -> None:
        convert = self.layers.get(type(module))
        forward = module.forward
        previous = module.__dict__.get("forward")

        def traced(*args: Any, **kwargs: Any) -> Any:
            if self.depth:  # inside a converted layer: plain forward
                return forward(*args, **kwargs)
            if convert is None:
                out = forward(*args, **kwargs)
                try:  # name the outputs now, so an unsupported op is reported with this module's name
                    for t in flatten(out):
                        self.value(t)
                except UnsupportedOperatorError as e:
                    e.add_module(path, type(module).__name__)
                    raise
                return out
            self.depth += 1
            try:
                out = forward(*args, **kwargs)
            finally:
                self.depth -= 1
            try:
                bound = inspect.signature(forward).bind(*args, **kwargs)
                bound.apply_defaults()
                self.bind_like(out, convert(self, module, path, bound.arguments, out))
            except UnsupportedOperatorError as e:
                e.add_module(path, type(module).__name__)
                raise
            return out

        module.__dict__["forward"] = traced
        self._wrapped.append((module, previous))

    def unwrap(self) -> None:
        """Give every module its own forward back."""
        for module, previous in self._wrapped:
            if previous is None:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = previous
        self._wrapped.clear()


