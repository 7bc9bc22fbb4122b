"""The CuPy backend: CuPy arrays on an NVIDIA GPU, with hand-written CUDA C kernels for the hot loops.

Every kernel of the NumPy reference is written with ``self.xp``, so with ``xp = cupy`` this backend
inherits a working GPU version of each one (CuPy runs the same array expressions on the device;
``matmul`` goes to cuBLAS). It overrides the kernels where a fused CUDA C kernel does better: one
pass over memory instead of one per NumPy operation, and no temporaries.

The CUDA C sources live in ``kernels/*.cu`` (``minidl/_kernels`` in a wheel). They are compiled at
run time by NVRTC through ``cupy.RawModule`` the first time a kernel is used, then cached (CuPy also
keeps compiled kernels on disk). Each source exports ``<kernel>_f32`` and ``<kernel>_f64``.

Nothing here touches the GPU at import time: ``import cupy`` only loads the package (a missing
package then reads ``pip install 'minidl[cupy]'``), and the device is looked for when the backend is
constructed (``cupy.is_available()`` never allocates).
"""

from __future__ import annotations

from typing import Any

import cupy  # at import, so that a missing package names the `cupy` extra (see backends/__init__.py)
import numpy

from minidl.backends.numpy_backend import NumpyBackend
from minidl.errors import BackendUnavailableError
from minidl.kernel_files import kernel_dir, kernel_source

#: threads per block for the row kernels (one block per row): a multiple of 32, at most 1024
ROW_THREADS = 256


def row_threads(n_cols: int) -> int:
    """Threads for a one-block-per-row kernel: enough 32-thread warps to cover the row, at most ROW_THREADS."""
    return min(ROW_THREADS, 32 * max(1, -(-n_cols // 32)))


def _suffix(dtype: Any) -> str | None:
    """``"f32"``/``"f64"`` for the dtypes the CUDA C kernels are compiled for, else None (use the reference)."""
    return {numpy.dtype(numpy.float32): "f32", numpy.dtype(numpy.float64): "f64"}.get(numpy.dtype(dtype))


class CupyBackend(NumpyBackend):
    name = "cupy"
    xp = cupy
    is_gpu = True

    def __init__(self) -> None:
        if not cupy.is_available():
            raise BackendUnavailableError(
                "backend 'cupy': CuPy is installed but no CUDA device is available (cupy.is_available() is False); "
                "check the NVIDIA driver and CUDA_VISIBLE_DEVICES, or use the 'numpy' or 'numba' backend"
            )
        self._modules: dict[str, Any] = {}
        self._functions: dict[str, Any] = {}

    # ---- array helpers ----
    def to_numpy(self, array: Any) -> numpy.ndarray:
        return cupy.asnumpy(array)

    def synchronize(self) -> None:
        cupy.cuda.get_current_stream().synchronize()

    # ---- compiling and launching the CUDA C kernels ----
    def kernel(self, source: str, name: str) -> Any:
        """The ``cupy.RawKernel`` ``name`` from ``kernels/<source>``, compiled on first use and cached."""
        function = self._functions.get(f"{source}:{name}")
        if function is None:
            module = self._modules.get(source)
            if module is None:
                options = ("-std=c++17", f"--include-path={kernel_dir()}")
                module = self._modules[source] = cupy.RawModule(code=kernel_source(source), options=options)
            function = self._functions[f"{source}:{name}"] = module.get_function(name)
        return function

    def _rows(self, x: Any, axis: int) -> Any | None:
        """``x`` as a C-contiguous (rows, last axis) float32/float64 array, or None when the kernels don't apply."""
        if x.ndim == 0 or x.size == 0 or axis not in (-1, x.ndim - 1) or _suffix(x.dtype) is None:
            return None
        return cupy.ascontiguousarray(x).reshape(-1, x.shape[-1])

    # ---- softmax family: one block per row, max/sum reductions in registers and shared memory ----
    def _softmax_rows(self, x: Any, axis: int, which: str) -> Any | None:
        rows = self._rows(x, axis)
        if rows is None:
            return None
        out = cupy.empty_like(rows)
        n, d = rows.shape
        self.kernel("softmax.cu", f"{which}_{_suffix(x.dtype)}")((n,), (row_threads(d),), (rows, out, numpy.int32(d)))
        return out.reshape(x.shape)

    def softmax(self, x, axis):
        out = self._softmax_rows(x, axis, "softmax")
        return super().softmax(x, axis) if out is None else out

    def log_softmax(self, x, axis):
        out = self._softmax_rows(x, axis, "log_softmax")
        return super().log_softmax(x, axis) if out is None else out
