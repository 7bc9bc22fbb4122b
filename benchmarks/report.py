"""The comparison page made for backends: ``.asv/html/compare.html``, beside asv's own dashboard.

    python benchmarks/report.py [--config asv.conf.json] [--torch T.json] [--peers P.json] [--gpu G.json]

(``publish_dashboard.py`` runs it after ``asv publish`` and links it from asv's index.) asv's pages are
built for one benchmark's history across commits; a user comparing backends wants the opposite: one
commit, every backend side by side. This page reads

- asv's results JSON (``results_dir/<machine>/<commit>-<env>.json``, the newest commit of the machine
  with the newest results): ``Kernels.time_kernel`` and ``track_peak_mib``, ``KernelFlops.track_gflops``,
  ``JitCompile.time_first_call``, ``GemmCeiling.track_gemm_gflops``, ``TrainingStep.time_step`` and
  ``StepMemory.track_step_peak_mib`` (every commit, for the history charts);
- the side-by-side runs, a fresh process per framework: ``compare_torch.py --json`` (PyTorch CPU and
  minidl's CPU backends, peak memory), ``compare_peers.py --json`` (DeZero, Chainer) and
  ``gpu_workloads.py --json`` (the GPU backends beside PyTorch CUDA). Each is optional.

and writes one static HTML file: tables (every value also in a ``data-value`` attribute, exactly as read)
and bar charts drawn here as inline SVG. Why SVG written by this script rather than a charting library:
the page then loads nothing (no script to vendor, pin and check, nothing that can fail in the browser),
the charts are plain markup a test can read from the DOM, and the 60 lines that draw them are here to
read. asv's own backend-axis graph draws no bars once two series share the axis; these charts draw one
bar per backend in every group.

Ratios are time / the reference's time (lower is better): to minidl's NumPy backend, and to PyTorch CPU
where the same side-by-side run has it. A cell where a backend that overrides the kernel is slower than
the NumPy reference is highlighted.
"""

from __future__ import annotations

import argparse
import ast
import html
import itertools
import json
import math
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "numpy"
COLOURS = {"numpy": "#4c72b0", "numba": "#dd8452", "cupy": "#55a868", "numba-cuda": "#c44e52",
           "torch": "#8172b3", "dezero": "#937860", "chainer": "#da8bc3"}
NAMES = {"torch": "PyTorch CPU", "dezero": "DeZero", "chainer": "Chainer"}
KERNEL_TIME = "bench_kernels.Kernels.time_kernel"
KERNEL_GFLOPS = "bench_kernels.KernelFlops.track_gflops"
KERNEL_PEAK = "bench_kernels.Kernels.track_peak_mib"
JIT = "bench_kernels.JitCompile.time_first_call"
CEILING = "bench_kernels.GemmCeiling.track_gemm_gflops"
STEP_TIME = "bench_workloads.TrainingStep.time_step"
STEP_PEAK = "bench_workloads.StepMemory.track_step_peak_mib"


# ---------------------------------------------------------------- reading asv's results

def read_asv(results_dir: Path) -> tuple[str, list[dict]]:
    """(machine, its result files sorted by date) for the machine with the newest results.

    Each file becomes ``{"commit", "date", "values": {benchmark: {param tuple: value}}}``; skipped and
    failed combinations (NaN or null in asv's lists) are left out.
    """
    files = [p for p in results_dir.glob("*/*.json") if p.name != "machine.json"]
    if not files:
        raise SystemExit(f"no asv results under {results_dir}: run `asv run --set-commit-hash ...` first")
    runs = [json.loads(p.read_text()) | {"_machine": p.parent.name} for p in files]
    machine = max(runs, key=lambda r: r["date"])["_machine"]
    out = []
    for run in sorted((r for r in runs if r["_machine"] == machine), key=lambda r: r["date"]):
        columns = run["result_columns"]
        values = {}
        for name, row in run["results"].items():
            result, params = row[columns.index("result")], row[columns.index("params")]
            if result is None:
                continue
            combos = itertools.product(*[[ast.literal_eval(p) for p in ps] for ps in params]) if params else [()]
            values[name] = {combo: v for combo, v in zip(combos, result, strict=True)
                            if v is not None and not (isinstance(v, float) and math.isnan(v))}
        out.append({"commit": run["commit_hash"], "date": run["date"], "values": values})
    return machine, out


