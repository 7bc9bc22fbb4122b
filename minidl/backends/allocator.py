"""Keep freed activations in the C heap instead of handing them back to the kernel (glibc, Linux).

Why this file exists: a training step allocates and frees the same large arrays every step
(activations, gradients, temporaries of a few hundred KiB to tens of MiB). glibc's ``malloc`` serves
a block above its *mmap threshold* with a fresh ``mmap`` and returns it with ``munmap`` on ``free``,
and it hands the top of its heap back to the kernel whenever more than the *trim threshold* is free
there. Either way the next step's array lands on pages the kernel has to fault in again, one 4 KiB
page at a time, and on a virtual machine a page fault is expensive. Measured on the development
machine (2-core VM), the W4 training step (char GPT, numba backend) took 87 ms with glibc's defaults
and 44 ms with the two thresholds below, interleaved in one run; PyTorch's own step was unchanged.

So ``import minidl`` sets, once, for the whole process (``mallopt``):

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's largest allowed value): arrays up to 32 MiB come from the heap;
* ``M_TRIM_THRESHOLD`` = 128 MiB: up to 128 MiB of free heap top stays mapped between steps.

The price: a process may keep up to 128 MiB more resident after a large step than it would
otherwise. Set ``MINIDL_MALLOC_TUNING=0`` before importing minidl to keep glibc's defaults. On other
C libraries (macOS, musl, Windows) nothing happens.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024

_applied: bool | None = None


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring). Returns True when both
    were set, False where it does not apply (not glibc, or ``MINIDL_MALLOC_TUNING=0``)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("MINIDL_MALLOC_TUNING", "1") == "0" or not is_glibc():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; setting either threshold also turns off glibc's dynamic threshold.
    ok_mmap = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok_trim = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    _applied = ok_mmap and ok_trim
    return _applied


def is_glibc() -> bool:
    """True when this process runs on GNU libc (``platform.libc_ver`` would say so too, but it reads
    the whole Python binary: 16 ms on every import)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # Windows has no confstr; musl and macOS do not know the name
        return False


def malloc_tuning_applied() -> bool:
    """Whether ``tune_malloc`` changed the thresholds in this process."""
    return bool(_applied)
