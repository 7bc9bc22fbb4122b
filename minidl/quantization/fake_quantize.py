"""Fake quantization for quantization-aware training (QAT): round to the int8 grid, stay in float.

    fake_quant(x) = (clamp(round(x / s) + z, q_min, q_max) - z) * s

The forward pass sees exactly the values the int8 model will compute with, so training learns weights
that survive the rounding. Rounding has a zero derivative almost everywhere, so the backward pass uses
the *straight-through estimator* (Bengio et al., 2013): the gradient passes unchanged where x is inside
the representable range and is 0 where it was clipped,

    d fake_quant / dx = 1  if q_min <= round(x / s) + z <= q_max,  else 0.

This is not the derivative of the forward (a finite-difference check would see 0), which is why the
op has no gradcheck: its tests compare the gradient with ``torch.fake_quantize_per_tensor_affine``'s.

With a learnable scale (LSQ, Esser et al., 2020) the scale gets a gradient too, PyTorch's rule:
d/ds = (fake_quant(x) - x) / s inside the range, q_min - z below it and q_max - z above it (times
``grad_factor``); the zero point gets -s where x was clipped and 0 elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from minidl.autograd import Function
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.elementwise import mask
from minidl.quantization.observer import MovingAverageMinMaxObserver
from minidl.tensor import Tensor


def _grid(xp: Any, x: Any, scale: Any, zero_point: Any, qmin: int, qmax: int) -> tuple[Any, Any]:
    """(round(x / s) + z unclamped, the fake-quantized x) in x's dtype."""
    q = xp.rint(x * (np.float32(1.0) / scale).astype(x.dtype)) + zero_point
    return q, ((xp.clip(q, qmin, qmax) - zero_point) * scale).astype(x.dtype)


def _shape(scale: Any, ndim: int, axis: int | None) -> Any:
    if axis is None:
        return scale.reshape(())
    shape = [1] * ndim
    shape[axis] = -1
    return scale.reshape(shape)


class FakeQuantizeFunction(Function):
    """y = (clamp(round(x / s) + z, q_min, q_max) - z) s; dy/dx = 1 inside the range, 0 where clipped (STE)."""

    def __init__(self, scale: Any, zero_point: Any, qmin: int, qmax: int, axis: int | None = None) -> None:
        self.scale, self.zero_point, self.qmin, self.qmax, self.axis = scale, zero_point, qmin, qmax, axis

    def forward(self, x):
        xp = self.backend.xp
        s = _shape(xp.asarray(self.scale, dtype=np.float32), x.ndim, self.axis)
        z = _shape(xp.asarray(self.zero_point, dtype=np.int64), x.ndim, self.axis)
        q, y = _grid(xp, x, s, z, self.qmin, self.qmax)
        self.inside = ((q >= self.qmin) & (q <= self.qmax)).astype(x.dtype)
        return y

    def backward(self, gy):
        return mask(gy, self.inside)


def fake_quantize_per_tensor_affine(x: Tensor, scale: float, zero_point: int, quant_min: int,
                                    quant_max: int) -> Tensor:
    """``torch.fake_quantize_per_tensor_affine``: quantize then dequantize, straight-through gradient."""
    return FakeQuantizeFunction(np.float32(scale), int(zero_point), quant_min, quant_max)(x)


def fake_quantize_per_channel_affine(x: Tensor, scale: Any, zero_point: Any, axis: int, quant_min: int,
                                     quant_max: int) -> Tensor:
    """``torch.fake_quantize_per_channel_affine``: one (s, z) per index of ``axis``."""
    s = scale.numpy() if isinstance(scale, Tensor) else np.asarray(scale)
    z = zero_point.numpy() if isinstance(zero_point, Tensor) else np.asarray(zero_point)
    return FakeQuantizeFunction(s, z, quant_min, quant_max, axis % x.ndim)(x)


class LearnableFakeQuantizeFunction(Function):
    """Fake quantization whose scale (and zero point) are inputs with gradients (PyTorch's LSQ rule)."""

    def __init__(self, qmin: int, qmax: int, grad_factor: float) -> None:
        self.qmin, self.qmax, self.grad_factor = qmin, qmax, grad_factor

    def forward(self, x, scale, zero_point):
        xp = self.backend.xp
        s = scale.reshape(()).astype(np.float32)
        z = xp.rint(xp.clip(zero_point.reshape(()), self.qmin, self.qmax))
        q, y = _grid(xp, x, s, z, self.qmin, self.qmax)
        below, above = q < self.qmin, q > self.qmax
        inside = ~(below | above)
        f = self.grad_factor
        self.inside = inside.astype(x.dtype)
        self.dscale = xp.where(inside, (y - x) / s, xp.where(below, self.qmin - z, self.qmax - z)) * f
        self.dzero = xp.where(inside, 0.0, -s * f).astype(x.dtype)
        return y

    def backward(self, gy):
        xp = self.backend.xp
        g = gy.array
        gs = xp.asarray((g * self.dscale).sum(), dtype=np.float32).reshape(1)
        gz = xp.asarray((g * self.dzero).sum(), dtype=np.float32).reshape(1)
        return mask(gy, self.inside), Tensor._wrap(gs, self.backend, False), Tensor._wrap(gz, self.backend, False)


