"""The asv dashboard and the comparison page in a real browser: published from a tiny asv run (two
kernels, the GEMM ceiling, one training step) and a tiny ``compare_torch.py`` run, served on 127.0.0.1,
loaded in headless Chromium with every host but 127.0.0.1 unreachable.

Skips when Chromium (or npm with an empty tarball cache) is missing. About 40 s. Screenshots go to
$MINIDL_DASHBOARD_SHOTS when set (else a temporary folder).
"""

from __future__ import annotations

import ast
import http.server
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import publish_dashboard as pdash  # noqa: E402

from minidl.backends import available, known  # noqa: E402

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SWALLOW = "Can not determine continental origin of swallow"
# Chrome console lines that mean a script or style did not load (stderr with --enable-logging)
BAD = re.compile(r"integrity|Failed to load|net::ERR|Uncaught|blocked|Refused to", re.I)

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(shutil.which("npm") is None and not all(pdash._cached(s).exists() for s in pdash.TARBALLS),
                       reason="npm is missing and the dashboard tarballs are not cached"),
]


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[tuple[str, int]] = []

    def log_request(self, code="-", size="-") -> None:  # record instead of printing
        self.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_error(self, *args) -> None:  # 404s are recorded by log_request
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base url, html dir, request log, {"results": asv results dir, "torch": compare_torch JSON}) of a
    dashboard published from a two-kernel asv run and a one-workload compare_torch run."""
    tmp = tmp_path_factory.mktemp("asv")
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), env_dir=str(tmp / "env"),
                results_dir=str(tmp / "results"), html_dir=str(tmp / "html"))
    config = tmp / "asv.conf.json"
    config.write_text(json.dumps(conf))
    asv = [sys.executable, "-m", "asv"]
    env = {**os.environ, "MINIDL_BENCH_SIZES": "small"}
    if not (Path.home() / ".asv-machine.json").exists():
        subprocess.run([*asv, "machine", "--yes", "--config", str(config)], cwd=tmp, env=env, check=True,
                       capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    run = subprocess.run([*asv, "run", "--config", str(config), "--python=same", "--quick",
                          "--set-commit-hash", commit, "-b",
                          r"Kernel(s.time_kernel|Flops.track_gflops)\('(matmul|softmax)'|GemmCeiling|TrainingStep.time_step\('W2-B4'"],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    torch_json = tmp / "compare_torch.json"
    side = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_torch.py"), "--workloads", "W2-B4",
                           "--frameworks", "torch", "numpy", "--rounds", "1", "--steps", "2", "--warmup", "1",
                           "--threads", "1", "--no-memory", "--json", str(torch_json)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert side.returncode == 0, side.stderr[-3000:]
    html = pdash.publish(config, torch=torch_json)
    handler = type("H", (_Handler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield (f"http://127.0.0.1:{server.server_address[1]}", html, handler.requests,
           {"results": tmp / "results", "torch": torch_json})
    server.shutdown()
    server.server_close()


def chromium(url: str, profile: Path, *extra: str) -> tuple[str, str]:
    """Load url headless; (stdout, the console and network lines of stderr)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing but loopback resolves
           "--virtual-time-budget=10000", "--window-size=1280,900", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    noise = re.compile(r"dbus|idle_linux|vaapi|sandbox_linux|gpu_init|unexpected operator|Fontconfig")
    log = "\n".join(line for line in out.stderr.splitlines() if not noise.search(line))
    return out.stdout, log


def test_vendored_files_match_the_pages_integrity(site):
    _, html, _, _ = site
    page = (html / "index.html").read_text()
    for v in pdash.VENDOR.values():
        name = Path(v.member).name
        tag = re.search(r'<(?:script|link)\b[^>]*"vendor/' + re.escape(name) + r'"[^>]*>', page)
        assert tag, name
        integrity = re.search(r'integrity="([^"]+)"', tag.group(0)).group(1)
        assert integrity == v.sri
        assert pdash.check_sri((html / "vendor" / name).read_bytes(), integrity), name
    assert not re.findall(r'(?:src|href)="https?://(?!github\.com)', page)


