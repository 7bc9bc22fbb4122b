"""``Adam`` and ``AdamW``: adaptive moment estimation (Kingma & Ba, 2015; Loshchilov & Hutter, 2019).

The update rule and an example are in the class docstring (shown by ``help`` and the API page)."""

from __future__ import annotations

from typing import Any

from minidl.optim._foreach import adam_init_state, adam_step_foreach
from minidl.optim.optimizer import Optimizer, ParamsT
from minidl.tensor import Tensor


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False)``.

    Adam keeps two running averages per parameter, of the gradient (``m``, the first moment) and of its
    square (``v``, the second moment), and divides one by the square root of the other: every coordinate
    gets its own step size, about ``lr`` whatever the scale of its gradient. PyTorch's rule at step ``t``
    (from 1):

        g <- g + lambda p                        (Adam: L2 penalty, enters m and v)
        p <- p - lr lambda p                     (AdamW: decoupled weight decay, outside the scaling)
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)                   (amsgrad=True; then v_max replaces v below)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The divisions by ``1 - beta^t`` undo the bias of averages started at zero.

    >>> import minidl
    >>> w = minidl.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]  # the first step moves every coordinate by about lr
    [0.9, -1.9]

    ``weight_decay`` is an L2 penalty added to the gradient (use ``AdamW`` for decoupled decay).

    ``foreach`` / ``fused`` (PyTorch's switches): True or None (the default) update all the parameters of a
    group with one multi-tensor kernel call (``minidl/optim/_foreach.py``), False loops over them one kernel
    call each; the results are the same. ``fused=True`` and ``foreach=True`` together are refused, as in PyTorch.
    """

    decoupled = False

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, fused: bool | None = None) -> None:
        name = type(self).__name__
        if foreach and fused:
            raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate {lr} (must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon {eps} (must be >= 0)")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{name}: invalid betas {betas} (each must be in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay {weight_decay} (must be >= 0)")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize, fused=fused)
        super().__init__(params, defaults)

    def _step_group(self, group: dict[str, Any]) -> None:
        """One multi-tensor kernel call for the group, or one call per parameter with ``foreach=False``."""
        if group.get("foreach") is False and not group.get("fused"):
            super()._step_group(group)
        else:
            adam_step_foreach(self, group, self.decoupled)

    def _update(self, group: dict[str, Any], p: Tensor, grad: Any, state: dict[str, Any]) -> None:
        if not state:
            adam_init_state(group, p, state)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        p.backend.adam_update(p.array, grad, state["exp_avg"], state["exp_avg_sq"], group["lr"], beta1, beta2,
                              group["eps"], group["weight_decay"], state["step"], self.decoupled,
                              max_exp_avg_sq=state.get("max_exp_avg_sq") if group["amsgrad"] else None,
                              maximize=group["maximize"])


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)``.

    Adam with *decoupled* weight decay: ``p <- p (1 - lr weight_decay)`` before the Adam step, so the
    decay is not divided by ``sqrt(v)`` (with L2 in Adam, weights with large gradients decay less).
    """

    decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         fused=fused)
