"""minidl (each CPU backend) against PyTorch CPU: training steps W1-W5, per-op overhead, peak memory.

    python benchmarks/compare_torch.py [--rounds 5] [--steps 10] [--threads 2] [--json out.json]

The method (docs/benchmarks.md, "Method"):

- **A fresh process per framework and round.** This script imports neither torch nor minidl; each
  round starts one process per framework (``torch``, and minidl's ``numpy`` and ``numba`` backends)
  through ``isolated.py``, which times every workload there. PyTorch's OpenMP threads, OpenBLAS's and
  Numba's never share the cores inside one process (in one, a PyTorch W3 step took 53.5 ms; in its
  own, 30.4-31.0 ms).
- **Rounds alternate**: round r starts the frameworks in an order rotated by r, so that a neighbour's
  job on the machine hits every framework alike.
- **Identical thread settings**, stated in the output: ``OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS`` =
  ``--threads``, ``torch.set_num_threads(--threads)``, ``NUMBA_THREADING_LAYER=workqueue``; each child
  reports the counts its libraries actually use.
- **Warm-up outside the timings**: ``--warmup`` steps (JIT compilation, lazy set-up) are timed and
  reported apart; then ``--steps`` single steps are timed.
- **Medians with their spread, ratios from the same run**: a cell is the median of its rounds x steps
  step times, with the range of the per-round medians; the ratio is minidl's median / PyTorch's (lower
  is better; <= 1.0x: minidl is as fast), with the range of the per-round ratios.
- **Peak memory** beside the times: one fresh process per figure (``peak_memory.py``).

Workloads: W1-W5 (``workloads.py``) in ms per training step, and OVH (``overhead.py``) in us per
``(a * b).sum().backward()``. ``--json`` writes everything, every sample included, for the dashboard.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.isolated import FRAMEWORKS, ROOT, run_isolated  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402

ALL_WORKLOADS = [*WORKLOADS, "OVH"]


def measure_ms(step, number: int) -> float:
    """Mean ms per call of ``step`` over ``number`` calls (``compare_peers.py`` times DeZero and Chainer with it)."""
    t0 = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - t0) / number * 1e3


def run_rounds(frameworks: list[str], args: argparse.Namespace,
               run_one: Callable[[str], dict] | None = None) -> dict[str, list[dict]]:
    """Every framework once per round, each in a fresh process; round r rotates the order by r.
    ``run_one(framework)`` starts that process and returns its report (``compare_peers.py`` passes its own,
    which starts DeZero and Chainer under their interpreter)."""
    if run_one is None:
        def run_one(f: str) -> dict:
            return run_isolated(f, args.workloads, args.threads, args.warmup, args.steps, args.ovh_calls)
    reports: dict[str, list[dict]] = {f: [] for f in frameworks}
    running = list(frameworks)
    for r in range(args.rounds):
        for f in running[r % len(running):] + running[: r % len(running)]:
            report = run_one(f)
            report.update(round=r, load_after=os.getloadavg()[0])
            reports[f].append(report)
            status = report.get("error") or f"{report['process_s']:.1f} s"
            print(f"round {r + 1}/{args.rounds} {f:7s} {status}  (load {report['load_after']:.2f})", file=sys.stderr)
        running = [f for f in running if "error" not in reports[f][0]]  # not installed: drop it
        if not running:
            break
    return reports


def cell(reports: list[dict], workload: str) -> dict | None:
    """The statistics of one (workload, framework) cell over its rounds; None if it never ran."""
    rounds = [rep["workloads"][workload] for rep in reports if "error" not in rep]
    if not rounds:
        return None
    times = [t for rnd in rounds for t in rnd["times"]]
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
    round_medians = [statistics.median(rnd["times"]) for rnd in rounds]
    return {"median": statistics.median(times), "q1": q1, "q3": q3, "min": min(times), "max": max(times),
            "round_medians": round_medians, "first_step": statistics.median(rnd["warmup"][0] for rnd in rounds)
            if rounds[0]["warmup"] else None, "warmup": [rnd["warmup"] for rnd in rounds],
            "times": [rnd["times"] for rnd in rounds]}


def ratio(mine: dict | None, torch: dict | None) -> dict | None:
    """minidl / PyTorch: of the medians, and the range of the ratios of the same rounds."""
    if mine is None or torch is None:
        return None
    per_round = [m / t for m, t in zip(mine["round_medians"], torch["round_medians"])]
    return {"median": mine["median"] / torch["median"], "round_min": min(per_round), "round_max": max(per_round)}


def peak_memory(workloads: list[str], frameworks: list[str], threads: int) -> dict[str, dict]:
    """Peak memory of a training step (MiB), one fresh process per figure, and the ratios to PyTorch's."""
    from benchmarks.peak_memory import run_child

    out = {}
    for w in workloads:
        mib = {}
        for f in frameworks:
            result = run_child(w, f, threads)
            mib[f] = result["step_peak_mib"] if result else None
        ratios = {f: mib[f] / mib["torch"] for f in frameworks
                  if f != "torch" and mib[f] is not None and mib.get("torch")}
        out[w] = {"mib": mib, "ratio_vs_torch": ratios}
        print(f"memory {w}: " + ", ".join(f"{f} {m:.1f} MiB" for f, m in mib.items() if m is not None), file=sys.stderr)
    return out


