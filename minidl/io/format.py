"""The checkpoint format's constants, its error, and the two helpers that reading and writing share.

A checkpoint is a zip archive (numpy's ``.npz``) of stored, uncompressed members::

    header.json   {"format": "minidl-checkpoint", "format_version": 1 or 2, "minidl_version": ...,
                   "tree": <the saved object, arrays replaced by their names>,
                   "arrays": {"a0": {"shape": [...], "dtype": "<f4", "sha256": "..."}, ...}}
    a0.npy        one .npy file per array (numpy's own format, never an object array)
    a1.npy        ...

Format version 2 added module and function nodes to the tree (``minidl.serialization``); a file without
them is still written as version 1, so that an older minidl reads it.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO

import numpy as np

from minidl.errors import MinidlError

FORMAT_NAME = "minidl-checkpoint"
FORMAT_VERSION = 2
HEADER = "header.json"
MAX_HEADER_BYTES = 64 * 2**20  # a model with 100,000 arrays needs about 20 MB
MAX_DEPTH = 100  # nesting levels of the saved object (dicts in lists in modules ...)

FileLike = str | os.PathLike[str] | IO[bytes]


class CheckpointError(MinidlError, ValueError):
    """A file that is not a valid minidl checkpoint (truncated, corrupted, unsafe, wrong version, ...)."""


def contiguous(array: np.ndarray) -> np.ndarray:
    """A C-contiguous version (a copy only if needed; unlike ``np.ascontiguousarray``, 0-d stays 0-d)."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def sha256(array: np.ndarray) -> str:
    """The SHA-256 of an array's bytes in C order (what the header records for each array)."""
    return hashlib.sha256(contiguous(array).reshape(-1).view(np.uint8)).hexdigest()
