"""Dynamically quantized layers (``torch.ao.nn.quantized.dynamic``): ``Linear``, ``LSTM``."""

from minidl.ao.nn.quantized.dynamic.modules import LSTM, Linear

__all__ = ["LSTM", "Linear"]
