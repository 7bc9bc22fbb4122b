"""dtypes under PyTorch's names: ``minidl.float32`` (``minidl.float``), ``minidl.int64`` (``minidl.long``), ...

minidl's dtypes are NumPy's, so ``tensor.dtype == minidl.float32`` and ``tensor.dtype == np.float32``
both hold. This module shadows Python's ``float``, ``int``, ``bool`` with dtypes on purpose (as
``torch.float`` does); nothing below uses the builtins.
"""

import numpy as np

float32 = float = np.float32  # noqa: A001
float64 = double = np.float64
float16 = half = np.float16
int64 = long = np.int64
int32 = int = np.int32  # noqa: A001
int16 = short = np.int16
int8 = np.int8
uint8 = np.uint8
bool_ = bool = np.bool_  # noqa: A001
complex64 = cfloat = np.complex64
complex128 = cdouble = np.complex128

__all__ = ["bool", "bool_", "cdouble", "cfloat", "complex128", "complex64", "double", "float", "float16",
           "float32", "float64", "half", "int", "int16", "int32", "int64", "int8", "long", "short", "uint8"]
