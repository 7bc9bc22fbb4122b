"""Per-op autograd overhead (OVH): microseconds per ``(a * b).sum().backward()`` on (16,) tensors.

Five ``Function`` calls and one backward walk on tiny tensors: the time is the framework's own
bookkeeping, not arithmetic. Each framework runs in its own process (``isolated.py``), never beside
another one:

    python benchmarks/overhead.py [--rounds 5] [--steps 20] [--threads 2]

which is ``compare_torch.py --workloads OVH``. Goal (issue 16): <= 0.5x PyTorch's figure in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def minidl_step(backend: str = "numpy"):
    import minidl

    a = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)
    b = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)

    def step() -> None:
        a.grad = b.grad = None
        (a * b).sum().backward()

    return step


def torch_step(threads: int = 2):
    import torch

    torch.set_num_threads(threads)
    a = torch.rand(16, requires_grad=True)
    b = torch.rand(16, requires_grad=True)

    def step() -> None:
        a.grad = b.grad = None
        (a * b).sum().backward()

    return step


def main(argv: list[str] | None = None) -> None:
    from benchmarks import compare_torch

    compare_torch.main(["--workloads", "OVH", "--no-memory", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