class FakeQuantize(Module):
    """An observer followed by fake quantization (``torch.ao.quantization.FakeQuantize``).

    In training the observer updates the range and (s, z) follow it; ``disable_observer()`` freezes them
    (late in QAT), ``disable_fake_quant()`` makes the module the identity. ``learnable=True`` (PyTorch's
    ``_LearnableFakeQuantize``) makes the scale and zero point Parameters trained with the LSQ gradient,
    initialised from the observer on the first batch (per tensor only).
    """

    def __init__(self, observer: Any = MovingAverageMinMaxObserver, quant_min: int | None = None,
                 quant_max: int | None = None, learnable: bool = False, grad_factor: float = 1.0,
                 **observer_kwargs: Any) -> None:
        super().__init__()
        if quant_min is not None:
            observer_kwargs.setdefault("quant_min", quant_min)
            observer_kwargs.setdefault("quant_max", quant_max)
        self.activation_post_process = observer(**observer_kwargs)
        obs = self.activation_post_process
        self.quant_min, self.quant_max, self.dtype = obs.quant_min, obs.quant_max, obs.dtype
        self.qscheme, self.ch_axis = obs.qscheme, getattr(obs, "ch_axis", None)
        self.learnable, self.grad_factor = learnable, grad_factor
        if learnable and self.ch_axis is not None:
            raise ValueError("FakeQuantize: learnable=True supports per-tensor observers only")
        if learnable:
            self.scale = Parameter(Tensor(np.ones(1, np.float32)))
            self.zero_point = Parameter(Tensor(np.zeros(1, np.float32)))
        else:
            self.register_buffer("scale", Tensor(np.ones(1, np.float32)))
            self.register_buffer("zero_point", Tensor(np.zeros(1, np.int64)))
        self.register_buffer("fake_quant_enabled", Tensor(np.array([1], np.uint8)))
        self.register_buffer("observer_enabled", Tensor(np.array([1], np.uint8)))
        self._initialised = False

    @classmethod
    def with_args(cls, **kwargs: Any) -> Any:
        return functools.partial(cls, **kwargs)

    def enable_fake_quant(self, enabled: bool = True) -> FakeQuantize:
        self.fake_quant_enabled.array[...] = int(enabled)
        return self

    def disable_fake_quant(self) -> FakeQuantize:
        return self.enable_fake_quant(False)

    def enable_observer(self, enabled: bool = True) -> FakeQuantize:
        self.observer_enabled.array[...] = int(enabled)
        return self

    def disable_observer(self) -> FakeQuantize:
        return self.enable_observer(False)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        if self.learnable:
            z = np.rint(np.clip(self.zero_point.numpy(), self.quant_min, self.quant_max)).astype(np.int64)
            return Tensor(self.scale.numpy().reshape(()).copy()), Tensor(z.reshape(()))
        return self.activation_post_process.calculate_qparams()

    def forward(self, x: Tensor) -> Tensor:
        if self.observer_enabled.array[0] and (not self.learnable or not self._initialised):
            self.activation_post_process(x.detach())
            scale, zp = self.activation_post_process.calculate_qparams()
            self.scale.array = scale.array.reshape(-1).astype(np.float32)
            self.zero_point.array = zp.array.reshape(-1).astype(self.zero_point.dtype)
            self._initialised = True
        if not self.fake_quant_enabled.array[0]:
            return x
        if self.learnable:
            return LearnableFakeQuantizeFunction(self.quant_min, self.quant_max, self.grad_factor)(
                x, self.scale, self.zero_point)
        if self.ch_axis is not None:
            return fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.ch_axis,
                                                    self.quant_min, self.quant_max)
        return fake_quantize_per_tensor_affine(x, float(self.scale.array[0]), int(self.zero_point.array[0]),
                                               self.quant_min, self.quant_max)

    def extra_repr(self) -> str:
        return (f"fake_quant_enabled={int(self.fake_quant_enabled.array[0])}, "
                f"observer_enabled={int(self.observer_enabled.array[0])}, quant_min={self.quant_min}, "
                f"quant_max={self.quant_max}, dtype={self.dtype!r}, qscheme={self.qscheme}")

