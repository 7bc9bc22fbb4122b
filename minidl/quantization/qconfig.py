"""QConfig: which observers (or fake-quantizers) a layer's activations and weights get.

``QConfig(activation=factory, weight=factory)``: each field builds a fresh observer per layer
(``MinMaxObserver.with_args(...)``), as in PyTorch. Set ``model.qconfig`` before ``prepare``; children
inherit it, and ``qconfig = None`` keeps a child in float.

The defaults (``get_default_qconfig("x86")``) are PyTorch's with two differences, both because minidl's
int8 kernels accumulate in int32 with no 16-bit intermediate: activations use the full 8 bits
(``reduce_range=False``; fbgemm drops one bit to avoid a saturation in its AVX2 instruction), and the
activation observer is ``MinMaxObserver`` (PyTorch: ``HistogramObserver``; ``PercentileObserver`` is
minidl's outlier-robust choice). Weights: int8, symmetric, per output channel.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minidl.quantization.fake_quantize import FakeQuantize
from minidl.quantization.observer import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from minidl.quantization.qtensor import per_channel_symmetric, per_tensor_symmetric, qint8, quint8


class QConfig(NamedTuple):
    activation: Any
    weight: Any


default_weight_observer = MinMaxObserver.with_args(dtype=qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(dtype=qint8, qscheme=per_channel_symmetric)
default_qconfig = QConfig(activation=MinMaxObserver.with_args(dtype=quint8),
                          weight=default_per_channel_weight_observer)
#: dynamic quantization: activations are quantized per batch at run time, so only the weights are observed
default_dynamic_qconfig = QConfig(activation=None, weight=default_per_channel_weight_observer)
per_channel_dynamic_qconfig = default_dynamic_qconfig
default_qat_qconfig = QConfig(
    activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, dtype=quint8),
    weight=FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, dtype=qint8,
                                  qscheme=per_channel_symmetric))


def get_default_qconfig(backend: str = "x86") -> QConfig:
    """The post-training static qconfig (``backend``: "x86", "fbgemm", "qnnpack" or "onednn": one config)."""
    if backend not in ("x86", "fbgemm", "qnnpack", "onednn"):
        raise ValueError(f"get_default_qconfig: unknown backend {backend!r}; expected 'x86', 'fbgemm', "
                         "'qnnpack' or 'onednn'")
    return default_qconfig


def get_default_qat_qconfig(backend: str = "x86", learnable: bool = False) -> QConfig:
    """The QAT qconfig: moving-average fake-quantizers; ``learnable=True``: the activations' scale is learned."""
    get_default_qconfig(backend)
    if not learnable:
        return default_qat_qconfig
    return QConfig(activation=FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, dtype=quint8,
                                                     learnable=True),
                   weight=default_qat_qconfig.weight)
