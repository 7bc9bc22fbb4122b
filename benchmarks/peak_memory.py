"""Peak memory of one training step, minidl against PyTorch CPU, on the workloads of ``workloads.py``.

Each (workload, framework) runs in its own fresh process, so the numbers do not mix. The process
first runs one step of a throwaway copy of the workload (so that JIT compilation and lazy set-up
are done) and hands its freed memory back to the system (``malloc_trim``); then it builds the model
and the batch, records its resident memory R0, resets the kernel's high-water mark
(``echo 5 > /proc/self/clear_refs``, Linux only) and runs three training steps. The figure reported
is VmHWM - R0: the most memory training needed on top of the model and the data (activations,
gradients, optimizer state, temporaries, and whatever the C heap kept of freed blocks). Both
frameworks allocate from the C heap on the CPU, so the same measure applies to both; a process per
figure keeps one run's freed memory out of the next one's. One thread per pool unless ``--threads``
(the environment of ``isolated.py``); ``compare_torch.py`` puts these figures beside its timings.

    python benchmarks/peak_memory.py [--workloads W1-B256 W3] [--threads 1] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.isolated import thread_env  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def _status_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(workload: str, framework: str, threads: int = 1) -> dict[str, float]:
    """Run in the child process: the step's peak memory above its starting point, in MiB."""
    import ctypes
    import gc

    from benchmarks.workloads import minidl_step, torch_step

    def make_step():
        return torch_step(workload, threads=threads) if framework == "torch" else minidl_step(workload, framework)

    warm_up = make_step()  # JIT compilation (numba), lazy initialisation (torch) happen here ...
    warm_up()
    del warm_up
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # ... and the memory that step freed goes back to the system
    step = make_step()
    start = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from VmRSS
    for _ in range(3):
        step()
    return {"step_peak_mib": (_status_kib("VmHWM") - start) / 1024, "resident_mib": start / 1024}


def run_child(workload: str, framework: str, threads: int = 1) -> dict[str, float] | None:
    """One figure, from a fresh process; ``None`` (and the child's error on stderr) when it fails."""
    code = ("import json; from benchmarks.peak_memory import measure; "
            f"print(json.dumps(measure({workload!r}, {framework!r}, {threads})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=thread_env(threads))
    if done.returncode != 0:
        print(f"{workload} {framework}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--frameworks", nargs="*", default=["numpy", "numba", "torch"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("peak_memory.py needs Linux (/proc/self/clear_refs)")
    rows = []
    for w in args.workloads:
        results = {f: run_child(w, f, args.threads) for f in args.frameworks}
        rows.append((w, results))
    header = ["workload"] + [f"{f} peak (MiB)" for f in args.frameworks]
    if "torch" in args.frameworks:
        header += [f"{f} / torch" for f in args.frameworks if f != "torch"]
    lines = []
    for w, results in rows:
        peaks = {f: (r["step_peak_mib"] if r else float("nan")) for f, r in results.items()}
        cells = [w] + [f"{peaks[f]:.1f}" for f in args.frameworks]
        if "torch" in args.frameworks:
            cells += [f"{peaks[f] / peaks['torch']:.2f}x" for f in args.frameworks if f != "torch"]
        lines.append(cells)
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for cells in lines:
            print("| " + " | ".join(cells) + " |")
    else:
        widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
        for r in [header, *lines]:
            print("  ".join(str(c).rjust(wd) for c, wd in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
