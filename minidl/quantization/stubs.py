"""``QuantStub`` and ``DeQuantStub``: where a model's quantized region starts and ends (PyTorch's eager mode).

In float they are the identity. ``prepare`` gives a ``QuantStub`` an observer of the model's input;
``convert`` replaces it with ``Quantize`` (float -> uint8 with the observed scale and zero point) and the
``DeQuantStub`` with ``DeQuantize`` (back to float32 for the loss or the caller).
"""

from __future__ import annotations

from typing import Any

from minidl.nn.module import Module
from minidl.tensor import Tensor


class QuantStub(Module):
    """Identity in float; becomes ``minidl.ao.nn.quantized.Quantize`` after ``convert``."""

    def __init__(self, qconfig: Any = None) -> None:
        super().__init__()
        if qconfig is not None:
            self.qconfig = qconfig

    def forward(self, x: Tensor) -> Tensor:
        return x


class DeQuantStub(Module):
    """Identity in float; becomes ``minidl.ao.nn.quantized.DeQuantize`` after ``convert``."""

    def __init__(self, qconfig: Any = None) -> None:
        super().__init__()
        if qconfig is not None:
            self.qconfig = qconfig

    def forward(self, x: Any) -> Any:
        return x
