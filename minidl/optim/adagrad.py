"""``Adagrad``: per-coordinate step sizes that shrink with the sum of squared gradients (Duchi et al., 2011).

The update rule and an example are in the class docstring (shown by ``help`` and the API page)."""

from __future__ import annotations

from typing import Any

from minidl.optim.optimizer import Optimizer, ParamsT
from minidl.tensor import Tensor


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10)``.

    PyTorch's rule at step ``t`` (from 1):

        g  <- g + lambda p                       (weight decay as an L2 penalty)
        lr_t = lr / (1 + (t - 1) lr_decay)
        s  <- s + g^2                            (s starts at initial_accumulator_value)
        p  <- p - lr_t g / (sqrt(s) + eps)

    Coordinates with rare gradients keep large steps; frequent ones slow down. Because ``s`` only grows,
    the steps eventually become tiny: RMSprop and Adam replace the sum with a running average.

    >>> import minidl
    >>> w = minidl.tensor([3.0], requires_grad=True)
    >>> opt = Adagrad([w], lr=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> w  # 3 - 0.5 * 6 / sqrt(36)
    tensor([2.5], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Adagrad: invalid learning rate {lr} (must be >= 0)")
        if lr_decay < 0.0:
            raise ValueError(f"Adagrad: invalid lr_decay {lr_decay} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"Adagrad: invalid weight_decay {weight_decay} (must be >= 0)")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Adagrad: invalid initial_accumulator_value {initial_accumulator_value} (must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"Adagrad: invalid epsilon {eps} (must be >= 0)")
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        # Like PyTorch, the accumulators exist from the start (so state_dict() lists them before any step).
        for p in self.param_groups[-1]["params"]:
            self._init_state(self.param_groups[-1], p)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> None:
        if not self.state.get(p):
            self.state[p] = {"step": 0,
                             "sum": p.backend.xp.full_like(p.array, group["initial_accumulator_value"])}

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        if not state:
            self._init_state(group, p)
            state = self.state[p]
        state["step"] += 1
        p.backend.adagrad_update(p.array, grad, state["sum"], state["step"], group["lr"], group["lr_decay"],
                                 group["weight_decay"], group["eps"], maximize=group["maximize"])
