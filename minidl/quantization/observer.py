"""Observers: modules that watch the values flowing through a layer and choose its (scale, zero point).

An observer is called on a Tensor, records a statistic and returns the Tensor unchanged. From the range
[lo, hi] it saw (widened to contain 0, so that 0 is exact) it computes, for integers in [q_min, q_max]:

    affine:     s = (hi - lo) / (q_max - q_min),        z = q_min - round(lo / s)  (clamped into the range)
    symmetric:  s = max(-lo, hi) / ((q_max - q_min) / 2),  z = 0 (qint8) or 128 (quint8)

with s at least float32's eps. Symmetric ranges suit weights (centred on 0; z = 0 lets the int8 product
skip the zero point); affine ranges suit activations (after a ReLU everything is >= 0 and no code is
wasted on negatives). These are PyTorch's rules, to the float32 rounding (``torch.ao.quantization.observer``).

* ``MinMaxObserver``: the running min and max of everything seen.
* ``MovingAverageMinMaxObserver``: an exponential moving average of each batch's min and max (QAT).
* ``PerChannelMinMaxObserver`` / ``MovingAveragePerChannelMinMaxObserver``: the same per slice of ``ch_axis``.
* ``PercentileObserver`` (minidl's own; PyTorch's ``HistogramObserver`` searches a histogram for the range
  of least L2 error instead): the mean over batches of the ``percentile``-th and ``100 - percentile``-th
  percentiles, which ignores the rare outliers that stretch a min-max range.

>>> import minidl
>>> from minidl.quantization import MinMaxObserver
>>> obs = MinMaxObserver()
>>> _ = obs(minidl.tensor([-1.0, 0.5, 3.0]))
>>> scale, zero_point = obs.calculate_qparams()
>>> round(scale.item(), 6), zero_point.item()
(0.015686, 64)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from minidl.nn.module import Module
from minidl.quantization.qtensor import (
    QDtype,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qrange,
    quint8,
)
from minidl.tensor import Tensor

EPS = np.float32(np.finfo(np.float32).eps)


def calculate_qparams(lo: np.ndarray, hi: np.ndarray, qmin: int, qmax: int, symmetric: bool,
                      dtype: QDtype) -> tuple[np.ndarray, np.ndarray]:
    """(scale float32, zero_point int64) arrays for the ranges [lo, hi] (same shapes), PyTorch's rule."""
    lo = np.minimum(lo, np.float32(0)).astype(np.float32)
    hi = np.maximum(hi, np.float32(0)).astype(np.float32)
    if symmetric:
        scale = np.maximum(np.maximum(-lo, hi) / np.float32((qmax - qmin) / 2), EPS)
        zero_point = np.full(lo.shape, 128 if dtype.qmin == 0 else 0, dtype=np.int64)
    else:
        scale = np.maximum((hi - lo) / np.float32(qmax - qmin), EPS)
        zero_point = np.clip(qmin - np.rint(lo / scale).astype(np.int64), qmin, qmax)
    return scale.astype(np.float32), zero_point.astype(np.int64)


