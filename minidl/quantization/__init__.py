"""int8 quantization with PyTorch's eager-mode API (``torch.ao.quantization``; also ``minidl.ao.quantization``).

* quantized tensors: ``quantize_per_tensor``, ``quantize_per_channel``, ``dequantize``, ``QTensor``, ``qint8``,
  ``quint8``, ``qint32``;
* observers: ``MinMaxObserver``, ``MovingAverageMinMaxObserver``, ``PerChannelMinMaxObserver``,
  ``MovingAveragePerChannelMinMaxObserver``, ``PercentileObserver``;
* ``QConfig``, ``get_default_qconfig``, ``get_default_qat_qconfig``, ``default_dynamic_qconfig``;
* ``QuantStub``, ``DeQuantStub``, ``fuse_modules``, ``prepare``, ``convert``, ``prepare_qat``, ``quantize_dynamic``;
* QAT: ``FakeQuantize`` (straight-through estimator; ``learnable=True`` learns the scale),
  ``fake_quantize_per_tensor_affine``, ``fake_quantize_per_channel_affine``.

The quantized layers live at PyTorch's paths: ``minidl.ao.nn.quantized`` (static), ``.dynamic``,
``minidl.ao.nn.intrinsic`` (fused), ``minidl.ao.nn.qat``. The int8 products run the ``int8_matmul`` kernel
of the backend (``kernels/README.md``, "Quantized (int8)"). See the Learn page "Making models smaller".
"""

from minidl.quantization.fake_quantize import (
    FakeQuantize,
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
)
from minidl.quantization.observer import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PercentileObserver,
    PerChannelMinMaxObserver,
)
from minidl.quantization.qconfig import (
    QConfig,
    default_dynamic_qconfig,
    default_per_channel_weight_observer,
    default_qat_qconfig,
    default_qconfig,
    default_weight_observer,
    get_default_qat_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)
from minidl.quantization.qtensor import (
    QDtype,
    QTensor,
    dequantize,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from minidl.quantization.quantize import (
    convert,
    fuse_modules,
    get_default_dynamic_quant_module_mappings,
    get_default_qat_module_mappings,
    get_default_static_quant_module_mappings,
    prepare,
    prepare_qat,
    quantize_dynamic,
)
from minidl.quantization.stubs import DeQuantStub, QuantStub

__all__ = [
    "DeQuantStub", "FakeQuantize", "MinMaxObserver", "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver", "PerChannelMinMaxObserver", "PercentileObserver", "QConfig", "QDtype",
    "QTensor", "QuantStub", "convert", "default_dynamic_qconfig", "default_per_channel_weight_observer",
    "default_qat_qconfig", "default_qconfig", "default_weight_observer", "dequantize",
    "fake_quantize_per_channel_affine", "fake_quantize_per_tensor_affine", "fuse_modules",
    "get_default_dynamic_quant_module_mappings", "get_default_qat_module_mappings", "get_default_qat_qconfig",
    "get_default_static_quant_module_mappings", "get_default_qconfig", "per_channel_affine",
    "per_channel_dynamic_qconfig", "per_channel_symmetric", "per_tensor_affine", "per_tensor_symmetric", "prepare",
    "prepare_qat", "qint32", "qint8", "quantize_dynamic", "quantize_per_channel", "quantize_per_tensor", "quint8",
]
