"""``Optimizer``: the base class of every optimizer (parameter groups, state, saving and loading).

An optimizer holds references to the parameters it updates, organised in *parameter groups*: each
group is a dict with a ``"params"`` list and its own hyper-parameters (``lr``, ``weight_decay``, ...),
so that, for example, biases can get no weight decay. ``state[p]`` holds what the rule remembers about
parameter ``p`` between steps (momentum buffers, running averages, the step count).

A training step is always the same four lines:

>>> import minidl, minidl.nn as nn
>>> model = nn.Linear(3, 1)
>>> opt = minidl.optim.SGD(model.parameters(), lr=0.1)
>>> loss = (model(minidl.ones(4, 3)) ** 2).mean()
>>> opt.zero_grad(); loss.backward(); opt.step()

Subclasses implement ``_update(group, p, grad, state)`` with the rule of one parameter; the update
itself is a kernel of the parameter's backend (``p.backend.sgd_update(...)``) that changes the arrays
*in place*: ``p.array`` stays the same array object, so views and references held elsewhere stay valid,
and no graph is recorded.

``state_dict()`` follows PyTorch: parameters are named by their index (counting through the groups in
order), ``{"state": {index: {name: Tensor or number}}, "param_groups": [{..., "params": [indices]}]}``.
It returns copies, so a saved dict does not change when training continues.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minidl.autograd import enable_grad
from minidl.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class _Required:
    """Marks a hyper-parameter that has no default (``lr`` of SGD in old PyTorch versions)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: ``Optimizer(params, defaults)`` where ``params`` is an iterable of tensors or of dicts."""

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor: pass [tensor] or model.parameters()")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}  # keyed by the parameter object itself
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with ``"params"`` and optional hyper-parameters; the rest come from defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (it is the result of an op; use a Parameter)")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]) or seen & {id(p) for p in group["params"]}:
            raise ValueError("some parameters appear more than once (in this group or in another group)")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward: ``grad = None`` (default) or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()  # cut it from any graph (create_graph=True), keep the array
                    p.grad.array[...] = 0

    # ------------------------------------------------------------------ the step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (re)computes and returns the loss first.

        Returns the closure's loss (None without a closure). Parameters whose ``grad`` is None are skipped.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        """Update the parameters of one group, one ``_update`` call each (multi-tensor optimizers override this)."""
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad.array
            if grad.shape != p.array.shape:
                raise ValueError(f"{type(self).__name__}.step: a gradient has shape {grad.shape} but its "
                                 f"parameter has shape {p.array.shape}")
            self._update(group, p, grad, self.state.setdefault(p, {}))

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        """Apply the rule to one parameter ``p`` (arrays: ``p.array``, ``grad``; ``state`` is ``self.state[p]``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self) -> dict[str, Any]:
        """A snapshot ``{"state": {index: {...}}, "param_groups": [...]}`` (arrays as copied Tensors)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: copy.deepcopy(v) for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = self._save_state(p, self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict()`` (checked before anything changes).

        Arrays are copied, cast to the parameter's dtype and moved to its backend; int keys may also be
        given as strings (as they come back from JSON).
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} parameters in "
                                 f"the saved state and {len(group['params'])} in this optimizer")
            params += list(zip(saved["params"], group["params"]))
        by_index = dict(params)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, values in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"load_state_dict: state for parameter {key}, which no group lists")
            p = by_index[int(key)]
            new_state[p] = self._load_state(p, values)
        # everything is checked and converted: now change the optimizer
        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def _save_state(self, p: Tensor, state: dict[str, Any]) -> dict[str, Any]:
        """The entry of ``state_dict()["state"]`` for ``p`` (copies; subclasses with other kinds of state override)."""
        return {name: _snapshot(v, p) for name, v in state.items()}

    def _load_state(self, p: Tensor, saved: dict[str, Any]) -> dict[str, Any]:
        """``self.state[p]`` rebuilt from a saved entry (checked and converted; must not change the optimizer)."""
        return {name: _restore(v, p, name) for name, v in saved.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _snapshot(value: Any, p: Tensor) -> Any:
    """A state entry for ``state_dict``: arrays become Tensors holding a copy, numbers stay numbers."""
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    return Tensor._wrap(value.copy(), p.backend, False)


def _restore(value: Any, p: Tensor, name: str) -> Any:
    """A state entry from ``load_state_dict``: Tensors/arrays become arrays like ``p.array`` (a copy)."""
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    if isinstance(value, Tensor):
        value = value.backend.to_numpy(value.array)
    elif hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # a cupy array
        value = value.get()
    array = np.asarray(value)
    if array.ndim == 0 and (name == "step" or array.dtype.kind in "iu"):  # a step count saved as an array
        return int(array)
    if array.shape != p.array.shape:
        raise ValueError(f"load_state_dict: state {name!r} has shape {array.shape}, its parameter {p.array.shape}")
    return p.backend.asarray(array.astype(p.array.dtype, copy=True))
