"""``SGD``: stochastic gradient descent, with momentum, Nesterov momentum and weight decay.

The update rule and an example are in the class docstring (shown by ``help`` and the API page)."""

from __future__ import annotations

from typing import Any

from minidl.optim.optimizer import Optimizer, ParamsT
from minidl.tensor import Tensor


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False)``.

    PyTorch's rule, for gradient ``g`` of parameter ``p`` at step ``t`` (``mu`` = momentum,
    ``tau`` = dampening, ``lambda`` = weight_decay):

        g  <- g + lambda p                       (L2 penalty; -g first when maximize=True)
        b  <- g                                  at the first step
        b  <- mu b + (1 - tau) g                 afterwards
        g  <- g + mu b    (nesterov)   or   g <- b
        p  <- p - lr g

    Note that PyTorch's momentum multiplies ``lr`` outside the buffer (``b`` accumulates gradients, not
    steps), unlike the Sutskever et al. formulation; the two agree while ``lr`` is constant.

    >>> import minidl
    >>> w = minidl.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.8, -1.6], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr} (must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum {momentum} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        buf = p.backend.sgd_update(p.array, grad, state.get("momentum_buffer"), group["lr"], group["momentum"],
                                   group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"])
        if buf is not None:
            state["momentum_buffer"] = buf
