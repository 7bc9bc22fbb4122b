"""Layers for quantization, at PyTorch's paths: ``quantized`` (static int8), ``quantized.dynamic``,
``intrinsic`` (fused float pairs such as Linear + ReLU), ``intrinsic.quantized``, ``qat`` and ``intrinsic.qat``."""
