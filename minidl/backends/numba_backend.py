"""The Numba backend: numpy arrays, with ``@njit`` kernels for the hot loops.

It inherits every kernel from the NumPy reference and overrides the ones a compiled loop makes
faster (fused passes instead of numpy's one-pass-per-operation temporaries). The kernels live in
``minidl/backends/numba_kernels/``, one family per module; they compile on first use and are cached
on disk (``cache=True``; ``NUMBA_CACHE_DIR`` chooses where).

Set ``NUMBA_THREADING_LAYER=workqueue`` on small shared machines: the default OpenMP layer
spin-waits and gives 50x outliers there.
"""

from __future__ import annotations

import numba  # noqa: F401  (imported here so a missing package names the `numba` extra)
import numpy as np

from minidl.backends.numba_kernels import softmax as softmax_kernels
from minidl.backends.numpy_backend import NumpyBackend

# Below this many elements, starting worker threads costs more than the kernel saves.
PARALLEL_MIN_SIZE = 1 << 16


def _last_axis(x, axis) -> bool:
    return (x.ndim >= 1 and axis in (-1, x.ndim - 1) and x.dtype in (np.float32, np.float64)
            and x.size >= PARALLEL_MIN_SIZE)


class NumbaBackend(NumpyBackend):
    name = "numba"

    # ---- softmax family: one fused pass per row instead of four numpy passes ----
    def softmax(self, x, axis):
        if not _last_axis(x, axis):
            return super().softmax(x, axis)
        rows = x.reshape(-1, x.shape[-1])
        return softmax_kernels.softmax_rows(rows).reshape(x.shape)

    def log_softmax(self, x, axis):
        if not _last_axis(x, axis):
            return super().log_softmax(x, axis)
        rows = x.reshape(-1, x.shape[-1])
        return softmax_kernels.log_softmax_rows(rows).reshape(x.shape)
