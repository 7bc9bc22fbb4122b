"""Training steps W1-W5 on minidl's GPU backends beside PyTorch CUDA: one process per framework and round.

    python benchmarks/gpu_workloads.py [--frameworks cupy numba-cuda torch] [--rounds 2] [--steps 20]
                                       [--workloads W1-B64 W5] [--json out.json]
    python benchmarks/gpu_workloads.py --tiny      # the rehearsal: a 16-8-4 MLP, fine in the CUDA simulator

The method of ``compare_torch.py`` (docs/benchmarks.md, "Method"), on the GPU:

- **A fresh process per framework and round** (``--worker``): this parent imports neither torch nor
  minidl. Round r starts the frameworks in an order rotated by r.
- **Warm-up apart**: ``--warmup`` steps (NVRTC/Numba compilation, CuPy's memory pool filling, cuDNN's
  autotuning) are timed and reported apart; then ``--steps`` single steps are timed. Every step ends in
  ``loss.item()``, which waits for the device, so a step time is the whole step, kernels included.
- **Medians with their spread, ratios from one run**: the median of all rounds x steps, the range of the
  per-round medians; ratio = minidl / PyTorch CUDA per round (lower is better).
- **Peak GPU memory per workload**: minidl (both GPU backends keep their arrays in CuPy): the bytes CuPy's
  default memory pool holds at the end of the workload, after ``free_all_blocks()`` before it (the pool
  only grows, so this is its peak); PyTorch: ``torch.cuda.max_memory_allocated()`` and
  ``max_memory_reserved()`` after ``reset_peak_memory_stats()``.

Without a CUDA device (the rehearsal), PyTorch runs on the CPU, ``numba-cuda`` runs in the simulator
when ``NUMBA_ENABLE_CUDASIM=1``, and a backend that cannot start is reported as an error, not fatal.
The last line of output is the path of the JSON written, or the JSON itself without ``--json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

FRAMEWORKS = ("cupy", "numba-cuda", "torch")  # "torch" is PyTorch CUDA (CPU only in the rehearsal)
TINY = "T-MLP"  # 16-8-4 MLP, batch 4, SGD: the rehearsal's workload (every kernel tiny in the simulator)


# --------------------------------------------------------------------------- the child
def _tiny_minidl(backend: str):
    import numpy as np

    import minidl
    import minidl.nn as nn
    import minidl.nn.functional as F
    from minidl import optim

    minidl.manual_seed(0)
    rng = np.random.default_rng(0)
    with minidl.use_backend(backend):
        model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
        opt = optim.SGD(model.parameters(), lr=1e-2)
        x = minidl.tensor(rng.standard_normal((4, 16)).astype(np.float32))
        y = minidl.tensor(rng.integers(0, 4, 4))

    def step() -> float:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _tiny_torch(device: str):
    import numpy as np
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    x = torch.from_numpy(rng.standard_normal((4, 16)).astype(np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, 4, 4)).to(device)

    def step() -> float:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


class _Memory:
    """Peak device memory of one workload, for one framework (None where there is no device)."""

    def __init__(self, framework: str) -> None:
        self.framework, self.pool, self.torch = framework, None, None
        if framework == "torch":
            import torch

            self.torch = torch if torch.cuda.is_available() else None
        else:
            from minidl.backends import get_backend

            if get_backend(framework).is_gpu:
                import cupy

                self.pool = cupy.get_default_memory_pool()

    def start(self) -> None:
        gc.collect()
        if self.pool is not None:
            self.pool.free_all_blocks()
        if self.torch is not None:
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def peak(self) -> dict:
        if self.pool is not None:
            return {"peak_bytes": self.pool.total_bytes(), "pool_used_bytes": self.pool.used_bytes()}
        if self.torch is not None:
            return {"peak_bytes": self.torch.cuda.max_memory_allocated(),
                    "reserved_bytes": self.torch.cuda.max_memory_reserved()}
        return {"peak_bytes": None}


def _device_facts(framework: str) -> dict:
    if framework == "torch":
        import torch

        if not torch.cuda.is_available():
            return {"device": "cpu", "torch_cuda": torch.version.cuda}
        torch.backends.cudnn.benchmark = True  # PyTorch's usual GPU setting; its autotuning is in the warm-up
        return {"device": torch.cuda.get_device_name(0), "torch_cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version()}
    from minidl.backends import get_backend

    backend = get_backend(framework)  # raises BackendUnavailableError with the reason
    if not backend.is_gpu:
        return {"device": "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"}
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    return {"device": props["name"].decode(), "cupy": cupy.__version__,
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion()}


def measure(spec: dict) -> dict:
    """In the child: warm-up and per-step times (ms) and peak memory of every workload of ``spec``."""
    framework = spec["framework"]
    t0 = time.perf_counter()
    if framework == "torch":
        import torch

        version = torch.__version__
    else:
        import minidl

        version = minidl.__version__
    report = {"framework": framework, "version": version, **_device_facts(framework),
              "import_s": time.perf_counter() - t0, "pid": os.getpid(), "workloads": {}}
    memory = _Memory(framework)
    for workload in spec["workloads"]:
        memory.start()
        step = None
        try:
            if framework == "torch":
                device = "cuda" if memory.torch is not None else "cpu"
                if workload == TINY:
                    step = _tiny_torch(device)
                else:
                    from benchmarks.workloads import torch_step

                    step = torch_step(workload, threads=spec.get("threads", 4), device=device)
            elif workload == TINY:
                step = _tiny_minidl(framework)
            else:
                from benchmarks.workloads import minidl_step

                step = minidl_step(workload, framework)
            warmup, times, losses = [], [], []
            for n, bucket in ((spec["warmup"], warmup), (spec["steps"], times)):
                for _ in range(n):
                    t = time.perf_counter()
                    losses.append(step())
                    bucket.append((time.perf_counter() - t) * 1e3)
            report["workloads"][workload] = {"warmup": warmup, "times": times, "first_loss": losses[0],
                                             "last_loss": losses[-1], **memory.peak()}
        except Exception as e:  # one workload failing (a kernel error on the GPU) must not hide the others
            report["workloads"][workload] = {"error": f"{type(e).__name__}: {e}"[:500]}
        del step
    return report


# --------------------------------------------------------------------------- the parent
def run_child(framework: str, workloads: list[str], warmup: int, steps: int, timeout: float) -> dict:
    spec = {"framework": framework, "workloads": workloads, "warmup": warmup, "steps": steps}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"framework": framework, "error": tail[:500]}
    report = json.loads(lines[-1])
    report["process_s"] = time.perf_counter() - t0
    return report


def cell(reports: list[dict], workload: str) -> dict | None:
    rounds = [r["workloads"][workload] for r in reports
              if "error" not in r and "error" not in r["workloads"].get(workload, {"error": 1})]
    rounds = [r for r in rounds if r["times"]]
    if not rounds:
        errors = [r.get("error") or r["workloads"].get(workload, {}).get("error") for r in reports]
        return {"error": next((e for e in errors if e), "did not run")}
    times = [t for r in rounds for t in r["times"]]
    peaks = [r["peak_bytes"] for r in rounds if r.get("peak_bytes") is not None]
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "round_medians": [statistics.median(r["times"]) for r in rounds],
            "first_step": rounds[0]["warmup"][0] if rounds[0]["warmup"] else None,
            "peak_bytes": max(peaks) if peaks else None, "last_loss": rounds[-1]["last_loss"]}


def ratio(mine: dict | None, ref: dict | None) -> dict | None:
    if not mine or not ref or "error" in mine or "error" in ref:
        return None
    per_round = [m / t for m, t in zip(mine["round_medians"], ref["round_medians"])]
    return {"median": mine["median"] / ref["median"], "round_min": min(per_round), "round_max": max(per_round)}


def markdown(result: dict) -> str:
    fws = result["frameworks"]
    mini = [f for f in fws if f != "torch"]
    head = ["PyTorch" if f == "torch" else f"minidl[{f}]" for f in fws]
    lines = [f"{result['date']}, device: {result['device']}; {result['settings']}", "",
             "Median ms per training step [range of per-round medians], peak GPU memory in MiB; "
             "ratio = minidl / PyTorch [per-round range], lower is better.", "",
             "| workload | " + " | ".join(head) + "".join(f" | {f} / torch" for f in mini if "torch" in fws) + " |",
             "|---|" + "---|" * (len(fws) + len(mini) * ("torch" in fws))]
    for w, row in result["results"].items():
        cells = []
        for f in fws:
            c = row["frameworks"].get(f)
            if not c or "error" in c:
                cells.append(f"error: {c['error'][:60]}" if c else "n/a")
                continue
            mem = f", {c['peak_bytes'] / 2**20:.0f} MiB" if c["peak_bytes"] is not None else ""
            cells.append(f"{c['median']:.2f} [{min(c['round_medians']):.2f}-{max(c['round_medians']):.2f}]{mem}")
        if "torch" in fws:
            cells += [f"{r['median']:.2f}x [{r['round_min']:.2f}-{r['round_max']:.2f}]" if r else "n/a"
                      for r in (row["ratio_vs_torch"].get(f) for f in mini)]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.workloads import WORKLOADS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=[*WORKLOADS, TINY])
    p.add_argument("--tiny", action="store_true", help=f"time only {TINY} (the rehearsal in the simulator)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--timeout", type=float, default=150, help="seconds per child process")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds from now after which no child starts (the JSON is still written)")
    p.add_argument("--json", type=Path, help="write the results here (and a .md table beside it)")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    workloads = [TINY] if args.tiny else args.workloads
    reports: dict[str, list[dict]] = {f: [] for f in args.frameworks}
    running = list(args.frameworks)
    end = None if args.deadline is None else time.monotonic() + args.deadline
    for r in range(args.rounds):
        for f in running[r % len(running):] + running[: r % len(running)]:
            left = args.timeout if end is None else min(args.timeout, end - time.monotonic())
            if left < 3:
                print(f"round {r + 1}/{args.rounds} {f:10s} not started: --deadline reached", file=sys.stderr)
                continue
            rep = run_child(f, workloads, args.warmup, args.steps, left)
            rep["round"] = r
            reports[f].append(rep)
            status = rep.get("error") or f"{rep['process_s']:.1f} s, {rep.get('device')}"
            print(f"round {r + 1}/{args.rounds} {f:10s} {status}", file=sys.stderr, flush=True)
        running = [f for f in running if "error" not in reports[f][0]]  # cannot start: drop it
        if not running:
            break
    results = {}
    for w in workloads:
        cells = {f: cell(reports[f], w) for f in args.frameworks}
        results[w] = {"frameworks": cells,
                      "ratio_vs_torch": {f: ratio(cells[f], cells.get("torch")) for f in args.frameworks
                                         if f != "torch"}}
    devices = sorted({rep.get("device") for reps in reports.values() for rep in reps if rep.get("device")})
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "device": ", ".join(devices) or "none",
              "frameworks": args.frameworks, "command": " ".join(sys.argv),
              "settings": f"{args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up steps, "
                          "one process per framework and round",
              "results": results, "reports": reports}
    table = markdown(result)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        args.json.with_suffix(".md").write_text(table + "\n")
        print(args.json)
    ok = any(c and "error" not in c for row in results.values() for c in row["frameworks"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
