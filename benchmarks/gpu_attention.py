"""minidl's flash-attention kernels against PyTorch's ``scaled_dot_product_attention``: time and peak memory.

    python benchmarks/gpu_attention.py [--seqs 1024 2048 4096 8192] [--heads 8] [--head-dim 64] [--json out.json]
    python benchmarks/gpu_attention.py --tiny      # the rehearsal: seq 16 and 32, fine in the CUDA simulator

For each sequence length L: q, k, v of shape (batch, heads, L, head_dim), float32, drawn from one seed
(the same values in every framework); the forward alone and forward + backward of ``out.sum()`` are
timed (median of ``--reps`` after one warm-up, waiting for the device inside the timed region), and the
peak GPU memory of forward + backward is measured (minidl: CuPy's memory pool, which holds the
inputs too, after ``free_all_blocks()``; PyTorch: ``max_memory_allocated()``). The flash kernels keep
no (L, L) score matrix, so their memory should grow linearly in L: the report gives bytes per position.
``out_sum`` (the sum of the forward output, in float64) is a cheap cross-check of the frameworks.

One process per framework (``--worker``), as in every benchmark here; ratio = minidl / PyTorch.
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

FRAMEWORKS = ("cupy", "numba-cuda", "torch")


def _inputs(batch: int, heads: int, seq: int, dim: int):
    import numpy as np

    rng = np.random.default_rng(seq)
    return [rng.standard_normal((batch, heads, seq, dim)).astype(np.float32) for _ in range(3)]


def _median_ms(fn, sync, reps: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def _torch_runner(spec: dict):
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    facts = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "version": torch.__version__}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def case(arrays):
        q, k, v = (torch.from_numpy(a).to(device).requires_grad_() for a in arrays)

        def forward():
            with torch.no_grad():
                return F.scaled_dot_product_attention(q, k, v, is_causal=spec["causal"])

        def both():
            F.scaled_dot_product_attention(q, k, v, is_causal=spec["causal"]).sum().backward()

        def peak():
            if device != "cuda":
                return None
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            both()
            sync()
            return torch.cuda.max_memory_allocated()

        return forward, both, peak, lambda out: float(out.double().sum())

    return facts, sync, case


def _minidl_runner(spec: dict):
    import minidl
    import minidl.nn.functional as F
    from minidl.backends import get_backend

    backend = get_backend(spec["framework"])  # raises with the reason when it cannot run here
    pool = None
    if backend.is_gpu:
        import cupy

        pool = cupy.get_default_memory_pool()
        facts = {"device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(), "version": minidl.__version__}
    else:
        facts = {"device": "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)", "version": minidl.__version__}

    def case(arrays):
        with minidl.use_backend(backend.name):
            q, k, v = (minidl.tensor(a, requires_grad=True) for a in arrays)

        def forward():
            with minidl.no_grad():
                return F.scaled_dot_product_attention(q, k, v, is_causal=spec["causal"])

        def both():
            F.scaled_dot_product_attention(q, k, v, is_causal=spec["causal"]).sum().backward()
            q.grad = k.grad = v.grad = None

        def peak():
            if pool is None:
                return None
            gc.collect()
            pool.free_all_blocks()
            both()
            backend.synchronize()
            return pool.total_bytes()

        return forward, both, peak, lambda out: float(out.numpy().astype("float64").sum())

    return facts, backend.synchronize, case


def measure(spec: dict) -> dict:
    framework = spec["framework"]
    facts, sync, case = (_torch_runner if framework == "torch" else _minidl_runner)(spec)
    report = {"framework": framework, **facts, "pid": os.getpid(), "seqs": {}}
    for seq in spec["seqs"]:
        try:
            forward, both, peak, checksum = case(_inputs(spec["batch"], spec["heads"], seq, spec["head_dim"]))
            report["seqs"][str(seq)] = {"forward_ms": _median_ms(forward, sync, spec["reps"]),
                                        "forward_backward_ms": _median_ms(both, sync, spec["reps"]),
                                        "peak_bytes": peak(), "out_sum": checksum(forward())}
        except Exception as e:  # e.g. out of shared memory at one size: report it, try the next
            report["seqs"][str(seq)] = {"error": f"{type(e).__name__}: {e}"[:500]}
        gc.collect()
    return report


def run_child(spec: dict, timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"framework": spec["framework"], "error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"framework": spec["framework"], "error": tail[:500]}
    return json.loads(lines[-1])


def markdown(result: dict) -> str:
    fws, ref = result["frameworks"], result["reports"].get("torch", {}).get("seqs", {})
    lines = [f"{result['date']}, device: {result['device']}; {result['settings']}", "",
             "ms forward / forward+backward (median), peak MiB of forward+backward, "
             "bytes per position; ratio = minidl / PyTorch SDPA (forward+backward).", "",
             "| seq | " + " | ".join("PyTorch SDPA" if f == "torch" else f"minidl[{f}]" for f in fws) + " |",
             "|---|" + "---|" * len(fws)]
    for seq in result["seqs"]:
        cells = []
        for f in fws:
            rep = result["reports"][f]
            c = rep.get("seqs", {}).get(str(seq)) if "error" not in rep else {"error": rep["error"]}
            if not c or "error" in c:
                cells.append(f"error: {(c or {}).get('error', 'n/a')[:60]}")
                continue
            text = f"{c['forward_ms']:.2f} / {c['forward_backward_ms']:.2f}"
            if c["peak_bytes"] is not None:
                text += f", {c['peak_bytes'] / 2**20:.0f} MiB ({c['peak_bytes'] / seq:.0f} B/pos)"
            r = ref.get(str(seq))
            if f != "torch" and r and "error" not in r:
                text += f", {c['forward_backward_ms'] / r['forward_backward_ms']:.2f}x"
            cells.append(text)
        lines.append(f"| {seq} | " + " | ".join(cells) + " |")
    diffs = []  # cross-check: the sum of the forward output, minidl against PyTorch, on the same inputs
    for seq in result["seqs"]:
        r = ref.get(str(seq))
        for f in fws:
            c = result["reports"][f].get("seqs", {}).get(str(seq))
            if f != "torch" and r and c and "error" not in r and "error" not in c:
                diffs.append(f"{f}@{seq} {abs(c['out_sum'] - r['out_sum']) / max(abs(r['out_sum']), 1e-12):.1e}")
    if diffs:
        lines += ["", "relative difference of sum(out) from PyTorch's: " + ", ".join(diffs)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    p.add_argument("--seqs", nargs="+", type=int, default=[1024, 2048, 4096, 8192])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--tiny", action="store_true", help="seq 16 and 32, one head of 8, one rep (the rehearsal)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per child process")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds from now after which no child starts (the JSON is still written)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    if args.tiny:
        args.seqs, args.heads, args.head_dim, args.reps = [16, 32], 1, 8, 1
    reports = {}
    end = None if args.deadline is None else time.monotonic() + args.deadline
    for f in args.frameworks:
        t0 = time.perf_counter()
        left = args.timeout if end is None else min(args.timeout, end - time.monotonic())
        if left < 3:
            reports[f] = {"framework": f, "error": "not started: --deadline reached"}
            continue
        spec = {"framework": f, "seqs": args.seqs, "batch": args.batch, "heads": args.heads,
                "head_dim": args.head_dim, "causal": args.causal, "reps": args.reps}
        reports[f] = run_child(spec, left)
        print(f"{f:10s} {reports[f].get('error') or f'{time.perf_counter() - t0:.1f} s'}", file=sys.stderr, flush=True)
    devices = sorted({r["device"] for r in reports.values() if r.get("device")})
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "device": ", ".join(devices) or "none",
              "frameworks": args.frameworks, "seqs": args.seqs, "command": " ".join(sys.argv),
              "settings": f"batch {args.batch}, {args.heads} heads of {args.head_dim}, float32, "
                          f"{'causal' if args.causal else 'no mask'}, median of {args.reps}",
              "reports": reports}
    table = markdown(result)
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        args.json.with_suffix(".md").write_text(table + "\n")
        print(args.json)
    ok = any("error" not in r and any("error" not in c for c in r["seqs"].values()) for r in reports.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
