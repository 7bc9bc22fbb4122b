"""Whole modules in checkpoints, without pickle: ``minidl.save(model, f)`` and the class allowlist.

PyTorch saves a whole model with pickle, which runs whatever the file says when it is loaded; its
``weights_only=True`` mode instead refuses every class that is not on an allowlist
(``torch.serialization.add_safe_globals`` / ``safe_globals``). minidl has no pickle at all: a module is
stored as *data* in the checkpoint's JSON tree,

* its class, by qualified name (``"minidl.nn.linear.Linear"``),
* its plain attributes (numbers, strings, bools, None, tuples, lists, dicts, arrays, ...),
* its parameters, buffers and submodules (recursively), and its ``training`` flag,

and it is rebuilt on load without running its ``__init__``: ``cls.__new__(cls)``, ``Module.__init__`` (the
empty registries), then the saved state is put back. The class is looked up among minidl's own modules and
the user's allowlist, never imported by a name read from the file; a class found in neither is refused with
a ``CheckpointError`` that says how to allow it::

    with minidl.serialization.safe_globals([MyNet]):     # for one load, like PyTorch
        model = minidl.load("model.npz", weights_only=True)
    minidl.serialization.add_safe_globals([MyNet])        # for the rest of the process

A module attribute that is a function (``TransformerEncoderLayer.activation``) is stored as a reference
and resolved the same way: minidl's functions, or allowlisted ones. Nothing found in a file is ever called.

>>> import minidl, minidl.nn as nn, io
>>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
>>> buffer = io.BytesIO()
>>> minidl.save(model, buffer)
>>> _ = buffer.seek(0)
>>> minidl.load(buffer)
Sequential(
  (0): Linear(in_features=2, out_features=3, bias=True)
  (1): ReLU()
)
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from minidl.io.format import CheckpointError

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals"]

# Process-wide allowlist (PyTorch's add_safe_globals is process-wide too) and a scoped one for `with`.
_GLOBAL: dict[str, Any] = {}
_SCOPED: ContextVar[tuple[tuple[str, Any], ...]] = ContextVar("minidl_safe_globals", default=())

# Where minidl's own functions may come from without an allowlist: the differentiable ops only (so a
# crafted file cannot point a module's attribute at, say, a function that writes files).
_FUNCTION_NAMESPACES = ("minidl.ops", "minidl.nn.functional")
_REGISTRIES = ("_parameters", "_buffers", "_modules", "_non_persistent", "training")


# --------------------------------------------------------------------------- the allowlist
def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class or function: the name a checkpoint stores it under."""
    return f"{obj.__module__}.{obj.__qualname__}"


def _entries(items: Iterable[Any]) -> dict[str, Any]:
    """Allowlist entries by name: a class or function, or ``(obj, "name in the file")`` as in PyTorch."""
    out = {}
    for item in items:
        obj, name = item if isinstance(item, tuple) else (item, None)
        if not (isinstance(obj, type) or isinstance(obj, types.FunctionType | types.BuiltinFunctionType)):
            raise TypeError(f"safe globals must be classes or functions, got {obj!r}")
        out[name if isinstance(name, str) else qualified_name(obj)] = obj
    return out


def add_safe_globals(safe_globals: Iterable[Any]) -> None:
    """Allow these classes (and functions) in every later ``minidl.load`` of this process."""
    _GLOBAL.update(_entries(safe_globals))


def get_safe_globals() -> list[Any]:
    """The process-wide allowlist (``add_safe_globals``), in the order added."""
    return list(_GLOBAL.values())


def clear_safe_globals() -> None:
    """Forget everything ``add_safe_globals`` allowed."""
    _GLOBAL.clear()


@contextmanager
def safe_globals(safe_globals: Iterable[Any]) -> Iterator[None]:
    """Allow these classes (and functions) inside the ``with`` block only (this thread / task)."""
    token = _SCOPED.set((*_SCOPED.get(), *_entries(safe_globals).items()))
    try:
        yield
    finally:
        _SCOPED.reset(token)


def _minidl_object(module_name: str, qualname: str, namespaces: tuple[str, ...]) -> Any:
    """The top-level class or function ``module_name.qualname`` of an already imported module in one of
    minidl's ``namespaces`` (``"minidl.ops"`` covers its submodules), or None; never imports by name."""
    if not any(module_name == ns or module_name.startswith(ns + ".") for ns in namespaces) \
            or not qualname.isidentifier():
        return None
    import minidl.models  # noqa: F401  (a fixed import, so that its classes can be found below)

    obj = getattr(sys.modules.get(module_name), qualname, None)
    if obj is None or getattr(obj, "__module__", None) != module_name or getattr(obj, "__qualname__", None) != qualname:
        return None
    return obj


