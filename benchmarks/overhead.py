"""Per-op autograd overhead: microseconds per ``(a * b).sum().backward()`` on (16,) tensors.

Run: ``python benchmarks/overhead.py`` (prints minidl's figure, and PyTorch's when installed).
Goal (issue 2): <= 20 us on the 2-core CI machine; PyTorch CPU measured 24 us there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_us(fn, repeat: int = 7, number: int = 2000) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in microseconds per call (the best is the least noisy)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number * 1e6)
    return min(times)


def minidl_step(backend: str = "numpy"):
    import minidl

    a = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)
    b = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)

    def step() -> None:
        a.grad = b.grad = None
        (a * b).sum().backward()

    return step


def torch_step():
    import torch

    torch.set_num_threads(2)
    a = torch.rand(16, requires_grad=True)
    b = torch.rand(16, requires_grad=True)

    def step() -> None:
        a.grad = b.grad = None
        (a * b).sum().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    import minidl

    rows = []
    for name in minidl.available_backends():
        if name in ("cupy", "numba-cuda"):
            continue
        rows.append((f"minidl[{name}]", best_us(minidl_step(name), number=args.number)))
    try:
        rows.append(("torch", best_us(torch_step(), number=args.number)))
    except ImportError:
        pass
    for name, us in rows:
        print(f"{name:16s} {us:7.1f} us per (a*b).sum().backward() on (16,)")


if __name__ == "__main__":
    main()
