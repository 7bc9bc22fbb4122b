"""How close a minidl training step comes to its GEMM ceiling (issue 16).

The ceiling of a step is the time NumPy's sgemm (OpenBLAS) takes for the same matrix products, on the same
shapes and memory layouts, with nothing else around them. The script records every ``backend.matmul`` call of
one step (shapes, dtypes, whether each operand is C-ordered or a transposed view), times those products alone
(median of ``--repeat``), times the whole step (median of ``--steps``), and prints the FLOPs of the step, both
rates, and the fraction ``ceiling / step``. The rest of the step (bias, activations, loss, optimizer, autograd
and Python) is the gap. Products that a kernel runs inside itself (attention's batched products) are not
recorded; the MLPs W1 and W5 have none.

CPU time of the process (``time.process_time``) is reported beside wall time: on a shared machine the wall
clock counts the other tenants' time slices too. Run with one thread for the clearest figures::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/gemm_ceiling.py W5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def record_products(step, backend_name: str) -> list[tuple]:
    """(shape a, shape b, dtype, a transposed?, b transposed?) of each ``backend.matmul`` call of one step."""
    from minidl.backends import get_backend

    cls = type(get_backend(backend_name))
    calls, original = [], cls.matmul

    def spy(self, a, b):
        calls.append((a.shape, b.shape, a.dtype, not a.flags.c_contiguous, not b.flags.c_contiguous))
        return original(self, a, b)

    cls.matmul = spy
    try:
        step()
    finally:
        cls.matmul = original
    return calls


def _operand(shape, dtype, transposed: bool, rng) -> np.ndarray:
    if transposed:  # a transposed view, as minidl passes W.T and gy.T
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def _median_time(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.workloads import minidl_step

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", help="W1-B64, W1-B256, W4, W5, ...")
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    step = minidl_step(args.workload, args.backend)
    for _ in range(5):
        step()
    products = record_products(step, args.backend)
    rng = np.random.default_rng(0)
    flops = 0.0
    ceiling_wall = ceiling_cpu = 0.0
    for sa, sb, dtype, ta, tb in products:
        a, b = _operand(sa, dtype, ta, rng), _operand(sb, dtype, tb, rng)
        np.matmul(a, b)
        wall, cpu = _median_time(lambda a=a, b=b: np.matmul(a, b), args.repeat)
        ceiling_wall, ceiling_cpu = ceiling_wall + wall, ceiling_cpu + cpu
        flops += 2.0 * np.prod(np.broadcast_shapes(sa[:-2], sb[:-2]) or (1,)) * sa[-2] * sa[-1] * sb[-1]
    step_wall, step_cpu = _median_time(step, args.steps)
    result = {"workload": args.workload, "backend": args.backend, "products": len(products), "gflop": flops / 1e9,
              "step_ms": step_wall * 1e3, "step_cpu_ms": step_cpu * 1e3, "ceiling_ms": ceiling_wall * 1e3,
              "ceiling_cpu_ms": ceiling_cpu * 1e3, "fraction": ceiling_wall / step_wall,
              "fraction_cpu": ceiling_cpu / step_cpu, "load": os.getloadavg()[0]}
    print(f"{args.workload} on {args.backend}: {len(products)} products, {flops / 1e9:.3f} GFLOP per step; "
          f"sgemm alone {ceiling_wall * 1e3:.2f} ms ({flops / ceiling_wall / 1e9:.0f} GFLOP/s), step "
          f"{step_wall * 1e3:.2f} ms ({flops / step_wall / 1e9:.0f} GFLOP/s): {100 * ceiling_wall / step_wall:.0f}% "
          f"of the ceiling (CPU time: {ceiling_cpu * 1e3:.2f} / {step_cpu * 1e3:.2f} ms = "
          f"{100 * ceiling_cpu / step_cpu:.0f}%); load {result['load']:.2f}")
    return result


if __name__ == "__main__":
    main()
