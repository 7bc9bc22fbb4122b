"""``GradScaler``: dynamic loss scaling, so that float16 gradients neither underflow nor corrupt a step.

Why: float16's smallest normal number is 6.1e-5 (subnormals reach 6e-8); gradients of a loss often
are smaller and round to zero in float16. Multiplying the loss by a scale ``S`` (65536 to start)
multiplies every gradient by ``S`` (backward is linear in the loss), lifting them into range.
Before the optimizer uses them they are divided by ``S`` again, in float32 (the master weights' dtype).

Dynamic: ``S`` is too large when some gradient overflowed to inf (or became NaN). Then the step is
skipped, and ``update`` multiplies ``S`` by ``backoff_factor`` (0.5). After ``growth_interval`` (2000)
steps in a row without inf/NaN, ``update`` multiplies ``S`` by ``growth_factor`` (2.0), to try a larger
scale again. The rule, per ``update``::

    if found_inf:  S = S * backoff_factor;  tracker = 0
    else:          tracker += 1;  if tracker == growth_interval: S = S * growth_factor (if finite); tracker = 0

PyTorch's API and rule (``torch.amp.GradScaler``, ``torch._amp_update_scale_``), with the scale kept
as a float32 number as PyTorch keeps it::

    scaler = minidl.amp.GradScaler("cpu")
    for x, y in loader:
        optimizer.zero_grad()
        with minidl.autocast("cpu", dtype=minidl.float16):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)        # unscales, then steps unless a gradient is inf/NaN
        scaler.update()
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from minidl.backends import available
from minidl.tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"  # where each optimizer is in the current iteration


class GradScaler:
    """Dynamic loss scaling with PyTorch's API (``scale``, ``unscale_``, ``step``, ``update``, ``get_scale``,
    ``state_dict``/``load_state_dict``, the growth/backoff getters and setters, ``is_enabled``).

    ``device`` says where the scaled tensors live ("cuda" or "cpu"); as in PyTorch, ``"cuda"`` on a machine
    without a GPU backend warns and disables the scaler (every method then passes through). ``enabled=False``
    makes it a no-op, so one training loop serves both precisions.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"GradScaler: device must be 'cpu' or 'cuda', got {device!r}")
        if enabled and device == "cuda" and not any(b in available() for b in ("cupy", "numba-cuda")):
            warnings.warn("GradScaler is enabled, but CUDA is not available: disabling (pass device='cpu' to "
                          "scale the losses of CPU tensors)", UserWarning, stacklevel=2)
            enabled = False
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not (isinstance(growth_interval, int) and growth_interval > 0):
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        self._device, self._enabled = device, bool(enabled)
        self._scale = np.float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval, self._growth_tracker = growth_interval, 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}  # id(optimizer) -> {"stage", "found_inf"}

    # ------------------------------------------------------------------ the four calls of a step
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or a list/tuple of them, nested) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * float(self._scale)
        if isinstance(outputs, list | tuple):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of Tensors, got "
                         f"{type(outputs).__name__}")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note any inf/NaN.

        Call it before clipping gradients (``clip_grad_norm_`` must see the true gradients); ``step``
        calls it when you have not. Once per optimizer between two ``update`` calls.
        """
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = np.float32(1.0 / np.float64(self._scale))  # as PyTorch: the reciprocal in float64, then float32
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.array
                if g.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients. (GradScaler: keep the parameters "
                                     "float32 and let autocast cast them; the gradients then arrive in float32)")
                xp = p.grad.backend.xp
                if not bool(xp.isfinite(g).all()):
                    found_inf = True
                g *= g.dtype.type(inv_scale)
        state["stage"], state["found_inf"] = _UNSCALED, found_inf

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(*args, **kwargs)`` on the unscaled gradients, unless one of them is inf or NaN
        (then the step is skipped and None returned; ``update`` lowers the scale)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        retval = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Set the scale for the next iteration: ``new_scale`` if given, else PyTorch's rule (module docstring)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = np.float32(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(found):
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    # ------------------------------------------------------------------ getters, setters, state
    def get_scale(self) -> float:
        """The current scale as a Python float (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """``{"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}`` (PyTorch's
        keys), or ``{}`` when disabled; ``minidl.train.save_checkpoint(..., scaler=scaler)`` stores it."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        missing = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"} - set(state_dict)
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing {sorted(missing)}")
        self._scale = np.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