class ObserverBase(Module):
    """What every observer shares: dtype, scheme, range; ``with_args`` makes a factory (PyTorch's)."""

    def __init__(self, dtype: QDtype = quint8, qscheme: str = per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None) -> None:
        super().__init__()
        self.dtype, self.qscheme, self.reduce_range = dtype, qscheme, reduce_range
        lo, hi = qrange(dtype, reduce_range)
        self.quant_min = lo if quant_min is None else quant_min
        self.quant_max = hi if quant_max is None else quant_max
        if not lo <= self.quant_min < self.quant_max <= hi and quant_min is not None:
            raise ValueError(f"{type(self).__name__}: quant range [{self.quant_min}, {self.quant_max}] is not "
                             f"inside {dtype.name}'s [{lo}, {hi}]")
        self.register_buffer("min_val", Tensor(np.array(np.inf, np.float32)))
        self.register_buffer("max_val", Tensor(np.array(-np.inf, np.float32)))

    @classmethod
    def with_args(cls, **kwargs: Any) -> Any:
        """A factory that builds this observer with ``kwargs`` (``MinMaxObserver.with_args(dtype=qint8)``)."""
        return functools.partial(cls, **kwargs)

    @property
    def symmetric(self) -> bool:
        return self.qscheme in (per_tensor_symmetric, per_channel_symmetric)

    def _update(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.min_val.array = np.minimum(self.min_val.array, lo).astype(np.float32)
        self.max_val.array = np.maximum(self.max_val.array, hi).astype(np.float32)

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.float32(x.min()), np.float32(x.max())

    def forward(self, x: Tensor) -> Tensor:
        if x.numel() == 0:
            return x
        lo, hi = self._stats(x.backend.to_numpy(x.detach().array).astype(np.float32))
        self._update(lo, hi)
        return x

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """(scale, zero_point) Tensors: shape () per tensor, (C,) per channel."""
        lo, hi = self.min_val.numpy(), self.max_val.numpy()
        if not np.all(np.isfinite(lo)):
            raise RuntimeError(f"{type(self).__name__}.calculate_qparams: the observer has seen no data yet "
                               "(run calibration batches through the prepared model first)")
        scale, zp = calculate_qparams(lo, hi, self.quant_min, self.quant_max, self.symmetric, self.dtype)
        return Tensor(scale), Tensor(zp)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val.numpy()}, max_val={self.max_val.numpy()}"


class MinMaxObserver(ObserverBase):
    """Range = the min and max of every value seen; per tensor."""


class MovingAverageMinMaxObserver(ObserverBase):
    """Range = moving averages: lo <- lo + c (batch_min - lo) after the first batch (c = averaging_constant)."""

    def __init__(self, averaging_constant: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.averaging_constant = averaging_constant

    def _update(self, lo: np.ndarray, hi: np.ndarray) -> None:
        if not np.all(np.isfinite(self.min_val.array)):
            self.min_val.array, self.max_val.array = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
            return
        c = np.float32(self.averaging_constant)
        self.min_val.array = (self.min_val.array + c * (lo - self.min_val.array)).astype(np.float32)
        self.max_val.array = (self.max_val.array + c * (hi - self.max_val.array)).astype(np.float32)


class PerChannelMinMaxObserver(ObserverBase):
    """Min and max per index of ``ch_axis`` (the output channels of a weight)."""

    def __init__(self, ch_axis: int = 0, dtype: QDtype = quint8, qscheme: str = per_channel_affine,
                 **kwargs: Any) -> None:
        super().__init__(dtype=dtype, qscheme=qscheme, **kwargs)
        self.ch_axis = ch_axis

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.moveaxis(x, self.ch_axis, 0).reshape(x.shape[self.ch_axis], -1)
        return rows.min(axis=1), rows.max(axis=1)


class MovingAveragePerChannelMinMaxObserver(MovingAverageMinMaxObserver, PerChannelMinMaxObserver):
    """Per-channel moving averages of the min and max (the weights' observer in QAT)."""

    def __init__(self, averaging_constant: float = 0.01, ch_axis: int = 0, dtype: QDtype = quint8,
                 qscheme: str = per_channel_affine, **kwargs: Any) -> None:
        PerChannelMinMaxObserver.__init__(self, ch_axis=ch_axis, dtype=dtype, qscheme=qscheme, **kwargs)
        self.averaging_constant = averaging_constant


class PercentileObserver(ObserverBase):
    """Range = the mean over batches of the p-th and (100 - p)-th percentiles (minidl's own observer)."""

    def __init__(self, percentile: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.percentile, self.batches = percentile, 0

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.percentile(x, [self.percentile, 100 - self.percentile])
        return np.float32(lo), np.float32(hi)

    def _update(self, lo: np.ndarray, hi: np.ndarray) -> None:
        n, self.batches = self.batches, self.batches + 1
        if n == 0:
            self.min_val.array, self.max_val.array = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
            return
        self.min_val.array = ((self.min_val.array * n + lo) / (n + 1)).astype(np.float32)
        self.max_val.array = ((self.max_val.array * n + hi) / (n + 1)).astype(np.float32)
