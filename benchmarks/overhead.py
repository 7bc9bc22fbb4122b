"""Per-op autograd overhead (OVH): microseconds per ``(a * b).sum().backward()`` on (16,) tensors.

Five ``Function`` calls and one backward walk on tiny tensors: the time is the framework's own
bookkeeping, not arithmetic. Each framework runs in its own process (``isolated.py``), never beside
another one:

    python benchmarks/overhead.py [--rounds 5] [--steps 20] [--threads 2]

which is ``compare_torch.py --workloads OVH``. Goal (issue 16): <= 0.5x PyTorch's figure in the same run.

Where minidl's microseconds go, piece by piece (the table of docs/benchmarks.md, "Per-op overhead"):

    python benchmarks/overhead.py --pieces [--backend numba]

Each piece is the 10th percentile of 400 batches of 20 calls, so a busy neighbour on the machine
moves it little; run it twice, or against an older checkout, to compare.
"""

from __future__ import annotations

import sys
import timeit
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


def _per_call_us(fn, calls: int = 20, batches: int = 400) -> float:
    """us per call: the 10th percentile of ``batches`` timings of ``calls`` calls (after a warm-up)."""
    for _ in range(300):
        fn()
    times = sorted(timeit.repeat(fn, number=calls, repeat=batches))
    return times[batches // 10] / calls * 1e6


def pieces(backend: str = "numba") -> list[tuple[str, float]]:
    """The OVH step and its parts, in us per call."""
    import minidl
    from minidl import autograd
    from minidl.autograd import Function
    from minidl.tensor import Tensor

    class Identity(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            return gy

    step = minidl_step(backend)
    a = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)
    b = minidl.tensor(np.random.rand(16).astype(np.float32), requires_grad=True, backend=backend)
    c = a * b
    s = c.sum()
    g0 = Tensor._wrap(np.ones((), np.float32), a.backend, False)

    def walk() -> None:
        a.grad = b.grad = None
        s.backward(retain_graph=True)

    rows = [("step: (a * b).sum().backward()", _per_call_us(step)),
            ("forward: a * b", _per_call_us(lambda: a * b)),
            ("forward: c.sum()", _per_call_us(lambda: c.sum())),
            ("backward walk of that graph (retain_graph=True)", _per_call_us(walk)),
            ("Function call, identity forward, recorded", _per_call_us(lambda: Identity()(a)))]
    with minidl.no_grad():  # as the ops inside a backward run
        rows += [("Function call, identity forward, not recorded", _per_call_us(lambda: Identity()(a))),
                 ("a * b, not recorded (Mul's backward: 2 of them)", _per_call_us(lambda: a * b)),
                 ("broadcast_to a 0-d gradient to (16,) (Sum's backward)",
                  _per_call_us(lambda: autograd.broadcast_to(g0, (16,))))]
    rows += [("root gradient (ones)", _per_call_us(lambda: autograd._check_root_grad(s, None))),
             ("Tensor._wrap", _per_call_us(lambda: Tensor._wrap(a.array, a.backend, False))),
             ("numpy alone: x * y", _per_call_us(lambda: a.array * b.array)),
             ("numpy alone: x.sum()", _per_call_us(lambda: a.array.sum()))]
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--pieces" in argv:
        backend = argv[argv.index("--backend") + 1] if "--backend" in argv else "numba"
        rows = pieces(backend)
        width = max(len(name) for name, _ in rows)
        print(f"minidl[{backend}], us per call (10th percentile of 400 batches of 20 calls)")
        for name, us in rows:
            print(f"{name:{width}s} {us:7.2f}")
        return
    from benchmarks import compare_torch

    compare_torch.main(["--workloads", "OVH", "--no-memory", *argv])


if __name__ == "__main__":
    main()
