"""The error ``minidl.onnx.export`` raises for a layer or an op it cannot write as ONNX."""

from __future__ import annotations

from minidl.errors import MinidlError


class UnsupportedOperatorError(MinidlError, NotImplementedError):
    """A module or op of the traced model has no ONNX converter (PyTorch's ``torch.onnx.errors`` name).

    The message names the op (the minidl ``Function``), the module whose forward ran it (its path in
    ``named_modules()`` and its class), and what is supported.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.module: str | None = None

    def add_module(self, path: str, module_type: str) -> None:
        """Name the innermost module in which the op ran (called once, by that module's wrapper)."""
        if self.module is None:
            self.module = f"'{path}' ({module_type})" if path else f"the model ({module_type})"
            self.args = (f"{self.message} [in module {self.module}]",)

    def __str__(self) -> str:
        return str(self.args[0])
