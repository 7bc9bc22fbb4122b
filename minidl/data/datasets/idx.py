"""The IDX file format of MNIST and Fashion-MNIST: a tiny header, then one big array.

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00                         magic, part 1
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the size of each dimension, uint32
    the rest    the values, row-major, big-endian

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 60000 | 28 | 28`` and then holds
60000*28*28 bytes. Files may be gzipped (``.gz``); :func:`read_idx` detects that from the content.

>>> import numpy as np
>>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
>>> bool((parse_idx(idx_bytes(a)) == a).all())
True
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from minidl.data.cache import DataFormatError, atomic_write_bytes

__all__ = ["idx_bytes", "parse_idx", "read_idx", "write_idx"]

# IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file; ``name`` is used in error messages."""
    if len(data) < 4:
        raise DataFormatError(f"{name}: {len(data)} bytes is too short for an IDX header (truncated file?)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_DTYPES:
        raise DataFormatError(f"{name}: bad IDX magic number {data[:4].hex()} (expected 0000 then a type code in "
                              f"{sorted(hex(c) for c in IDX_DTYPES)} and the number of dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{name}: the file ends inside its header ({len(data)} of {header} bytes; truncated)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    # math.prod on Python ints is exact: np.prod in int64 wraps around (4 dims of 65536 give 2**64 -> 0),
    # and a wrapped size would let a tiny file pass this check and fail later inside numpy.
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataFormatError(f"{name}: header says shape {shape} of {dtype.name} ({expected} bytes in all) but the "
                              f"file holds {len(data)} bytes: it is {what}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order (a copy we own, writable)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzipped, checking its header against its size."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataFormatError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return parse_idx(raw, str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the IDX format (the inverse of :func:`parse_idx`)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"idx_bytes: dtype {array.dtype} has no IDX type code")
    code = _CODES[native]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzipped when ``compress`` is True (default: when the name ends in .gz).

    Written to a temporary file renamed over ``path`` (``atomic_write_bytes``): a reader never sees half a file,
    and a symbolic link at ``path`` is replaced, never written through (the test suite links the user's real
    data sets into its own cache; writing through a link overwrote the user's MNIST)."""
    data = idx_bytes(array)
    if compress if compress is not None else str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)
