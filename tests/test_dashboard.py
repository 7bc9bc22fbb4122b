"""The asv dashboard in a real browser: published from a tiny asv run, served on 127.0.0.1, loaded
in headless Chromium with every host but 127.0.0.1 unreachable.

Skips when Chromium (or npm with an empty tarball cache) is missing. About 20 s. Screenshots go to
$MINIDL_DASHBOARD_SHOTS when set (else a temporary folder).
"""

from __future__ import annotations

import http.server
import json
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
    """(base url, html dir, request log) of a dashboard published from a two-kernel asv run."""
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
                          "--set-commit-hash", commit, "-b", r"Kernels.time_kernel\('(matmul|softmax)'"],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = pdash.publish(config)
    handler = type("H", (_Handler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", html, handler.requests
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
    _, html, _ = site
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
    base, html, requests = site
    dom, log = chromium(f"{base}/index.html", tmp_path / "p1", "--dump-dom")
    assert SWALLOW not in dom, log
    assert not BAD.search(log), log
    # the summary grid: one box per benchmark, named after it
    assert "summarygrid" in dom and "bench_kernels.Kernels.time_kernel" in dom, dom[-3000:]
    loaded = {p.split("?")[0] for p, code in requests if code == 200}
    for v in pdash.VENDOR.values():
        assert f"/vendor/{Path(v.member).name}" in loaded

    # the benchmark list: the kernels this run measured, with a value, one row per backend
    dom, log = chromium(f"{base}/index.html#summarylist", tmp_path / "p3", "--dump-dom")
    assert SWALLOW not in dom and not BAD.search(log), log
    for backend in ("numpy", "numba"):
        row = re.search(r"\('matmul', '" + backend + r"', 'small'\)</a></td>"
                        r'<td class="value"[^>]*><span[^>]*>([^<]+)</span>', dom)
        assert row and re.fullmatch(r"[\d.]+\S?s", row.group(1)), (backend, row and row.group(1))

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
