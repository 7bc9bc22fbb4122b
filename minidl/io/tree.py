"""The object tree of a checkpoint: any saved object as JSON, with its arrays set aside by name.

``Encoder`` turns ``{"w": tensor, "epoch": 3}`` into
``{"type": "dict", "items": [["w", {"type": "tensor", "array": "a0", ...}], ["epoch", {"type": "value", ...}]]}``
and collects ``{"a0": <numpy array>}``; ``Decoder`` does the reverse from a checked header. Modules and
functions are delegated to ``minidl.serialization``. Depth is capped at ``MAX_DEPTH`` both ways, so a cycle
fails on save and a crafted file cannot exhaust the stack on load.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np

from minidl.backends import Backend
from minidl.io.format import MAX_DEPTH, CheckpointError
from minidl.tensor import Tensor


def _host_array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return np.asarray(value.backend.to_numpy(value.array))
    if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # a cupy array
        return value.get()
    return np.asarray(value)


class Encoder:
    """Turns an object into a JSON tree; arrays go to ``self.arrays`` and are referenced by name.

    An object met twice (a tied weight, a shared submodule) is stored once and comes back shared.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.array_names: dict[int, str] = {}  # id(tensor or ndarray) -> array name
        self.module_ids: dict[int, int] = {}  # id(module) -> its node id
        self.version = 1

    def encode(self, obj: Any, where: str, depth: int = 0) -> dict[str, Any]:
        from minidl import serialization
        from minidl.nn.module import Module

        if depth > MAX_DEPTH:
            raise ValueError(f"minidl.save: {where} is nested more than {MAX_DEPTH} levels deep (a reference cycle?)")
        if isinstance(obj, Tensor | np.ndarray | np.generic) or hasattr(obj, "__cuda_array_interface__"):
            return self._array_node(obj, where)
        if obj is None or isinstance(obj, bool | int | str):
            return {"type": "value", "value": obj}
        if isinstance(obj, float):
            return {"type": "value", "value": obj} if math.isfinite(obj) else {"type": "float", "value": repr(obj)}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not isinstance(key, str | int):
                    raise TypeError(f"minidl.save: {where} has a key {key!r} of type {type(key).__name__}; "
                                    f"dict keys must be str or int")
                items.append([key, self.encode(value, f"{where}[{key!r}]", depth + 1)])
            return {"type": "dict", "items": items}
        if isinstance(obj, list | tuple):
            return {"type": type(obj).__name__ if type(obj) in (list, tuple) else "list",
                    "items": [self.encode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, Module):
            self.version = 2
            if id(obj) in self.module_ids:
                return {"type": "module_ref", "id": self.module_ids[id(obj)]}
            self.module_ids[id(obj)] = ident = len(self.module_ids)
            return serialization.encode_module(obj, lambda v, w: self.encode(v, w, depth + 1), where, ident)
        if isinstance(obj, types.FunctionType | types.BuiltinFunctionType):
            self.version = 2
            return serialization.encode_function(obj, where)
        raise TypeError(f"minidl.save: cannot store {where}, a {type(obj).__name__}; checkpoints hold dicts, "
                        f"lists, tuples, Tensors, numpy arrays and scalars, Modules, and None/bool/int/float/str")

    def _array_node(self, obj: Any, where: str) -> dict[str, Any]:
        kind = "tensor" if isinstance(obj, Tensor) else "scalar" if isinstance(obj, np.generic) else "ndarray"
        name = self.array_names.get(id(obj)) if kind != "scalar" else None
        if name is None:
            array = _host_array(obj)
            if array.dtype.hasobject:
                raise TypeError(f"minidl.save: {where} is an array of Python objects; only numeric arrays "
                                f"can be saved")
            name = f"a{len(self.arrays)}"
            self.arrays[name] = array
            if kind != "scalar":
                self.array_names[id(obj)] = name
        node: dict[str, Any] = {"type": kind, "array": name}
        if kind == "tensor":
            node["requires_grad"] = obj.requires_grad
            node["parameter"] = type(obj).__name__ == "Parameter"
        return node


class Decoder:
    """Turns a checked header's tree back into objects; raises CheckpointError for anything malformed."""

    def __init__(self, arrays: dict[str, np.ndarray], backend: Backend) -> None:
        self.arrays, self.backend = arrays, backend
        self.tensors: dict[tuple[str, bool, bool], Tensor] = {}  # shared tensors come back shared
        self.modules: dict[int, Any] = {}

    def decode(self, node: Any, where: str = "obj", depth: int = 0) -> Any:
        from minidl import serialization

        if depth > MAX_DEPTH:
            raise CheckpointError(f"{where}: the tree is nested more than {MAX_DEPTH} levels deep")
        kind = node["type"]
        if kind == "value":
            if node["value"] is not None and not isinstance(node["value"], bool | int | float | str):
                raise CheckpointError(f"{where}: a 'value' node holds a {type(node['value']).__name__}")
            return node["value"]
        if kind == "float":
            return float(node["value"])
        if kind == "dict":
            out = {}
            for key, value in node["items"]:
                if not isinstance(key, str | int):
                    raise CheckpointError(f"{where}: a dict key of type {type(key).__name__}")
                out[key] = self.decode(value, f"{where}[{key!r}]", depth + 1)
            return out
        if kind in ("list", "tuple"):
            items = [self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node["items"])]
            return items if kind == "list" else tuple(items)
        if kind in ("tensor", "ndarray", "scalar"):
            return self._array(node, kind)
        if kind == "function":
            return serialization.decode_function(node, where)
        if kind == "module":
            if not isinstance(node["id"], int) or node["id"] in self.modules:
                raise CheckpointError(f"{where}: invalid module id {node['id']!r}")
            return serialization.decode_module(node, lambda v, w: self.decode(v, w, depth + 1), where,
                                               lambda m: self.modules.__setitem__(node["id"], m))
        if kind == "module_ref":
            if node["id"] not in self.modules:
                raise CheckpointError(f"{where}: reference to an unknown module id {node['id']!r}")
            return self.modules[node["id"]]
        raise CheckpointError(f"{where}: unknown node type {kind!r} in the checkpoint tree")

    def _array(self, node: dict[str, Any], kind: str) -> Any:
        array = self.arrays[node["array"]]
        if kind == "ndarray":
            return array
        if kind == "scalar":
            return array[()]
        key = (node["array"], bool(node.get("parameter")), bool(node.get("requires_grad")))
        if key not in self.tensors:
            t = Tensor._wrap(self.backend.asarray(array), self.backend, False)
            if key[1]:
                from minidl.nn.parameter import Parameter

                t = Parameter(t, requires_grad=node.get("requires_grad", True))
            elif key[2]:
                t.requires_grad = True
            self.tensors[key] = t
        return self.tensors[key]

