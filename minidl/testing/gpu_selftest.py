"""Check every kernel of a GPU backend against the NumPy reference; exit 1 on any mismatch.

Without a GPU, run the Numba-CUDA kernels in Numba's CUDA simulator (CI does this)::

    NUMBA_ENABLE_CUDASIM=1 python -m minidl.testing.gpu_selftest

On a GPU machine, ``--backend cupy`` or ``--backend numba-cuda`` checks the real thing. The last
line reads ``selftest <backend>: N passed, M failed``. It runs the tiny rows of the kernel table
(``kernel_cases.py``) and fails when a kernel the backend overrides has no row there (every override
must be checked). Under the simulator it also runs ``cuda_launcher_checks.py``: every Numba-CUDA
launcher against independent NumPy formulas. Last, ``gpu_op_checks.py`` runs small graphs through
minidl's ops (forward, backward, optimizer steps).

It lives in ``minidl.testing``, above the ops, because it drives them: nothing under
``minidl/backends/`` imports ``minidl.ops``, ``minidl.nn`` or ``minidl.optim``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba-cuda", help="backend to check (default: numba-cuda)")
    parser.add_argument("-k", dest="only", default="", help="only cases whose id contains this text")
    args = parser.parse_args(argv)

    from minidl.backends import get_backend
    from minidl.testing.kernel_cases import CASES, check_case, overridden_kernels

    backend = get_backend(args.backend)
    passed = failed = 0
    missing = overridden_kernels(backend) - {c.kernel for c in CASES}
    for name in sorted(missing):
        print(f"FAIL {name}: overridden by {backend.name} but has no row in minidl/testing/kernel_cases.py")
        failed += 1
    for case in CASES:
        if args.only not in case.id:
            continue
        for dtype in (np.float32, np.float64):
            start = time.perf_counter()
            try:
                check_case(backend, case, dtype)
            except Exception:  # report every failure, keep going
                failed += 1
                print(f"FAIL {case.id} {np.dtype(dtype).name}\n{traceback.format_exc()}")
            else:
                passed += 1
                print(f"ok   {case.id} {np.dtype(dtype).name} ({time.perf_counter() - start:.2f} s)")
    from minidl.testing import gpu_op_checks

    for fn in gpu_op_checks.CHECKS:
        if args.only not in fn.__name__:
            continue
        start = time.perf_counter()
        try:
            gpu_op_checks.check(fn, backend.name)
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}")
        else:
            passed += 1
            print(f"ok   {fn.__name__} through the ops ({time.perf_counter() - start:.2f} s)")

    from minidl.backends.cuda_kernels._common import SIMULATED

    if SIMULATED and backend.name == "numba-cuda":
        from minidl.testing.cuda_launcher_checks import CHECKS

        for check in CHECKS:
            if args.only not in check.__name__:
                continue
            start = time.perf_counter()
            try:
                check(np.random.default_rng(0))
            except Exception:
                failed += 1
                print(f"FAIL {check.__name__}\n{traceback.format_exc()}")
            else:
                passed += 1
                print(f"ok   {check.__name__} ({time.perf_counter() - start:.2f} s)")
    print(f"selftest {backend.name}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
