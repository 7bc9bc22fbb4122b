"""PyTorch's ``torch.ao`` ("architecture optimization") paths: ``minidl.ao.quantization`` (the same
module as ``minidl.quantization``) and the quantized layers under ``minidl.ao.nn``."""

from minidl.ao import nn, quantization

__all__ = ["nn", "quantization"]