def _fmt(value: float | None, unit_digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{unit_digits}f}"


def markdown(result: dict) -> str:
    """The tables of ``result`` (as written to --json) in markdown."""
    frameworks, mini = result["frameworks"], [f for f in result["frameworks"] if f != "torch"]
    s = result["settings"]
    lines = [f"{result['date']}, `{result['command']}`, {s['threads']} thread(s) per process, "
             f"{s['rounds']} rounds x {s['steps']} steps after {s['warmup']} warm-up steps; load average "
             f"{result['machine']['load_before']:.2f} before, {result['machine']['load_after']:.2f} after.", "",
             "Median ms per training step (OVH: us per op) [range of the per-round medians]; "
             "ratio = minidl / PyTorch [range of the per-round ratios], lower is better.", "",
             "| workload | " + " | ".join(f"{'PyTorch' if f == 'torch' else f'minidl[{f}]'}" for f in frameworks)
             + "".join(f" | {f} / torch" for f in mini if "torch" in frameworks) + " |",
             "|---|" + "---|" * (len(frameworks) + len(mini) * ("torch" in frameworks))]
    for w, row in result["results"].items():
        cells = [f"{_fmt(c['median'])} [{_fmt(min(c['round_medians']))}-{_fmt(max(c['round_medians']))}]"
                 if c else "n/a" for c in (row["frameworks"].get(f) for f in frameworks)]
        if "torch" in frameworks:
            cells += [f"{r['median']:.2f}x [{r['round_min']:.2f}-{r['round_max']:.2f}]" if r else "n/a"
                      for r in (row["ratio_vs_torch"].get(f) for f in mini)]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    lines += ["", "Warm-up, outside the timings: median first step (ms; OVH: us per op) and import time (s).", "",
              "| workload | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
    for w, row in result["results"].items():
        lines.append(f"| {w} first step | " + " | ".join(
            _fmt(c["first_step"]) if c else "n/a" for c in (row["frameworks"].get(f) for f in frameworks)) + " |")
    lines.append("| import | " + " | ".join(_fmt(result["processes"][f]["import_s_median"], 2) for f in frameworks)
                 + " |")
    if result.get("memory"):
        lines += ["", "Peak memory of a training step (MiB; a fresh process per figure, `peak_memory.py`).", "",
                  "| workload | " + " | ".join(frameworks) + "".join(f" | {f} / torch" for f in mini) + " |",
                  "|---|" + "---|" * (len(frameworks) + len(mini))]
        for w, row in result["memory"].items():
            lines.append(f"| {w} | " + " | ".join(_fmt(row["mib"].get(f)) for f in frameworks) + "".join(
                f" | {_fmt(row['ratio_vs_torch'].get(f), 2)}x" for f in mini) + " |")
    lines += ["", "Thread settings, as each process reported them:", ""]
    for f in frameworks:
        settings = result["processes"][f]["threads"]
        pools = ", ".join(settings.get("pools", []))
        stated = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "pools")
        lines.append(f"- {f}: {stated}" + (f"; threadpoolctl: {pools}" if pools else ""))
    return "\n".join(lines)


def _git_commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=ALL_WORKLOADS, choices=ALL_WORKLOADS, metavar="W")
    parser.add_argument("--frameworks", nargs="*", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per framework, order rotated")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per workload and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (reported apart)")
    parser.add_argument("--threads", type=int, default=2, help="threads of every pool in every process")
    parser.add_argument("--ovh-calls", type=int, default=500, help="calls per OVH sample")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", type=Path, help="write the results (every sample) to this file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    load_before = os.getloadavg()[0]
    reports = run_rounds(args.frameworks, args)
    frameworks = [f for f in args.frameworks if "error" not in reports[f][0]]
    for f in set(args.frameworks) - set(frameworks):
        print(f"{f}: not run ({reports[f][0]['error']})", file=sys.stderr)
    results = {}
    for w in args.workloads:
        cells = {f: cell(reports[f], w) for f in frameworks}
        results[w] = {"unit": "us" if w == "OVH" else "ms", "frameworks": cells,
                      "ratio_vs_torch": {f: ratio(cells[f], cells.get("torch")) for f in frameworks if f != "torch"}}
    memory = None
    if not args.no_memory:
        memory = peak_memory([w for w in args.workloads if w in WORKLOADS], frameworks, args.threads)
    result = {
        "schema": 1,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/compare_torch.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "git_commit": _git_commit(),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "platform": platform.platform(),
                    "python": platform.python_version(), "load_before": load_before,
                    "load_after": os.getloadavg()[0]},
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "workloads", "frameworks")},
        "frameworks": frameworks,
        "processes": {f: {"version": reports[f][0]["version"], "threads": reports[f][0]["threads"],
                          "import_s_median": statistics.median(r["import_s"] for r in reports[f]),
                          "load_after_each": [r["load_after"] for r in reports[f]]} for f in frameworks},
        "results": results,
        "memory": memory,
    }
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
