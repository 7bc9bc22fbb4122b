"""Static int8 layers (``torch.ao.nn.quantized``): ``Linear``, ``Conv2d``, ``Quantize``, ``DeQuantize``, and
``ReLU``, ``MaxPool2d``, ``Flatten`` on quantized tensors (minidl's float layers do not take a ``QTensor``,
so ``convert`` swaps these in; PyTorch's float ReLU and pooling accept quantized tensors instead)."""

from minidl.ao.nn.quantized import dynamic, functional
from minidl.ao.nn.quantized.modules import Conv2d, DeQuantize, Flatten, Linear, MaxPool2d, Quantize, ReLU

__all__ = ["Conv2d", "DeQuantize", "Flatten", "Linear", "MaxPool2d", "Quantize", "ReLU", "dynamic", "functional"]