def test_index_and_graph_page_render_offline(site, tmp_path):
    base, html, requests, _ = site
    dom, log = chromium(f"{base}/index.html", tmp_path / "p1", "--dump-dom")
    assert SWALLOW not in dom, log
    assert not BAD.search(log), log
    # the summary grid: one box per benchmark, named after it
    assert "summarygrid" in dom and "bench_kernels.Kernels.time_kernel" in dom, dom[-3000:]
    assert '<a href="compare.html">Backends compared</a>' in dom  # the comparison page is linked
    loaded = {p.split("?")[0] for p, code in requests if code == 200}
    for v in pdash.VENDOR.values():
        assert f"/vendor/{Path(v.member).name}" in loaded

    # the benchmark list: the kernels this run measured, with a value, one row per backend
    dom, log = chromium(f"{base}/index.html#summarylist", tmp_path / "p3", "--dump-dom")
    assert SWALLOW not in dom and not BAD.search(log), log
    for backend in ("numpy", "numba"):
        row = re.search(r"Kernels\.time_kernel</a><a [^>]*> \('matmul', '" + backend + r"', 'small'\)</a></td>"
                        r'<td class="value"[^>]*><span[^>]*>([^<]+)</span>', dom)
        assert row and re.fullmatch(r"[\d.]+\S?s", row.group(1)), (backend, row and row.group(1))
    for backend in set(known()) - set(available()):  # not installed: not listed as if measured
        assert f"'{backend}'" not in dom, backend

    url = f"{base}/index.html#{pdash.GRAPH}?{pdash.GRAPH_QUERY}"
    dom, log = chromium(url, tmp_path / "p2", "--dump-dom")
    assert SWALLOW not in dom, log
    assert not BAD.search(log), log
    assert 'class="flot-base"' in dom, dom[-3000:]  # flot drew the plot canvas
    ticks = re.findall(r'class="flot-tick-label[^"]*"[^>]*>([^<]*)<', dom)
    assert {"numpy", "numba"} <= set(ticks), ticks  # backends on the x axis

    # only the graphs of benchmarks this tiny run skipped are missing
    missing = [p for p, code in requests if code != 200]
    assert all(p.startswith("/graphs/") for p in missing), missing

    shots = Path(os.environ.get("MINIDL_DASHBOARD_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    for name, page in (("grid", f"{base}/index.html"), ("list", f"{base}/index.html#summarylist"),
                       ("graph", url)):
        chromium(page, tmp_path / f"s-{name}", f"--screenshot={shots / f'dashboard_{name}.png'}")
        assert (shots / f"dashboard_{name}.png").stat().st_size > 10_000


def _asv_values(results: Path, benchmark: str) -> dict[tuple, float]:
    """{params: value} of one benchmark in the run's asv results file, read here independently of report.py."""
    (path,) = [p for p in results.glob("*/*.json") if p.name != "machine.json"]
    run = json.loads(path.read_text())
    row = run["results"][benchmark]
    result, params = (row[run["result_columns"].index(c)] for c in ("result", "params"))
    combos = itertools.product(*[[ast.literal_eval(p) for p in ps] for ps in params]) if params else [()]
    return {c: v for c, v in zip(combos, result, strict=True) if v is not None and not math.isnan(v)}


def _cells(dom: str) -> dict[str, tuple[float, str]]:
    """{data-key: (data-value, text)} of the comparison page's table cells."""
    return {k: (float(v), t) for k, v, t in re.findall(r'<td data-key="([^"]+)" data-value="([^"]+)"[^>]*>([^<]*)<',
                                                       dom)}


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"s": 1, "ms": 1e-3, "us": 1e-6}[unit]


def test_compare_page_renders_offline(site, tmp_path):
    base, html, requests, data = site
    before = len(requests)
    dom, log = chromium(f"{base}/compare.html", tmp_path / "c1", "--dump-dom")
    assert not BAD.search(log), log
    assert [p for p, _ in requests[before:]] == ["/compare.html"]  # the page loads nothing else
    assert "<h1>minidl: backends compared</h1>" in dom, dom[:2000]

    # every installed backend has its column; the others are listed as not installed, not as columns
    for b in available():
        assert f"<th>{b}</th>" in dom, b
    for b in set(known()) - set(available()):
        assert f"<th>{b}</th>" not in dom and f'data-backend="{b}"' in dom, b

    # the values shown are those of asv's results file and of compare_torch's JSON, exactly
    cells = _cells(dom)
    times = _asv_values(data["results"], "bench_kernels.Kernels.time_kernel")
    assert {k for k, b, _ in times} == {"matmul", "softmax"} and {b for _, b, _ in times} == set(available())
    for (k, b, size), t in times.items():
        value, text = cells[f"time|{k}|{size}|{b}"]
        assert value == t and math.isclose(_seconds(text), t, rel_tol=5e-3), (k, b, value, text, t)
        if b != "numpy":
            assert math.isclose(cells[f"ratio|{k}|{size}|{b}"][0], t / times[(k, "numpy", size)], rel_tol=1e-12)
    for (k, b, size), g in _asv_values(data["results"], "bench_kernels.KernelFlops.track_gflops").items():
        assert cells[f"gflops|{k}|{size}|{b}"][0] == g
    (ceiling,) = _asv_values(data["results"], "bench_kernels.GemmCeiling.track_gemm_gflops").values()
    assert f'data-value="{ceiling!r}"' in dom
    steps = _asv_values(data["results"], "bench_workloads.TrainingStep.time_step")
    assert {w for w, _ in steps} == {"W2-B4"}
    side = json.loads(data["torch"].read_text())["results"]["W2-B4"]["frameworks"]
    for (w, b), t in steps.items():
        assert cells[f"step|{w}|{b}"][0] == t
        assert math.isclose(cells[f"step_vs_torch|{w}|{b}"][0], t * 1e3 / side["torch"]["median"], rel_tol=1e-12)
    for f in ("torch", "numpy"):
        assert cells[f"torch|W2-B4|{f}"][0] == side[f]["median"]

    # the bar charts: one bar per backend in each group, both series drawn, heights in proportion
    bars = re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"[^>]*data-series="([^"]+)" data-group="([^"]+)" '
                      r'data-value="([^"]+)"', dom)
    matmul = {s: (float(h), float(v)) for h, s, g, v in bars if g == "matmul"}
    assert set(matmul) == set(available()) and len(matmul) >= 2, bars
    assert all(h > 1 for h, _ in matmul.values())
    assert {v for _, v in matmul.values()} == {t for (k, _, _), t in times.items() if k == "matmul"}
    (h0, v0), (h1, v1) = list(matmul.values())[:2]
    assert math.isclose(h0 / h1, v0 / v1, rel_tol=0.05)
    step_bars = {s for _, s, g, _ in bars if g == "W2-B4"}
    assert {"torch", *available()} <= step_bars, step_bars

    shots = Path(os.environ.get("MINIDL_DASHBOARD_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    chromium(f"{base}/compare.html", tmp_path / "c2", f"--screenshot={shots / 'dashboard_compare.png'}")
    assert (shots / "dashboard_compare.png").stat().st_size > 10_000
