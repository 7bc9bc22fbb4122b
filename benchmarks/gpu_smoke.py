"""GPU smoke test: check every kernel of both GPU backends against NumPy, then time them.

    python benchmarks/gpu_smoke.py                        # checks, kernel times, workloads W1-W5
    python benchmarks/gpu_smoke.py --check-only           # correctness only
    python benchmarks/gpu_smoke.py --workloads W4 W5 --repeat 5

1. **Checks**: every tiny row of ``minidl/testing/kernel_cases.py`` (each kernel, float32 and float64)
   and the graphs of ``minidl/testing/gpu_op_checks.py`` (through the ops: forward, backward,
   optimizer steps) on ``cupy`` and ``numba-cuda`` against ``NumpyBackend``.
2. **Kernels**: every kernel of the contract at the asv suite's "large" size (the same table),
   float32, best of ``--repeat`` calls, synchronising inside the timed region; NumPy for scale.
3. **Workloads**: one training step of W1-W5 (``workloads.py``) on each GPU backend and, when PyTorch
   with CUDA is installed, on PyTorch CUDA, interleaved round-robin (best of ``--repeat`` rounds).

On a machine without a CUDA device it says why and exits 0. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GPU_BACKENDS = ("cupy", "numba-cuda")


def gpu_backends() -> tuple[list[str], dict[str, str]]:
    """The GPU backends that run here, and for the others the reason they don't."""
    from minidl.backends import BackendUnavailableError, get_backend

    names, reasons = [], {}
    for name in GPU_BACKENDS:
        try:
            backend = get_backend(name)
        except BackendUnavailableError as e:
            reasons[name] = str(e)
            continue
        if not backend.is_gpu:
            reasons[name] = "runs in the CUDA simulator here (NUMBA_ENABLE_CUDASIM is set)"
            continue
        names.append(name)
    return names, reasons


def run_checks(names: list[str]) -> int:
    """Every kernel case on every GPU backend; returns the number of failures."""
    from minidl.backends import get_backend
    from minidl.testing import gpu_op_checks
    from minidl.testing.kernel_cases import CASES, check_case, overridden_kernels

    failures = 0
    for name in names:
        backend = get_backend(name)
        passed = failed = 0
        missing = overridden_kernels(backend) - {c.kernel for c in CASES}
        for kernel in sorted(missing):
            print(f"  FAIL {name} {kernel}: overridden but has no case")
            failed += 1
        for case in CASES:
            for dtype in (np.float32, np.float64):
                try:
                    check_case(backend, case, dtype)
                    passed += 1
                except Exception as e:  # keep going: report every failure
                    failed += 1
                    print(f"  FAIL {name} {case.id} {np.dtype(dtype).name}: {str(e).strip().splitlines()[0]}")
        for fn in gpu_op_checks.CHECKS:  # small graphs through the ops: forward, backward, optimizer steps
            try:
                gpu_op_checks.check(fn, name)
                passed += 1
            except Exception as e:
                failed += 1
                print(f"  FAIL {name} {fn.__name__}: {str(e).strip().splitlines()[0]}")
        print(f"checks {name}: {passed} passed, {failed} failed")
        failures += failed
    return failures


def best_ms(fn: Callable[..., Any], args: tuple, kwargs: dict, sync: Callable[[], None], repeat: int) -> float:
    """Best time of ``fn(*args, **kwargs)`` in ms, waiting for the device inside the timed region."""
    fn(*args, **kwargs)  # warm-up: compilation, allocator
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        sync()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def measure_kernels(names: list[str], repeat: int) -> None:
    from benchmarks.kernel_cases import CASES as KERNEL_CASES
    from minidl.backends import get_backend

    runners = ["numpy", *names]
    print(f"\nkernels, 'large' size, float32, best of {repeat} (ms)")
    print(f"| kernel | {' | '.join(runners)} |")
    print(f"|---|{'---|' * len(runners)}")
    for kernel in sorted(KERNEL_CASES):
        cells = []
        for name in runners:
            backend = get_backend(name)
            try:
                args, kwargs, _ = KERNEL_CASES[kernel]("large", np.random.default_rng(0), np.float32, backend.xp)
                ms = best_ms(getattr(backend, kernel), args, kwargs, backend.synchronize, repeat)
                cells.append(f"{ms:.3f}")
            except Exception as e:  # a kernel that fails to run is reported in the table, not fatal
                cells.append(f"error: {type(e).__name__}")
        print(f"| `{kernel}` | {' | '.join(cells)} |")


def measure_workloads(names: list[str], workloads: list[str], repeat: int) -> None:
    from benchmarks.workloads import minidl_step, torch_step

    runners: list[str] = list(names)
    try:
        import torch

        if torch.cuda.is_available():
            runners.append("torch-cuda")
        else:
            print("\nPyTorch is installed without CUDA: no PyTorch column")
    except ImportError:
        print("\nPyTorch is not installed: no PyTorch column")
    print(f"\nworkloads: ms per training step, best of {repeat} interleaved rounds (ratio to PyTorch CUDA)")
    print(f"| workload | {' | '.join(runners)} |")
    print(f"|---|{'---|' * len(runners)}")
    for workload in workloads:
        steps: dict[str, Callable[[], float]] = {}
        errors: dict[str, str] = {}
        for r in runners:
            try:
                steps[r] = torch_step(workload, device="cuda") if r == "torch-cuda" else minidl_step(workload, r)
                for _ in range(2):  # warm-up; every step ends in loss.item(), which waits for the GPU
                    steps[r]()
            except Exception as e:
                errors[r] = f"error: {type(e).__name__}: {e}"[:80]
                steps.pop(r, None)
        best = {r: float("inf") for r in steps}
        for _ in range(repeat):
            for r, step in steps.items():
                t0 = time.perf_counter()
                step()
                best[r] = min(best[r], (time.perf_counter() - t0) * 1e3)
        ref = best.get("torch-cuda")
        cells = []
        for r in runners:
            if r in errors:
                cells.append(errors[r])
            elif ref and r != "torch-cuda":
                cells.append(f"{best[r]:.2f} ({best[r] / ref:.1f}x)")
            else:
                cells.append(f"{best[r]:.2f}")
        print(f"| {workload} | {' | '.join(cells)} |")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.workloads import WORKLOADS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-only", action="store_true", help="run the correctness checks only")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), help="workloads to time (default: all)")
    parser.add_argument("--repeat", type=int, default=10, help="timed repetitions (best is kept)")
    args = parser.parse_args(argv)

    names, reasons = gpu_backends()
    for name, reason in reasons.items():
        print(f"{name}: not available: {reason}")
    if not names:
        print("no CUDA device for minidl's GPU backends here: nothing to check or time")
        return 0
    failures = run_checks(names)
    if not args.check_only:
        measure_kernels(names, args.repeat)
        measure_workloads(names, args.workloads, args.repeat)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
