"""``Graph``: the ONNX nodes and initializers being written, with small helpers for the converters.

Names are unique strings; ``node`` returns the output name(s) so converters read like formulas::

    y = g.node("Add", [g.node("MatMul", [x, w]), b])

A few ops changed their signature between opsets (reduction axes became an input in opset 18,
Squeeze/Unsqueeze axes in opset 13); ``reduce``, ``squeeze`` and ``unsqueeze`` hide that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


class Graph:
    """Nodes in topological order (each appended after the nodes its inputs come from) and initializers."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._taken: set[str] = set()

    def fresh(self, hint: str) -> str:
        """A name not used yet: ``hint``, else ``hint_1``, ``hint_2``, ..."""
        name, i = hint, 0
        while name in self._taken:
            i += 1
            name = f"{hint}_{i}"
        self._taken.add(name)
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        """Append one node; returns its output name (a list of names when ``outputs > 1``)."""
        outs = [self.fresh(f"{op}_out") for _ in range(outputs)]
        while inputs and inputs[-1] == "":  # trailing optional inputs that are not given
            inputs = inputs[:-1]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.fresh(op), **attrs))
        return outs[0] if outputs == 1 else outs

    def initializer(self, array: Any, name: str | None = None) -> str:
        """A constant tensor stored in the file; ``name`` (a parameter's state_dict key) is reused if seen."""
        if name is not None and name in self.initializers:
            return name
        name = self.fresh(name or "const")
        self.initializers[name] = numpy_helper.from_array(np.ascontiguousarray(np.asarray(array)), name)
        return name

    def ints(self, values: Any) -> str:
        """A 1-d int64 constant (shapes, axes, pads, ...)."""
        return self.initializer(np.asarray(values, dtype=np.int64).reshape(-1))

    def scalar(self, value: float, dtype: Any) -> str:
        """A 0-d constant of ``dtype`` (the dtype of the tensor it is combined with)."""
        return self.initializer(np.asarray(value, dtype=dtype))

    # ------------------------------------------------------------------ ops whose form depends on the opset
    def reduce(self, op: str, x: str, axes: list[int], keepdims: bool) -> str:
        """ReduceSum/ReduceMean/ReduceMax/...: axes are an attribute before opset 18 (13 for ReduceSum)."""
        keep = int(bool(keepdims))
        if self.opset >= 18 or (op == "ReduceSum" and self.opset >= 13):
            return self.node(op, [x, self.ints(axes)], keepdims=keep)
        return self.node(op, [x], axes=list(axes), keepdims=keep)

    def squeeze(self, x: str, axes: list[int]) -> str:
        return self.node("Squeeze", [x, self.ints(axes)])

    def unsqueeze(self, x: str, axes: list[int]) -> str:
        return self.node("Unsqueeze", [x, self.ints(axes)])

    def reshape(self, x: str, shape: list[int]) -> str:
        """Reshape; a 0 copies the input's size at that position (how a dynamic batch axis survives)."""
        return self.node("Reshape", [x, self.ints(shape)])

    def transpose(self, x: str, perm: list[int]) -> str:
        return self.node("Transpose", [x], perm=list(perm))

    def cast(self, x: str, dtype: Any) -> str:
        return self.node("Cast", [x], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def linear(self, x: str, weight: str, bias: str | None, x_ndim: int) -> str:
        """y = x W^T + b for W (out, in): one Gemm for a 2-d x, else MatMul with W^T (and Add)."""
        if x_ndim == 2:
            return self.node("Gemm", [x, weight] + ([bias] if bias else []), transB=1)
        y = self.node("MatMul", [x, self.transpose(weight, [1, 0])])
        return self.node("Add", [y, bias]) if bias else y


def reshape_target(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """The Reshape shape for a traced reshape that keeps the leading (batch) axes dynamic.

    Leading sizes the reshape leaves unchanged become 0 (copy the input's size, whatever it is at run
    time), the next one -1 (inferred), the rest stay as traced: (N, 32, 13, 13) -> (N, 5408) gives
    [0, -1]; (N, T, E) -> (N, T, H, d) gives [0, 0, H, d]; (T, N, E) -> (T * N, E) gives [-1, E].
    """
    target = list(out_shape)
    i = 0
    while i < min(len(in_shape), len(out_shape)) and in_shape[i] == out_shape[i] and out_shape[i] != 0:
        target[i] = 0
        i += 1
    if i < len(target) and 0 not in out_shape:
        target[i] = -1
    return target


def host(t: Any) -> np.ndarray:
    """A tensor's values as a numpy array (whatever its backend)."""
    return np.asarray(t.backend.to_numpy(t.array))
