"""Where a training step's time goes, kernel by kernel, in CPU time (issue 16).

Every kernel of the contract (``minidl.backends.KERNELS``) on the backend's class is wrapped with a timer for
the duration of the run; the step itself is timed too. The rest of the step, outside every kernel, is the
autograd walk, the ops' Python and the small NumPy operations they make (adds, reshapes, sums). Times are the
main thread's CPU time (``time.thread_time``), which the other tenants of a shared machine do not inflate as
they do the wall clock; with more than one thread the worker threads' share is missing, so run it with one::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/step_breakdown.py W4

A kernel called from inside another (``erf`` inside the reference ``gelu_forward``, ``adam_update`` inside the
reference ``foreach_adam_update``) counts only in the outer one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def breakdown(workload: str, backend: str = "numba", steps: int = 20) -> dict:
    """{"step_ms": median step CPU ms, "kernels": {name: (ms per step, calls per step)}}."""
    from benchmarks.workloads import minidl_step
    from minidl.backends import KERNELS, get_backend

    step = minidl_step(workload, backend)
    for _ in range(5):
        step()
    cls = type(get_backend(backend))
    spent: dict[str, list[float]] = defaultdict(list)
    originals = {name: cls.__dict__.get(name) for name in KERNELS}
    depth = [0]

    def timed(name, fn):
        def kernel(self, *args, **kwargs):
            depth[0] += 1
            t = time.thread_time()
            try:
                return fn(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:  # the outermost kernel only
                    spent[name].append(time.thread_time() - t)
        return kernel

    for name in KERNELS:
        setattr(cls, name, timed(name, getattr(cls, name)))
    try:
        times = []
        for _ in range(steps):
            t = time.thread_time()
            step()
            times.append(time.thread_time() - t)
    finally:
        for name, fn in originals.items():
            if fn is None:
                delattr(cls, name)
            else:
                setattr(cls, name, fn)
    kernels = {name: (sum(v) / steps * 1e3, len(v) // steps) for name, v in spent.items()}
    ordered = dict(sorted(kernels.items(), key=lambda kv: -kv[1][0]))
    return {"step_ms": statistics.median(times) * 1e3, "kernels": ordered}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload")
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    result = breakdown(args.workload, args.backend, args.steps)
    print(f"{args.workload} on {args.backend}: median step {result['step_ms']:.2f} ms CPU "
          f"(load {os.getloadavg()[0]:.2f})")
    print("| kernel | ms per step | calls per step |\n|---|---|---|")
    inside = 0.0
    for name, (ms, calls) in result["kernels"].items():
        print(f"| `{name}` | {ms:.2f} | {calls} |")
        inside += ms
    print(f"| outside the kernels (autograd, Python, small NumPy ops) | {result['step_ms'] - inside:.2f} | |")


if __name__ == "__main__":
    main()
