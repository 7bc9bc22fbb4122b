"""The Numba-CUDA backend: ``@cuda.jit`` kernels written in Python, on CuPy arrays.

The kernels (``minidl/backends/cuda_kernels/``) are the Python twins of the CUDA C sources in
``kernels/*.cu``: same algorithm, same thread layout. Arrays are CuPy arrays (``xp = cupy``); Numba
launches its kernels on them through ``__cuda_array_interface__``, without copies. Every kernel this
backend does not override comes from the NumPy reference, run by CuPy on the GPU.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported) the same
kernels run on the CPU, one Python thread per GPU thread, on plain NumPy arrays: the backend then
uses ``xp = numpy``. That is how the kernels are tested without a GPU (slowly: keep shapes tiny).

Nothing here touches the GPU at import time; the device is looked for when the backend is built.
"""

from __future__ import annotations

from typing import Any

import numpy
from numba import cuda  # at import, so that a missing numba names the `cuda` extra

from minidl.backends.cuda_kernels import softmax as softmax_kernels
from minidl.backends.cuda_kernels._common import SIMULATED
from minidl.backends.numpy_backend import NumpyBackend
from minidl.errors import BackendUnavailableError


def _float(x: Any) -> bool:
    return x.dtype in (numpy.float32, numpy.float64) and x.size > 0


class NumbaCudaBackend(NumpyBackend):
    name = "numba-cuda"
    is_gpu = not SIMULATED

    def __init__(self) -> None:
        if SIMULATED:
            self.xp = numpy  # the simulator runs kernels on host arrays
            return
        if not cuda.is_available():
            raise BackendUnavailableError(
                "backend 'numba-cuda': Numba is installed but no CUDA device is available "
                "(numba.cuda.is_available() is False); check the NVIDIA driver, or use 'numpy' or 'numba'"
            )
        try:
            import cupy
        except ModuleNotFoundError as e:
            raise BackendUnavailableError(
                "backend 'numba-cuda' keeps its arrays in CuPy: pip install 'minidl[cuda,cupy]'"
            ) from e
        self.xp = cupy

    # ---- array helpers ----
    def to_numpy(self, array: Any) -> numpy.ndarray:
        return numpy.asarray(array) if self.xp is numpy else self.xp.asnumpy(array)

    def synchronize(self) -> None:
        if not SIMULATED:
            cuda.synchronize()

    def _rows(self, x: Any, axis: int) -> Any | None:
        """``x`` as a C-contiguous (rows, last axis) array, or None when the row kernels don't apply."""
        if x.ndim == 0 or not _float(x) or axis not in (-1, x.ndim - 1):
            return None
        return self.xp.ascontiguousarray(x).reshape(-1, x.shape[-1])

    # ---- softmax family ----
    def _softmax(self, x: Any, axis: int, log: bool) -> Any | None:
        rows = self._rows(x, axis)
        if rows is None:
            return None
        out = self.xp.empty_like(rows)
        softmax_kernels.softmax_rows(rows, out, log)
        return out.reshape(x.shape)

    def softmax(self, x, axis):
        out = self._softmax(x, axis, log=False)
        return super().softmax(x, axis) if out is None else out

    def log_softmax(self, x, axis):
        out = self._softmax(x, axis, log=True)
        return super().log_softmax(x, axis) if out is None else out
