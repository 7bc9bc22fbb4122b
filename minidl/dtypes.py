"""dtypes under PyTorch's names: ``minidl.float32`` (``minidl.float``), ``minidl.int64`` (``minidl.long``), ...

minidl's dtypes are NumPy's, so ``tensor.dtype == minidl.float32`` and ``tensor.dtype == np.float32``
both hold. This module shadows Python's ``float``, ``int``, ``bool`` with dtypes on purpose (as
``torch.float`` does); nothing below uses the builtins.

``minidl.bfloat16`` is the ``ml_dtypes`` package's NumPy dtype (the one JAX uses): 1 sign bit, the
8 exponent bits of float32 and 7 mantissa bits, i.e. float32 with its low 16 bits cut off (rounded to
nearest even). It spans float32's range (no overflow where float32 has none) with about 3 significant
decimal digits; float16 keeps 5 exponent bits (largest 65504) and 10 mantissa bits.

NumPy does not count bfloat16 as a floating kind (its ``dtype.kind`` is ``"V"``), and ml_dtypes promotes
it differently from PyTorch, so minidl asks two questions here instead of reading ``kind``:
``is_floating_point(dtype)`` and ``promote_types(a, b)`` (PyTorch's rules).
"""

import builtins

import ml_dtypes
import numpy as np

float32 = float = np.float32  # noqa: A001
float64 = double = np.float64
float16 = half = np.float16
bfloat16 = ml_dtypes.bfloat16
int64 = long = np.int64
int32 = int = np.int32  # noqa: A001
int16 = short = np.int16
int8 = np.int8
uint8 = np.uint8
bool_ = bool = np.bool_  # noqa: A001
complex64 = cfloat = np.complex64
complex128 = cdouble = np.complex128

BFLOAT16 = np.dtype(bfloat16)
LOW_PRECISION = (np.dtype(np.float16), BFLOAT16)  # the two 16-bit floats autocast computes in


def is_floating_point(dtype: object) -> builtins.bool:
    """True for float16/bfloat16/float32/float64 (``torch.is_floating_point`` asks the same of a tensor)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype == BFLOAT16


def dtype_to_str(dtype: object) -> str:
    """A dtype as checkpoints record it: NumPy's ``dtype.str`` ("<f4"), or "bfloat16" (whose ``str`` is "|V2",
    raw 2-byte records that would load as such)."""
    dtype = np.dtype(dtype)
    return "bfloat16" if dtype == BFLOAT16 else dtype.str


def dtype_from_str(name: str) -> np.dtype:
    """The inverse of ``dtype_to_str``."""
    return BFLOAT16 if name == "bfloat16" else np.dtype(name)


def storage_dtype(dtype: object) -> np.dtype:
    """The dtype a .npy file holds ``dtype``'s bytes as: uint16 for bfloat16 (NumPy's format has no bfloat16)."""
    dtype = np.dtype(dtype)
    return np.dtype("<u2") if dtype == BFLOAT16 else dtype


def promote_types(a: object, b: object) -> np.dtype:
    """PyTorch's ``torch.promote_types`` for two dtypes: NumPy's, except for bfloat16.

    bfloat16 with an integer or bool gives bfloat16 (NumPy: float64), with float16 gives float32 (neither
    16-bit float holds the other), with float32/float64 the wider float; complex wins over every float.

    >>> import minidl
    >>> minidl.promote_types(minidl.bfloat16, minidl.float16)
    dtype('float32')
    >>> minidl.promote_types(minidl.bfloat16, minidl.int64)
    dtype(bfloat16)
    """
    a, b = np.dtype(a), np.dtype(b)
    if a == b or (a != BFLOAT16 and b != BFLOAT16):
        return np.promote_types(a, b)
    other = b if a == BFLOAT16 else a
    if other.kind in "biu":
        return BFLOAT16
    if other == np.float16:
        return np.dtype(np.float32)
    return other  # float32, float64, complex


__all__ = ["bfloat16", "bool", "bool_", "cdouble", "cfloat", "complex128", "complex64", "double", "float", "float16",
           "float32", "float64", "half", "int", "int16", "int32", "int64", "int8", "is_floating_point", "long",
           "promote_types", "short", "uint8"]
