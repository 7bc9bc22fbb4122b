"""asv: every kernel of the contract x every backend x (small, large), float32.

Backends that are not installed are skipped (asv treats NotImplementedError in setup as a skip).
GPU backends synchronise inside the timed region.
"""

from __future__ import annotations

import numpy as np

from minidl.backends import BackendUnavailableError, get_backend, known

from .kernel_cases import CASES, SIZES


class Kernels:
    params = (sorted(CASES), known(), list(SIZES))
    param_names = ("kernel", "backend", "size")
    timeout = 120

    def setup(self, kernel: str, backend: str, size: str) -> None:
        try:
            self.backend = get_backend(backend)
        except BackendUnavailableError as e:
            raise NotImplementedError(str(e)) from e
        rng = np.random.default_rng(0)
        self.args, self.kwargs, self.flops = CASES[kernel](size, rng, np.float32, self.backend.xp)
        self.fn = getattr(self.backend, kernel)
        self.fn(*self.args, **self.kwargs)  # warm-up: JIT compilation is reported separately
        self.backend.synchronize()

    def time_kernel(self, kernel: str, backend: str, size: str) -> None:
        self.fn(*self.args, **self.kwargs)
        self.backend.synchronize()

    def peakmem_kernel(self, kernel: str, backend: str, size: str) -> None:
        self.fn(*self.args, **self.kwargs)

    def track_gflops(self, kernel: str, backend: str, size: str) -> float:
        if self.flops is None:
            raise NotImplementedError("no FLOP count defined for this kernel")
        import time

        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            self.fn(*self.args, **self.kwargs)
            self.backend.synchronize()
            best = min(best, time.perf_counter() - t0)
        return self.flops / best / 1e9

    track_gflops.unit = "GFLOP/s"


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
        getattr(self.backend, kernel)(*self.args, **self.kwargs)
