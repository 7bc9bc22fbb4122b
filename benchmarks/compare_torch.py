"""minidl (every CPU backend) against PyTorch CPU on the training workloads W1-W5.

    python benchmarks/compare_torch.py [--workloads W1-B64 W5] [--repeat 5] [--markdown]

Same shapes, same seeds, float32, 2 threads for everyone (``OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=
NUMBA_NUM_THREADS=1`` in the environment for one), and the frameworks *interleaved* in one run
(round-robin, best of ``--repeat`` rounds) so that machine noise hits all of them alike. Prints ms per
training step and the ratio to PyTorch (lower is better; <= 1.0 means minidl is as fast).
PyTorch is optional (``pip install torch==2.13.0`` is the CPU build on the project's machines).
"""

from __future__ import annotations

import os

# Thread settings must be in place before numpy/numba/torch are imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.workloads import TORCH_REFERENCE_MS, WORKLOADS, minidl_step, torch_step  # noqa: E402


def measure_ms(step, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - t0) / number * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds (best is kept)")
    parser.add_argument("--number", type=int, default=3, help="steps per timing")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()

    import minidl

    runners = [b for b in minidl.available_backends() if b in ("numpy", "numba")]
    try:
        import torch  # noqa: F401

        runners.append("torch")
    except ImportError:
        print("PyTorch is not installed: printing minidl times beside the issue's reference figures")
    rows = []
    for name in args.workloads:
        steps = {}
        for r in runners:
            if r == "torch":
                steps[r] = torch_step(name, threads=int(os.environ["OMP_NUM_THREADS"]))
            else:
                steps[r] = minidl_step(name, r)
            for _ in range(2):  # warm-up: JIT compilation, allocator, caches
                steps[r]()
        best = {r: float("inf") for r in runners}
        for _ in range(args.repeat):
            for r in runners:
                best[r] = min(best[r], measure_ms(steps[r], args.number))
        ref = best.get("torch", TORCH_REFERENCE_MS[name])
        rows.append((name, best, ref))
        if not args.markdown:
            parts = "  ".join(f"{r}={best[r]:7.1f}ms ({best[r] / ref:4.2f}x)" for r in runners if r != "torch")
            print(f"{name:8s} torch={ref:7.1f}ms  {parts}", flush=True)
    if args.markdown:
        mini = [r for r in runners if r != "torch"]
        print("| workload | torch ms | " + " | ".join(f"minidl[{r}] ms | ratio" for r in mini) + " |")
        print("|---|---|" + "---|---|" * len(mini))
        for name, best, ref in rows:
            print(f"| {name} | {ref:.1f} | " + " | ".join(f"{best[r]:.1f} | {best[r] / ref:.2f}x" for r in mini) + " |")


if __name__ == "__main__":
    main()
