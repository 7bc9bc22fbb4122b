"""Layers for quantization, at PyTorch's paths: ``quantized`` (static int8), ``quantized.dynamic``,
``intrinsic`` (fused float pairs such as Linear + ReLU), ``intrinsic.quantized``, ``qat`` and ``intrinsic.qat``."""

from minidl.ao.nn import intrinsic, qat, quantized
from minidl.ao.nn.intrinsic import qat as _intrinsic_qat  # noqa: F401  (minidl.ao.nn.intrinsic.qat)
from minidl.ao.nn.intrinsic import quantized as _intrinsic_quantized  # noqa: F401

__all__ = ["intrinsic", "qat", "quantized"]
