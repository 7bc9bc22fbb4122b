"""``Module``: the base class of every layer and model.

A Module is a tree. Assigning attributes registers what a model is made of, in definition order:

* a ``Parameter``  -> ``self._parameters`` (learned; returned by ``parameters()``),
* a ``Module``     -> ``self._modules``    (a child; its parameters belong to the parent too),
* ``register_buffer(name, tensor)`` -> ``self._buffers`` (state that is saved but not learned,
  like BatchNorm's running mean).

Everything else (``parameters()``, ``state_dict()``, ``to()``, ``train()``, ``repr``) is a walk
over that tree. The three registries are plain dicts, so the order is always definition order
(never a ``set``): the optimizer, ``state_dict`` and checkpoints see the same order on every run.

Hooks (``register_forward_pre_hook``, ``register_forward_hook``, ``register_full_backward_hook``)
let you look at what flows through a module without editing it; calling a module that has none
costs one attribute check.

```pycon
>>> import minidl, minidl.nn as nn
>>> class MLP(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.hidden = nn.Linear(4, 8)
...         self.out = nn.Linear(8, 2)
...     def forward(self, x):
...         return self.out(self.hidden(x).relu())
>>> model = MLP()
>>> [name for name, _ in model.named_parameters()]
['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
>>> model(minidl.zeros(3, 4)).shape
minidl.Size([3, 2])

```
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from minidl.autograd import Function, RemovableHandle, is_grad_enabled
from minidl.device import backend_for, parse_to_args
from minidl.dtypes import bfloat16, is_floating_point
from minidl.nn.parameter import Parameter
from minidl.tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (same as PyTorch's return value)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _to_host_array(value: Any, key: str) -> np.ndarray:
    """Turn a state_dict value (minidl Tensor, numpy array, torch tensor, ...) into a numpy array."""
    if isinstance(value, Tensor):
        return value.backend.to_numpy(value.array)
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor: no grad, on the host
        value = value.detach().cpu()
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (BufferError, RuntimeError, TypeError, ValueError):
            pass  # e.g. a GPU array: fall back to __array__ / .get()
    if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # a cupy array
        return value.get()
    if hasattr(value, "__array__"):
        return np.asarray(value)
    raise TypeError(
        f"load_state_dict: the value for {key!r} is a {type(value).__name__}; expected a minidl Tensor, a numpy "
        f"array, or an object with __array__ or __dlpack__"
    )


class BackwardHookFunction(Function):
    """Identity on the Tensors at a module's inputs or outputs; its backward hands their gradients to
    ``on_backward``, which returns the gradients to pass on (how ``register_full_backward_hook`` sees them)."""

    def __init__(self, on_backward: Callable[[tuple[Tensor, ...]], tuple[Tensor | None, ...]]) -> None:
        self.on_backward = on_backward

    def forward(self, *xs):
        return xs if len(xs) > 1 else xs[0]

    def backward(self, *gys):
        return tuple(self.on_backward(gys))


class _BackwardHooks:
    """One call of a module with backward hooks: collects ``grad_output``, then calls the hooks with
    ``grad_input`` (PyTorch's ``torch.utils.hooks.BackwardHook``)."""

    def __init__(self, module: Module, n_args: int) -> None:
        self.module = module
        self.n_args = n_args
        self.input_index: list[int] | None = None  # positions of the args that need a gradient
        self.output_index: list[int] = []
        self.n_outputs = 0
        self.grad_outputs: tuple[Tensor | None, ...] | None = None

    def wrap_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not index:
            return args
        self.input_index = index
        wrapped = BackwardHookFunction(self._on_grad_inputs)(*[args[i] for i in index])
        new_args = list(args)
        for i, t in zip(index, wrapped if isinstance(wrapped, tuple) else (wrapped,), strict=True):
            new_args[i] = t
        return tuple(new_args)

    def wrap_outputs(self, output: Any) -> Any:
        outputs = list(output) if isinstance(output, tuple | list) else [output]
        index = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not index:
            return output
        self.output_index, self.n_outputs = index, len(outputs)
        wrapped = BackwardHookFunction(self._on_grad_outputs)(*[outputs[i] for i in index])
        for i, t in zip(index, wrapped if isinstance(wrapped, tuple) else (wrapped,), strict=True):
            outputs[i] = t
        return type(output)(outputs) if isinstance(output, tuple | list) else outputs[0]

    def _on_grad_outputs(self, gys: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
        module = self.module
        grad_outputs: list[Tensor | None] = [None] * self.n_outputs
        for i, g in zip(self.output_index, gys, strict=True):
            grad_outputs[i] = g
        packed = tuple(grad_outputs)
        for hook in list(module._backward_pre_hooks.values()):
            result = hook(module, packed)
            if result is not None:
                packed = tuple(result) if isinstance(result, tuple | list) else (result,)
        self.grad_outputs = packed
        if self.input_index is None:  # no input needs a gradient: the hooks run now, grad_input all None
            for hook in list(module._backward_hooks.values()):
                result = hook(module, (None,) * self.n_args, packed)
                if result is not None and any(g is not None for g in result):
                    raise RuntimeError(f"a backward hook of {type(module).__name__} returned a grad_input, but "
                                       f"no input of the module needs a gradient")
        return tuple(packed[i] for i in self.output_index)

    def _on_grad_inputs(self, gys: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
        module = self.module
        assert self.input_index is not None
        grad_inputs: list[Tensor | None] = [None] * self.n_args
        for i, g in zip(self.input_index, gys, strict=True):
            grad_inputs[i] = g
        packed = tuple(grad_inputs)
        for hook in list(module._backward_hooks.values()):
            result = hook(module, packed, self.grad_outputs)
            if result is not None:
                result = tuple(result) if isinstance(result, tuple | list) else (result,)
                if len(result) != self.n_args:
                    raise RuntimeError(f"a backward hook of {type(module).__name__} returned {len(result)} "
                                       f"gradients; expected {self.n_args} (one per input, None allowed)")
                packed = result
        return tuple(packed[i] for i in self.input_index)


class Module:
    """Base class of every layer: subclass it, register parts in ``__init__``, compute in ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ below needs these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())  # names only, never iterated for order
        object.__setattr__(self, "_modules", {})
        # hook id -> (hook, with_kwargs) or hook, in call order (OrderedDicts: a handle holds them weakly)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_has_hooks", False)  # any of the four above non-empty: one check per call

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Module must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._has_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; it may return new args (a tuple, or one
        value). With ``with_kwargs=True``: ``hook(module, args, kwargs)`` returning None or ``(args, kwargs)``.
        ``prepend=True`` runs it before the hooks already registered."""
        return self._add_hook(self._forward_pre_hooks, (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; it may return a new output.
        With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.

        >>> import minidl, minidl.nn as nn
        >>> layer = nn.Linear(3, 2)
        >>> shapes = []
        >>> handle = layer.register_forward_hook(lambda m, args, out: shapes.append(tuple(out.shape)))
        >>> _ = layer(minidl.ones(4, 3))
        >>> handle.remove(); _ = layer(minidl.ones(1, 3))
        >>> shapes
        [(4, 2)]
        """
        return self._add_hook(self._forward_hooks, (hook, with_kwargs), prepend)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients of the module's outputs are known, before
        they flow into it; it may return a replacement ``grad_output`` tuple."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` in backward, as PyTorch does.

        ``grad_output`` holds the gradients of the module's Tensor outputs; ``grad_input`` one entry per
        positional argument of ``forward``: the gradient of that input, or None (a non-Tensor, or a
        Tensor that needs no gradient). The hook runs when the gradients of the inputs are computed (or,
        when no input needs one, when those of the outputs are), and may return a replacement
        ``grad_input`` tuple. Works for modules whose ``forward`` takes and returns Tensors (or tuples
        of them).

        >>> import minidl, minidl.nn as nn
        >>> layer = nn.Linear(3, 2)
        >>> seen = []
        >>> h = layer.register_full_backward_hook(
        ...     lambda m, gin, gout: seen.append((tuple(gin[0].shape), tuple(gout[0].shape))))
        >>> layer(minidl.ones(4, 3, requires_grad=True)).sum().backward()
        >>> seen
        [((4, 3), (4, 2))]
        """
        return self._add_hook(self._backward_hooks, hook, prepend)

    def _add_hook(self, hooks: OrderedDict[int, Any], value: Any, prepend: bool) -> RemovableHandle:
        module = weakref.ref(self)  # the handle must not keep the module alive

        def on_remove() -> None:
            m = module()
            if m is not None:
                object.__setattr__(m, "_has_hooks", bool(m._forward_pre_hooks or m._forward_hooks
                                                         or m._backward_pre_hooks or m._backward_hooks))

        handle = RemovableHandle(hooks, on_remove)
        hooks[handle.id] = value
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        object.__setattr__(self, "_has_hooks", True)
        return handle

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``__call__`` when this module has hooks, in PyTorch's order: forward pre-hooks, inputs wrapped for
        the backward hooks, ``forward``, forward hooks, outputs wrapped for the backward hooks."""
        for hook, with_kwargs in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(f"a forward pre-hook of {type(self).__name__} registered with_kwargs "
                                           f"must return None or (args, kwargs), got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hooks = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            backward_hooks = _BackwardHooks(self, len(args))
            args = backward_hooks.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        if backward_hooks is not None:
            output = backward_hooks.wrap_outputs(output)
        return output

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called (call super().__init__())")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._discard(name, params)
            params[name] = value
        elif isinstance(value, Module):
            self._discard(name, modules)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter {name!r} of "
                                f"{type(self).__name__} (expected a Parameter or None)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to submodule {name!r} (expected a Module)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer {name!r} (expected a Tensor)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str, keep: dict[str, Any] | None = None) -> None:
        """Forget ``name`` everywhere but in ``keep``, the registry about to receive it: a name assigned
        again keeps its place there (PyTorch's order: ``seq[0] = layer`` must not move layer 0 last)."""
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        self._discard(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is not learned (saved in ``state_dict`` unless ``persistent=False``)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._discard(name, self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        self._discard(name, self._modules)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``"encoder.layers.0"``)."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"get_submodule: {type(module).__name__} has no submodule {part!r} ({target!r})")
            module = module._modules[part]
        return module

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first, each module once."""
        memo = set() if memo is None else memo  # ids already seen: a shared module is listed once
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) in definition order; a shared (tied) parameter is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalars in the parameters (each shared parameter counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch norm uses batch statistics) for this module and its children."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``grad = None`` (default) or zeros of the parameter's shape."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(p.backend.xp.zeros_like(p.array), p.backend, False)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on this module; e.g. custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ moving
    def to(self, *args: Any, device: Any = None, dtype: Any = None, non_blocking: bool = False) -> Module:
        """Move every parameter and buffer, in place, to a device or backend (``"cuda"``, ``"cpu"``,
        ``"numba"``, ``minidl.device(...)``) and/or cast floating ones to a dtype (``minidl.float64``),
        as ``torch.nn.Module.to`` does. Parameters stay the same objects, so an optimizer made before
        the move keeps working."""
        device, dtype = parse_to_args(args, device, dtype)
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and not is_floating_point(dtype):
            raise TypeError(f"Module.to: only floating point dtypes are allowed, got {dtype}")

        def convert(t: Tensor) -> None:
            be = None if device is None else backend_for(device, t.backend)
            if be is not None and t.backend is not be:
                t.array, t.backend = be.asarray(t.backend.to_numpy(t.array)), be
            if dtype is not None and is_floating_point(t.dtype):
                t.array = t.array.astype(dtype)

        for t in [*self.parameters(), *self.buffers()]:
            convert(t)
            if t.grad is not None:
                convert(t.grad)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def bfloat16(self) -> Module:
        return self.to(bfloat16)

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer by dotted name, in definition order.

        The tensors share memory with the module (like PyTorch): copy them to keep a snapshot.
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for mod_prefix, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            items = list(module._parameters.items())
            items += [(n, b) for n, b in module._buffers.items() if n not in module._non_persistent]
            for name, value in items:
                if value is not None:
                    key = f"{mod_prefix}.{name}" if mod_prefix else name
                    out[key] = value if keep_vars else value.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers (cast to their dtype, on their backend).

        Values may be minidl Tensors, numpy arrays, or anything with ``__array__`` / ``__dlpack__`` (a
        PyTorch ``state_dict()`` works as is). Every problem is found before anything is written: a load
        that raises leaves the module untouched. Shape mismatches always raise; missing and unexpected
        keys raise when ``strict`` (the default) and are returned otherwise.
        """
        own = self.state_dict(keep_vars=True)
        given = dict(state_dict)
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        staged: list[tuple[Tensor, Any]] = []
        mismatched = []
        for key, target in own.items():
            if key not in given:
                continue
            array = _to_host_array(given[key], key)
            if tuple(array.shape) != tuple(target.shape):
                mismatched.append(f"  {key}: the checkpoint has shape {tuple(array.shape)}, "
                                  f"the module has shape {tuple(target.shape)}")
                continue
            # Convert now (cast to the target's dtype, move to its backend) so that writing cannot fail.
            staged.append((target, target.backend.asarray(array.astype(target.dtype, copy=True))))
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        if mismatched:
            problems.append("shape mismatches:\n" + "\n".join(mismatched))
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__} failed; nothing was loaded.\n"
                               + "\n".join(problems))
        for target, array in staged:
            target.array = array  # the same Parameter object, new values: optimizers keep working
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr line (layers override it)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))