def kernel_families() -> dict[str, list[str]]:
    """Kernel names grouped by the ``### Family`` headings of the catalogue, ``kernels/README.md``."""
    families: dict[str, list[str]] = {}
    family = "Other"
    for line in (ROOT / "kernels" / "README.md").read_text().splitlines():
        if line.startswith("### "):
            family = line[4:].strip()
        elif m := re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|", line):
            families.setdefault(family, []).append(m.group(1))
    return families


def backend_facts() -> tuple[dict[str, str], dict[str, set[str]]]:
    """(why each backend that is not installed here is not, the kernels each installed one overrides)."""
    from minidl.backends import BackendUnavailableError, get_backend, known
    from minidl.testing.kernel_cases import overridden_kernels

    missing, overrides = {}, {}
    for name in known():
        try:
            overrides[name] = overridden_kernels(get_backend(name))
        except BackendUnavailableError as e:
            missing[name] = str(e)
    return missing, overrides


# ---------------------------------------------------------------- formatting and drawing

def unit_of_time(seconds: float) -> tuple[str, float]:
    """The unit a chart or cell of times up to ``seconds`` reads best in: (name, seconds per unit)."""
    return ("s", 1.0) if seconds >= 1 else ("ms", 1e-3) if seconds >= 1e-3 else ("us", 1e-6)


def fmt_time(seconds: float) -> str:
    name, scale = unit_of_time(seconds)
    return f"{seconds / scale:.3g} {name}"


def cell(key: str, value: float | None, text: str | None = None, cls: str = "", title: str = "") -> str:
    """A table cell carrying its value exactly as read (``data-value``) beside the text shown."""
    if value is None:
        return '<td class="na">-</td>'
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' title="{html.escape(title)}"' if title else ""
    return f'<td data-key="{html.escape(key)}" data-value="{value!r}"{attrs}>{text or value}</td>'