def _resolve(node: dict[str, Any], where: str, what: str, namespaces: tuple[str, ...]) -> Any:
    module_name, qualname = node["module"], node["qualname"]
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        raise CheckpointError(f"{where}: malformed {what} name {module_name!r}.{qualname!r}")
    name = f"{module_name}.{qualname}"
    obj = {**_GLOBAL, **dict(_SCOPED.get())}.get(name)
    if obj is None:
        obj = _minidl_object(module_name, qualname, namespaces)
    if obj is None:
        short = qualname.rpartition(".")[2]
        raise CheckpointError(
            f"{where}: the checkpoint holds a {what} {name!r}, which is neither part of minidl nor allowlisted, "
            f"so it was not rebuilt. If you trust this file, allow it: "
            f"`with minidl.serialization.safe_globals([{short}]): minidl.load(...)` or "
            f"`minidl.serialization.add_safe_globals([{short}])`")
    return obj


# --------------------------------------------------------------------------- functions
def encode_function(fn: Any, where: str) -> dict[str, Any]:
    """A reference to a named, importable function (never a lambda or a local function)."""
    name = getattr(fn, "__qualname__", "")
    if "<" in name or getattr(sys.modules.get(fn.__module__ or ""), name, None) is not fn:
        raise TypeError(f"minidl.save: cannot store {where}, the function {name!r}: only module-level "
                        f"functions can be stored (by name), not lambdas or local functions")
    return {"type": "function", "module": fn.__module__, "qualname": name}


def decode_function(node: dict[str, Any], where: str) -> Callable[..., Any]:
    fn = _resolve(node, where, "function", _FUNCTION_NAMESPACES)
    if isinstance(fn, type) or not callable(fn):
        raise CheckpointError(f"{where}: {qualified_name(fn)} is not a function")
    return fn


# --------------------------------------------------------------------------- modules
def encode_module(module: Any, encode: Callable[[Any, str], Any], where: str, ident: int) -> dict[str, Any]:
    """The JSON node of a Module; ``encode(value, where)`` encodes each value it holds."""
    cls = type(module)
    if "<" in cls.__qualname__:
        raise TypeError(f"minidl.save: cannot store {where}: its class {cls.__qualname__} is defined inside a "
                        f"function; define it at module level (or save its state_dict())")

    def named(registry: dict[str, Any]) -> list[list[Any]]:
        return [[name, encode(value, f"{where}.{name}")] for name, value in registry.items()]

    attributes = {k: v for k, v in module.__dict__.items() if k not in _REGISTRIES}
    return {"type": "module", "id": ident, "module": cls.__module__, "qualname": cls.__qualname__,
            "training": bool(module.training),
            "attributes": named(attributes),
            "parameters": named(module._parameters),
            "buffers": named(module._buffers),
            "non_persistent": sorted(module._non_persistent),
            "modules": named(module._modules)}


def decode_module(node: dict[str, Any], decode: Callable[[Any, str], Any], where: str,
                  register: Callable[[Any], None]) -> Any:
    """Rebuild a Module from its node without calling its ``__init__``.

    ``register(module)`` is called as soon as the empty instance exists, so that references to it from
    inside its own subtree (shared submodules) resolve to the same object.
    """
    from minidl.nn.module import Module
    from minidl.nn.parameter import Parameter
    from minidl.tensor import Tensor

    cls = _resolve(node, where, "module class", ("minidl",))
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise CheckpointError(f"{where}: {qualified_name(cls)} is not a minidl Module subclass")
    try:
        module = cls.__new__(cls)  # the allowlisted class's own construction, without its __init__
    except TypeError as e:
        raise CheckpointError(f"{where}: cannot create an empty {cls.__qualname__} ({e})") from None
    Module.__init__(module)  # the empty registries
    register(module)
    object.__setattr__(module, "training", node["training"] is True)

    def items(key: str) -> Iterator[tuple[str, Any]]:
        for name, value in node[key]:
            bad = not isinstance(name, str) or name.startswith("__") or name in _REGISTRIES
            if bad or (key == "attributes" and not name.isidentifier()):
                raise CheckpointError(f"{where}: refused {key[:-1]} name {name!r}")
            yield name, decode(value, f"{where}.{name}")

    for name, value in items("attributes"):
        object.__setattr__(module, name, value)
    for name, value in items("parameters"):
        if value is not None and not isinstance(value, Parameter):
            raise CheckpointError(f"{where}.{name}: a parameter must be a Parameter, got {type(value).__name__}")
        module._parameters[name] = value
    for name, value in items("buffers"):
        if value is not None and not isinstance(value, Tensor):
            raise CheckpointError(f"{where}.{name}: a buffer must be a Tensor, got {type(value).__name__}")
        module._buffers[name] = value
    module._non_persistent.update(n for n in node["non_persistent"] if n in module._buffers)
    for name, value in items("modules"):
        if value is not None and not isinstance(value, Module):
            raise CheckpointError(f"{where}.{name}: a submodule must be a Module, got {type(value).__name__}")
        module._modules[name] = value
    return module
