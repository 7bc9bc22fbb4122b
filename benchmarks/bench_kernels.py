"""asv: every kernel of the contract x every installed backend x (small, large), float32.

Only the backends installed on the machine are parameters (``minidl.backends.available()``), so asv's
lists never show a backend that could not run as if it had been measured; ``benchmarks/report.py``
lists the others as not installed. GPU backends synchronise inside the timed region.

- ``time_kernel``: one call, after a warm-up call in ``setup`` (JIT compilation is ``JitCompile``'s).
- ``KernelFlops.track_gflops``: FLOPs / best of 5 calls, for the kernels with a FLOP count (GEMM, conv,
  attention); the others are skipped.
- ``track_peak_mib``: the memory one call needs above the warmed-up baseline (Linux): the kernel's
  high-water mark (VmHWM after ``/proc/self/clear_refs``) minus the resident memory before the call.
  asv's own ``peakmem_`` would report the whole process's peak (the Python heap, the libraries, LLVM's
  compilation of the Numba kernels), not the kernel's.
- ``GemmCeiling.track_gemm_gflops``: the machine's measured GEMM ceiling (NumPy's BLAS, float32
  2048 x 2048 x 2048, best of 5), the line the comparison page puts every GFLOP/s beside.
"""

from __future__ import annotations

import ctypes
import gc
import time
from functools import partial
from pathlib import Path

import numpy as np

from minidl.backends import BackendUnavailableError, available, get_backend
from minidl.testing.kernel_cases import bench_case

from .kernel_cases import CASES, SIZES

CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_above_baseline(fn) -> float:
    """MiB that ``fn()`` needs above the process's resident memory just before it (Linux only)."""
    if not CLEAR_REFS.exists():
        raise NotImplementedError("peak memory needs Linux's /proc/self/clear_refs")
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    start = _status_mib("VmRSS")
    CLEAR_REFS.write_text("5")  # the high-water mark starts again from VmRSS
    fn()
    return _status_mib("VmHWM") - start


def _call_case(call, backend, *args):
    return call(backend, list(args))


def _kernel_fn(backend, kernel: str, size: str):
    """The backend's kernel, or for a kernel that takes lists (``foreach_*``) the table row's ``call``, which
    regroups the row's flat arguments."""
    call = bench_case(kernel, size).call
    return getattr(backend, kernel) if call is None else partial(_call_case, call, backend)


def _prepare(bench, kernel: str, backend: str, size: str) -> None:
    """The setup of the kernel benchmarks: backend, inputs, FLOP count, and a warm-up call."""
    try:
        bench.backend = get_backend(backend)
    except BackendUnavailableError as e:
        raise NotImplementedError(str(e)) from e
    rng = np.random.default_rng(0)
    bench.args, bench.kwargs, bench.flops = CASES[kernel](size, rng, np.float32, bench.backend.xp)
    bench.fn = _kernel_fn(bench.backend, kernel, size)
    bench.fn(*bench.args, **bench.kwargs)  # warm-up: JIT compilation is reported separately
    bench.backend.synchronize()


class Kernels:
    params = (sorted(CASES), available(), list(SIZES))
    param_names = ("kernel", "backend", "size")
    timeout = 120

    def setup(self, kernel: str, backend: str, size: str) -> None:
        _prepare(self, kernel, backend, size)

    def time_kernel(self, kernel: str, backend: str, size: str) -> None:
        self.fn(*self.args, **self.kwargs)
        self.backend.synchronize()

    def track_peak_mib(self, kernel: str, backend: str, size: str) -> float:
        if self.backend.is_gpu:
            raise NotImplementedError("host memory only: a GPU kernel's memory is on the device")
        return peak_above_baseline(lambda: self.fn(*self.args, **self.kwargs))

    track_peak_mib.unit = "MiB"


class KernelFlops:
    """GFLOP/s of the kernels with a FLOP count; the others are skipped in ``setup`` (asv counts a
    NotImplementedError raised in a ``track_`` method as a failure, in ``setup`` as a skip)."""

    params = Kernels.params
    param_names = Kernels.param_names
    timeout = 120

    def setup(self, kernel: str, backend: str, size: str) -> None:
        if CASES[kernel](size, np.random.default_rng(0), np.float32, np)[2] is None:
            raise NotImplementedError(f"no FLOP count defined for {kernel}")
        _prepare(self, kernel, backend, size)

    def track_gflops(self, kernel: str, backend: str, size: str) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            self.fn(*self.args, **self.kwargs)
            self.backend.synchronize()
            best = min(best, time.perf_counter() - t0)
        return self.flops / best / 1e9

    track_gflops.unit = "GFLOP/s"


class GemmCeiling:
    """What this machine's BLAS reaches on a large float32 product: the roof for every GFLOP/s."""

    def setup(self) -> None:
        rng = np.random.default_rng(0)
        self.a, self.b = (rng.standard_normal((2048, 2048), dtype=np.float32) for _ in range(2))
        self.a @ self.b  # warm-up: thread pool start, page faults of the output

    def track_gemm_gflops(self) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            self.a @ self.b
            best = min(best, time.perf_counter() - t0)
        return 2 * 2048**3 / best / 1e9

    track_gemm_gflops.unit = "GFLOP/s"


class JitCompile:
    """First-call cost of the Numba kernels (compile or load from the on-disk cache)."""

    params = (sorted(CASES),)
    param_names = ("kernel",)
    number = 1
    repeat = 1

    def setup(self, kernel: str) -> None:
        try:
            self.backend = get_backend("numba")
        except BackendUnavailableError as e:
            raise NotImplementedError(str(e)) from e
        self.args, self.kwargs, _ = CASES[kernel]("small", np.random.default_rng(0), np.float32, np)

    def time_first_call(self, kernel: str) -> None:
        _kernel_fn(self.backend, kernel, "small")(*self.args, **self.kwargs)