def bar_chart(title: str, groups: list[str], series: list[str], values: dict[tuple[str, str], float],
              labels: dict[str, str] | None = None, unit: str = "s") -> str:
    """Grouped bars as inline SVG: one group per ``groups`` entry, one bar per series with a value.

    ``values[(group, series)]`` in seconds (``unit="s"``: the axis unit is chosen from the largest) or in
    ``unit`` as given. Every bar is a ``<rect class="bar" data-series data-group data-value>``.
    """
    series = [s for s in series if any((g, s) in values for g in groups)]
    top = max(values.values(), default=0)
    axis, scale = unit_of_time(top) if unit == "s" else (unit, 1.0)
    bar_w, gap, height, left, bottom = 16, 18, 180, 56, 70
    width = left + len(groups) * (len(series) * bar_w + gap) + 10
    peak = top / scale * 1.1 or 1
    out = [f'<figure class="chart"><figcaption>{html.escape(title)} ({axis})</figcaption>'
           f'<svg class="bars" width="{width}" height="{height + bottom + 10}" data-unit="{axis}">']
    for i in range(5):  # gridlines and y labels
        y = 10 + height - height * i / 4
        out.append(f'<line x1="{left}" x2="{width}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                   f'<text x="{left - 4}" y="{y + 4}" text-anchor="end">{peak * i / 4:.3g}</text>')
    for gi, group in enumerate(groups):
        x0 = left + gi * (len(series) * bar_w + gap) + gap / 2
        for si, s in enumerate(series):
            v = values.get((group, s))
            if v is None:
                continue
            h = max(1.0, height * (v / scale) / peak)
            name = (labels or {}).get(s, s)
            out.append(f'<rect class="bar" x="{x0 + si * bar_w}" y="{10 + height - h:.1f}" width="{bar_w - 2}" '
                       f'height="{h:.1f}" fill="{COLOURS.get(s, "#999")}" data-series="{html.escape(s)}" '
                       f'data-group="{html.escape(group)}" data-value="{v!r}"><title>{html.escape(name)} '
                       f'{html.escape(group)}: {v / scale:.3g} {axis}</title></rect>')
        cx = x0 + len(series) * bar_w / 2
        out.append(f'<text x="{cx}" y="{height + 24}" text-anchor="end" '
                   f'transform="rotate(-30 {cx} {height + 24})">{html.escape(group)}</text>')
    out.append("</svg>" + "".join(f'<span class="key"><i style="background:{COLOURS.get(s, "#999")}"></i>'
                                  f'{html.escape((labels or {}).get(s, s))}</span>' for s in series) + "</figure>")
    return "".join(out)


def line_chart(title: str, commits: list[str], series: dict[str, list[float | None]]) -> str:
    """Time per commit (oldest first), one polyline per series, as inline SVG (ms)."""
    width, height, left = 60 + 60 * len(commits), 160, 56
    top = max((v for vs in series.values() for v in vs if v is not None), default=1) * 1e3 * 1.1
    out = [f'<figure class="chart"><figcaption>{html.escape(title)} (ms)</figcaption>'
           f'<svg class="history" width="{width + 20}" height="{height + 40}">']

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + 60 * i, 10 + height - height * v * 1e3 / top

    for name, vs in series.items():
        points = " ".join("{:.1f},{:.1f}".format(*xy(i, v)) for i, v in enumerate(vs) if v is not None)
        out.append(f'<polyline class="line" data-series="{name}" points="{points}" fill="none" '
                   f'stroke="{COLOURS.get(name, "#999")}" stroke-width="2"/>')
    out += [f'<text x="{left + 60 * i}" y="{height + 30}" text-anchor="middle">{c[:8]}</text>'
            for i, c in enumerate(commits)]
    out.append(f'<text x="{left - 4}" y="14" text-anchor="end">{top:.3g}</text></svg></figure>')
    return "".join(out)


# ---------------------------------------------------------------- the page's sections

def kernel_section(latest: dict, backends: list[str], overrides: dict[str, set[str]], ceiling: float | None) -> str:
    times, gflops = latest["values"].get(KERNEL_TIME, {}), latest["values"].get(KERNEL_GFLOPS, {})
    peaks, jit = latest["values"].get(KERNEL_PEAK, {}), latest["values"].get(JIT, {})
    sizes = sorted({size for _, _, size in times}, key=lambda size: (size != "small", size != "large", size))
    others = [b for b in backends if b != REFERENCE]
    out = ["<h2>Kernels</h2><p>Time of one call after a warm-up call (asv <code>Kernels.time_kernel</code>); "
           "ratio = backend / NumPy reference (lower is better; <span class='slower'>highlighted</span>: a backend "
           "that overrides the kernel is slower than the reference; grey: the backend runs the reference). "
           "GFLOP/s where the FLOPs are known" + (f" (in brackets: the share of the measured GEMM ceiling, "
                                                  f"{ceiling:.1f} GFLOP/s)" if ceiling else "") +
           "; peak MiB: the call's memory above the warmed-up baseline; first call: the Numba kernel's "
           "compilation (or cache load).</p>"]
    families = kernel_families()
    listed = {k for ks in families.values() for k in ks}
    families["Not in the catalogue"] = sorted({k for k, _, _ in times} - listed)
    for family, kernels in families.items():
        kernels = [k for k in kernels if any((k, b, s) in times for b in backends for s in sizes)]
        if not kernels:
            continue
        out.append(f"<h3>{html.escape(family)}</h3><div class='charts'>")
        for size in sizes:
            values = {(k, b): times[(k, b, size)] for k in kernels for b in backends if (k, b, size) in times}
            if values:
                out.append(bar_chart(f"{family}, {size}", kernels, backends, values))
        head = ("<tr><th>kernel</th><th>size</th>" + "".join(f"<th>{b}</th>" for b in backends)
                + "".join(f"<th>{b} / numpy</th>" for b in others)
                + "".join(f"<th>{b} GFLOP/s</th>" for b in backends)
                + "".join(f"<th>{b} peak MiB</th>" for b in backends) + "<th>numba first call</th></tr>")
        rows = []
        for k, size in itertools.product(kernels, sizes):
            if not any((k, b, size) in times for b in backends):
                continue
            tds = [f"<td>{k}</td><td>{size}</td>"]
            tds += [cell(f"time|{k}|{size}|{b}", times.get((k, b, size)), times.get((k, b, size))
                         and fmt_time(times[(k, b, size)])) for b in backends]
            ref = times.get((k, REFERENCE, size))
            for b in others:
                t = times.get((k, b, size))
                r = t / ref if t is not None and ref else None
                own = k in overrides.get(b, set())
                cls = "same" if not own else "slower" if r is not None and r > 1 else ""
                tip = "" if own else f"{b} runs the NumPy reference for {k}"
                tds.append(cell(f"ratio|{k}|{size}|{b}", r, r and f"{r:.2f}x", cls, tip))
            for b in backends:
                g = gflops.get((k, b, size))
                share = f" ({100 * g / ceiling:.0f}%)" if g is not None and ceiling else ""
                tds.append(cell(f"gflops|{k}|{size}|{b}", g, g and f"{g:.1f}{share}",
                                title=share and f"{share.strip(' ()')} of the GEMM ceiling"))
            tds += [cell(f"peak|{k}|{size}|{b}", peaks.get((k, b, size)),
                         peaks.get((k, b, size)) is not None and f"{peaks[(k, b, size)]:.2f}") for b in backends]
            first = jit.get((k,)) if size == sizes[0] else None
            tds.append(cell(f"jit|{k}", first, first and fmt_time(first)))
            rows.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</div><table>" + head + "".join(rows) + "</table>")
    return "".join(out)


def workload_section(runs: list[dict], backends: list[str], torch_run: dict | None) -> str:
    latest = runs[-1]
    times, peaks = latest["values"].get(STEP_TIME, {}), latest["values"].get(STEP_PEAK, {})
    workloads = list(dict.fromkeys(w for w, _ in times))
    if not workloads:
        return "<h2>Training steps (asv)</h2><p>No <code>TrainingStep</code> results for this commit.</p>"
    torch_ms = {w: c["median"] for w, row in (torch_run or {}).get("results", {}).items()
                if (c := row["frameworks"].get("torch"))}
    others = [b for b in backends if b != REFERENCE]
    out = ["<h2>Training steps (asv)</h2><p>One full step (forward, loss, backward, optimizer update) of "
           "W1-W5 (<code>benchmarks/workloads.py</code>), asv <code>TrainingStep.time_step</code>; ratios to the "
           "NumPy backend and to PyTorch CPU (its median in the side-by-side run below, another process and "
           "time); peak MiB: the step alone, in a fresh process above the warmed-up baseline "
           "(<code>StepMemory</code>, as <code>peak_memory.py</code>).</p><div class='charts'>"]
    for w in workloads:
        values = {(w, b): times[(w, b)] for b in backends if (w, b) in times}
        if w in torch_ms:
            values[(w, "torch")] = torch_ms[w] / 1e3
        out.append(bar_chart(w, [w], [*backends, "torch"], values, NAMES))
    out.append("</div><table><tr><th>workload</th>" + "".join(f"<th>{b}</th>" for b in backends)
               + "".join(f"<th>{b} / numpy</th>" for b in others)
               + "".join(f"<th>{b} / PyTorch CPU</th>" for b in backends)
               + "".join(f"<th>{b} peak MiB</th>" for b in backends) + "</tr>")
    for w in workloads:
        tds = [f"<td>{w}</td>"] + [cell(f"step|{w}|{b}", times.get((w, b)), times.get((w, b))
                                        and fmt_time(times[(w, b)])) for b in backends]
        for b in others:
            r = times[(w, b)] / times[(w, REFERENCE)] if (w, b) in times and (w, REFERENCE) in times else None
            tds.append(cell(f"step_ratio|{w}|{b}", r, r and f"{r:.2f}x", "slower" if r and r > 1 else ""))
        for b in backends:
            r = times[(w, b)] * 1e3 / torch_ms[w] if (w, b) in times and w in torch_ms else None
            tds.append(cell(f"step_vs_torch|{w}|{b}", r, r and f"{r:.2f}x"))
        tds += [cell(f"step_peak|{w}|{b}", peaks.get((w, b)), peaks.get((w, b)) is not None
                     and f"{peaks[(w, b)]:.1f}") for b in backends]
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</table>")
    history = [r for r in runs if r["values"].get(STEP_TIME)]
    if len(history) > 1:
        out.append("<h3>History across commits</h3><div class='charts'>")
        for w in workloads:
            series = {b: [r["values"][STEP_TIME].get((w, b)) for r in history] for b in backends}
            out.append(line_chart(w, [r["commit"] for r in history], series))
        out.append("</div>")
    return "".join(out)


def side_by_side_section(title: str, run: dict, torch_name: str) -> str:
    """A compare_torch / compare_peers / gpu_workloads JSON as a table and one chart per workload."""
    frameworks = run["frameworks"]
    names = {**NAMES, "torch": torch_name}
    label = {f: names.get(f, f"minidl {f}") for f in frameworks}
    refs = list(dict.fromkeys(r for r in (REFERENCE, "torch", run.get("minidl")) if r in frameworks))
    memory = {w: row["mib"] for w, row in (run.get("memory") or {}).items()}  # compare_torch: MiB per framework
    for w, row in run["results"].items():  # gpu_workloads: peak bytes in each cell
        peaks = {f: c["peak_bytes"] / 2**20 for f, c in row["frameworks"].items() if c and c.get("peak_bytes")}
        if peaks:
            memory[w] = peaks
    load = run.get("machine", {})
    out = [f"<h2>{html.escape(title)}</h2><p>{html.escape(run.get('date', ''))}, <code>"
           f"{html.escape(run.get('command', ''))}</code>" + (f"; load average {load['load_before']:.2f} before, "
                                                              f"{load['load_after']:.2f} after" if load else "")
           + ". A fresh process per framework and round, rounds rotated; median ms per step (OVH: us per op) "
           "[range of the per-round medians]; first step: the warm-up (JIT compilation) outside the "
           "timings.</p><div class='charts'>"]
    for w, row in run["results"].items():
        unit = row.get("unit", "ms")
        values = {(w, f): c["median"] / (1e3 if unit == "ms" else 1e6)
                  for f, c in row["frameworks"].items() if c and "median" in c}
        out.append(bar_chart(w, [w], frameworks, values, label))
    out.append("</div><table><tr><th>workload</th>" + "".join(f"<th>{label[f]}</th>" for f in frameworks)
               + "".join(f"<th>{label[f]} / {label[r]}</th>" for r in refs for f in frameworks if f != r)
               + "".join(f"<th>{label[f]} first step</th>" for f in frameworks)
               + ("".join(f"<th>{label[f]} peak MiB</th>" for f in frameworks) if memory else "") + "</tr>")
    kind = run.get("kind", "torch")
    for w, row in run["results"].items():
        unit = row.get("unit", "ms")
        cells = {f: c for f, c in row["frameworks"].items() if c and "median" in c}
        tds = [f"<td>{w}</td>"]
        for f in frameworks:
            c = cells.get(f)
            error = (row["frameworks"].get(f) or {}).get("error")
            if error:
                tds.append(f'<td class="na" title="{html.escape(error)}">error: {html.escape(error[:40])}</td>')
                continue
            tds.append(cell(f"{kind}|{w}|{f}", c and c["median"], c and f"{c['median']:.3g} {unit} "
                            f"[{min(c['round_medians']):.3g}-{max(c['round_medians']):.3g}]"))
        for r in refs:
            for f in frameworks:
                if f == r:
                    continue
                x = cells[f]["median"] / cells[r]["median"] if f in cells and r in cells else None
                tds.append(cell(f"{kind}_ratio|{w}|{f}|{r}", x, x and f"{x:.2f}x"))
        tds += [cell(f"{kind}_first|{w}|{f}", cells[f].get("first_step") if f in cells else None,
                     f in cells and cells[f].get("first_step") is not None and f"{cells[f]['first_step']:.3g} {unit}")
                for f in frameworks]
        if memory:
            mib = memory.get(w, {})
            tds += [cell(f"{kind}_peak|{w}|{f}", mib.get(f), mib.get(f) is not None and f"{mib[f]:.1f}")
                    for f in frameworks]
        out.append("<tr>" + "".join(tds) + "</tr>")
    return "".join(out) + "</table>"


STYLE = """body{font:14px sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child,td:nth-child(2){text-align:left}
.slower{background:#f8c8c8;font-weight:bold}.same{color:#999}.na{color:#bbb}.charts{display:flex;flex-wrap:wrap}
figure.chart{margin:0 1em 1em 0}figcaption{font-weight:bold}svg text{font-size:10px}
.key{margin-right:1em;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:3px}"""


def build(results_dir: Path, out: Path, torch: Path | None = None, peers: Path | None = None,
          gpu: Path | None = None) -> Path:
    """Write the comparison page to ``out`` from the asv results and the side-by-side JSON files given."""
    machine, runs = read_asv(results_dir)
    latest = runs[-1]
    tested = {p[1] for name in (KERNEL_TIME, STEP_TIME) for p in latest["values"].get(name, {})}
    missing, overrides = backend_facts()
    from minidl.backends import known

    backends = [b for b in known() if b in tested]
    ceiling = latest["values"].get(CEILING, {}).get(())
    side = {name: json.loads(p.read_text()) for name, p in (("torch", torch), ("peers", peers), ("gpu", gpu))
            if p is not None}
    not_run = [b for b in known() if b not in tested]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>minidl: backends compared</title>"
             "<link rel='icon' href='data:,'>"
             f"<style>{STYLE}</style></head><body><p><a href='index.html'>asv dashboard</a></p>"
             "<h1>minidl: backends compared</h1>",
             f"<p>Machine <b>{html.escape(machine)}</b>, commit <code>{latest['commit'][:12]}</code> "
             f"({datetime.fromtimestamp(latest['date'] / 1e3, UTC):%Y-%m-%d %H:%M} UTC). Measured GEMM ceiling "
             + (f"(NumPy float32 2048<sup>3</sup>): <b data-key='ceiling' data-value='{ceiling!r}'>{ceiling:.1f} "
                "GFLOP/s</b>." if ceiling else "not measured (<code>asv run -b GemmCeiling</code>).") + "</p>",
             "<p>Backends measured: " + ", ".join(f"<b class='backend'>{b}</b>" for b in backends) + ".</p>"]
    if not_run:
        parts.append("<p>Not measured here (not installed or no device):</p><ul class='not-installed'>" + "".join(
            f"<li data-backend='{b}'><b>{b}</b>: {html.escape(missing.get(b, 'no results in this run'))}</li>"
            for b in not_run) + "</ul>")
    parts.append(kernel_section(latest, backends, overrides, ceiling))
    parts.append(workload_section(runs, backends, side.get("torch")))
    if "torch" in side:
        parts.append(side_by_side_section("Side by side: minidl and PyTorch CPU (compare_torch.py)",
                                          side["torch"], "PyTorch CPU"))
    if "peers" in side:
        parts.append(side_by_side_section("Side by side: DeZero and Chainer (compare_peers.py)", side["peers"],
                                          "PyTorch CPU"))
    if "gpu" in side:
        parts.append(side_by_side_section(f"GPU: minidl's GPU backends and PyTorch CUDA (gpu_workloads.py), "
                                          f"{side['gpu'].get('device', '')}", side["gpu"] | {"kind": "gpu"},
                                          "PyTorch CUDA"))
    parts.append("</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "asv.conf.json", help="asv config file")
    parser.add_argument("--torch", type=Path, help="compare_torch.py --json output")
    parser.add_argument("--peers", type=Path, help="compare_peers.py --json output")
    parser.add_argument("--gpu", type=Path, help="gpu_workloads.py --json output")
    parser.add_argument("--out", type=Path, help="default: <html_dir>/compare.html")
    args = parser.parse_args(argv)
    config = args.config.resolve()
    conf = json.loads(config.read_text())
    results = (config.parent / conf.get("results_dir", "results")).resolve()
    out = args.out or (config.parent / conf.get("html_dir", "html")).resolve() / "compare.html"
    print(build(results, out, args.torch, args.peers, args.gpu))


if __name__ == "__main__":
    main()
