"""Publish the asv dashboard so that it works offline, and serve it on 127.0.0.1.

    python benchmarks/publish_dashboard.py            # asv publish + vendor the JS/CSS + compare.html
    python benchmarks/publish_dashboard.py --serve    # ... then serve on http://127.0.0.1:8080
    python benchmarks/publish_dashboard.py --torch .asv/compare_torch.json --peers .asv/compare_peers.json

The comparison page (``report.py``: every backend side by side, with the PyTorch, DeZero/Chainer and GPU
runs given) is written to ``<html_dir>/compare.html`` and linked from the index's navigation bar.

asv's HTML loads jQuery, flot, bootstrap and friends from CDNs, which a machine without the web
cannot reach. This script fetches the same files from the npm registry (``npm pack``, tarballs
pinned by npm's own sha512 and cached under ``$MINIDL_DATA/dashboard``, default
``~/.cache/minidl/dashboard``), puts them in ``<html_dir>/vendor/`` and rewrites the pages to use
them. (``asv preview`` binds every network interface; we serve on loopback only.)

Subresource integrity is kept for every file. Five of the ten files on npm are not the bytes the
CDN serves (flot 0.8.3 ships unminified on npm, and npm has stupid-table-plugin 1.1.3 only, not the
CDN's 1.0.1); for exactly those tags the ``integrity=`` attribute is rewritten to the sha384 pinned
in ``VENDOR`` below, and every vendored file is checked against its pinned hash before a page
points at it. The other five are byte-identical to the CDN's and keep asv's own hashes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import partial
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]

# npm package@version -> the registry's dist.integrity of its tarball (`npm view <spec> dist.integrity`)
TARBALLS = {
    "jquery@3.3.1": "sha512-Ubldcmxp5np52/ENotGxlLe6aGMvmF4R8S6tZjsP6Knsaxd/xp3Zrh50cG93lR6nPXyUFwzN3ZSOQI0wRJNdGg==",
    "bootstrap@3.1.1":
        "sha512-TAzqS8E/ISpVHP29gYhy+1NSV+FJwApDVQhDfgLYsIuUDJiqJzH2DfORN5tiu+Ie2iBLrzEG34t4Rf465cigqg==",
    "flot-orderbars@1.0.0":
        "sha512-Jv51fvzevUjNXEeozpwEKfPjhiZhfiJddv0WHjduUTCmSF+7T5K7C9c9Y1wIVmUhDBv5fLMjgbwKecT0GIKPZA==",
    "blueimp-md5@2.19.0":
        "sha512-DRQrD6gJyy8FbiE4s+bDoXS9hiW3Vbx5uCdwvcCf3zLHL+Iv7LtGHLpr+GZV8rHG8tK766FGYBwRbu8pELTt+w==",
    "flot@0.8.3": "sha512-xg2otcTJDvS+ERK+my4wxG/ASq90QURXtoM4LhacCq0jQW2jbyjdttbRNqU2cPykrpMvJ6b2uSp6SAgYAzj9tQ==",
    "stupid-table-plugin@1.1.3":
        "sha512-2Vk7XouQPxUQPRe9w0Fu7ZZ8kHLK7rDoLMsCgtKxRNJ7f4dSOGvW9CkHsq5wD6QsaEnWoyLBYH3xOEsrK3yWBg==",
}


class Vendored(NamedTuple):
    spec: str  # npm package@version
    member: str  # file inside the tarball
    page_sri: str  # the integrity= asv 0.6's index.html gives the CDN address
    sri: str  # the hash of the file we vendor (== page_sri when byte-identical to the CDN's)


def _same(spec: str, member: str, sri: str) -> Vendored:
    return Vendored(spec, member, sri, sri)


_JQ, _CF, _JD = "https://code.jquery.com", "https://cdnjs.cloudflare.com/ajax/libs", "https://cdn.jsdelivr.net/npm"
VENDOR: dict[str, Vendored] = {
    # byte-identical to the CDN's file: asv's own hash stays
    f"{_JQ}/jquery-3.3.1.min.js": _same(
        "jquery@3.3.1", "package/dist/jquery.min.js", "sha256-FgpCb/KJQlLNfOu91ta32o/NMZxltwRo8QtmkMRdAu8="),
    f"{_JD}/bootstrap@3.1.1/dist/css/bootstrap.min.css": _same(
        "bootstrap@3.1.1", "package/dist/css/bootstrap.min.css", "sha256-6VA0SGkrc43SYPvX98q/LhHwm2APqX5us6Vuulsafps="),
    f"{_JD}/bootstrap@3.1.1/dist/js/bootstrap.min.js": _same(
        "bootstrap@3.1.1", "package/dist/js/bootstrap.min.js", "sha256-iY0FoX8s/FEg3c26R6iFw3jAtGbzDwcA5QJ1fiS0A6E="),
    f"{_JD}/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": _same(
        "flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js",
        "sha256-OXNbT0b5b/TgglckAfR8VaJ2ezZv0dHoIeRKjYMKEr8="),
    f"{_CF}/blueimp-md5/2.19.0/js/md5.min.js": _same(
        "blueimp-md5@2.19.0", "package/js/md5.min.js",
        "sha512-8pbzenDolL1l5OPSsoURCx9TEdMFTaeFipASVrMYKhuYtly+k3tcsQYliOEKTmuB1t7yuzAiVo+yd7SJz+ijFQ=="),
    # npm's file differs from the CDN's: the tag's integrity= is rewritten to the sha384 below
    f"{_CF}/flot/0.8.3/jquery.flot.min.js": Vendored(
        "flot@0.8.3", "package/jquery.flot.js",
        "sha512-eO1AKNIv7KSFl5n81oHCKnYLMi8UV4wWD1TcLYKNTssoECDuiGhoRsQkdiZkl8VUjoms2SeJY7zTSw5noGSqbQ==",
        "sha384-BEasWKcYLxJSe7Dd+oFIyT92mMKekrrit2ilFCODDydHzd4eReLNz3UYG/TF1b0v"),
    f"{_CF}/flot/0.8.3/jquery.flot.categories.min.js": Vendored(
        "flot@0.8.3", "package/jquery.flot.categories.js",
        "sha512-x4QGSZkQ57pNuICMFFevIhDer5NVB5eJCRmENlCdJukMs8xWFH8OHfzWQVSkl9VQ4+4upPPTkHSAewR6KNMjGA==",
        "sha384-yzh2w0jzVQMN+zU78Sn6vQ6Sjlv47t1/SJlLOYTC/BnpfzvDHkVyPmZbL7RD17aA"),
    f"{_CF}/flot/0.8.3/jquery.flot.selection.min.js": Vendored(
        "flot@0.8.3", "package/jquery.flot.selection.js",
        "sha512-3EUG0t3qfbLaGN3FXO86i+57nvxHOXvIb/xMSKRrCuX/HXdn1bkbqwAeLd6U1PDmuEB2cnKhfM+SGLAVQbyjWQ==",
        "sha384-EWb1fTmbkoRXdUSIBGPoXwWsjIrntLRianrZEsrLMLtJcmQ4SyIkY19Ic42ISGKH"),
    f"{_CF}/flot/0.8.3/jquery.flot.time.min.js": Vendored(
        "flot@0.8.3", "package/jquery.flot.time.js",
        "sha512-lcRowrkiQvFli9HkuJ2Yr58iEwAtzhFNJ1Galsko4SJDhcZfUub8UxGlMQIsMvARiTqx2pm7g6COxJozihOixA==",
        "sha384-KIXIWdEuZIzipZRAGOzqfrwF/z4Euro30f4MWlFxD6A39o51qSaMOGD84i20SMlW"),
    f"{_CF}/stupidtable/1.0.1/stupidtable.min.js": Vendored(
        "stupid-table-plugin@1.1.3", "package/stupidtable.min.js",
        "sha512-GM3Ds3dUrgkpKVXc+4RxKbQDoeTemdlzXxn5d/QCOJT6EFdEufu1UTVBpIFDLd6YjIhSThNe+zpo1mwqzNq4GQ==",
        "sha384-gGnTJbRKCn6K3iFprK1XL3RoTiYOV5813ZTfrjLPYyF3aCoz8DGPdrwY3Fy3PLNO"),
}

# The graph page a backend-comparing user wants first: one kernel's time with backends on the x axis
# (asv's default, x = commit, is an empty plot until there are several commits). Parameter values
# go in the address as asv stores them, Python reprs: 'matmul' -> %27matmul%27.
GRAPH = "bench_kernels.Kernels.time_kernel"
GRAPH_QUERY = "x-axis=backend&p-kernel=%27matmul%27&p-size=%27small%27"


def sri(data: bytes, alg: str = "sha384") -> str:
    """Subresource-integrity string (``alg-base64digest``) of data."""
    return f"{alg}-{base64.b64encode(hashlib.new(alg, data).digest()).decode()}"


def check_sri(data: bytes, expected: str) -> bool:
    return sri(data, expected.split("-", 1)[0]) == expected


def cache_dir() -> Path:
    base = os.environ.get("MINIDL_DATA") or Path.home() / ".cache" / "minidl"
    return Path(base) / "dashboard"


def _cached(spec: str) -> Path:
    name, version = spec.rsplit("@", 1)
    return cache_dir() / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def tarball(spec: str) -> Path:
    """The npm tarball of spec, from the cache or `npm pack`, checked against TARBALLS[spec]."""
    cache = cache_dir()
    path = _cached(spec)
    if path.exists() and check_sri(path.read_bytes(), TARBALLS[spec]):
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        data = (Path(tmp) / out).read_bytes()
    if not check_sri(data, TARBALLS[spec]):
        raise RuntimeError(f"npm pack {spec}: tarball does not match the pinned {TARBALLS[spec]}")
    tmp_path = path.with_suffix(".part")
    tmp_path.write_bytes(data)
    tmp_path.replace(path)
    return path


def _tag_re(url: str) -> re.Pattern[str]:
    return re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="' + re.escape(url) + r'"[^>]*>')


def _retarget(tag: str, url: str, v: Vendored, page: str) -> str:
    """One <script>/<link> tag pointed at vendor/, its integrity= set to the vendored file's hash."""
    got = re.search(r'integrity="([^"]*)"', tag)
    if got is None or got.group(1) != v.page_sri:
        raise RuntimeError(f"{page}: {url} has integrity {got and got.group(1)!r}, expected "
                           f"{v.page_sri!r}: asv changed, update VENDOR")
    tag = tag.replace(f'"{url}"', f'"vendor/{Path(v.member).name}"')
    return tag.replace(f'integrity="{v.page_sri}"', f'integrity="{v.sri}"')


def vendor(html_dir: Path) -> list[str]:
    """Put every CDN file into html_dir/vendor and point the pages at it, integrity kept.

    Returns the addresses the pages would still load from the web (empty when all is offline).
    Raises when a file does not match its pinned hash or asv's page no longer carries the hash
    this table was written against (a new asv version: re-check the table).
    """
    out = html_dir / "vendor"
    out.mkdir(parents=True, exist_ok=True)
    for v in VENDOR.values():
        with tarfile.open(tarball(v.spec)) as tar:
            data = tar.extractfile(v.member).read()
        if not check_sri(data, v.sri):
            raise RuntimeError(f"{v.spec}:{v.member} does not match the pinned {v.sri}")
        (out / Path(v.member).name).write_bytes(data)
    missing = []
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text()
        for url, v in VENDOR.items():
            text = _tag_re(url).sub(lambda m, url=url, v=v, name=page.name: _retarget(m.group(0), url, v, name), text)
        left = re.findall(r'(?:src|href)="(https?://(?!github\.com)[^"]+)"', text)
        missing += [f"{page.name}: {u}" for u in left]
        page.write_text(text)
    return missing


def html_dir_of(config: Path) -> Path:
    """asv's html_dir for a config file (relative paths are relative to the config's folder)."""
    conf = json.loads(config.read_text())
    return (config.parent / conf.get("html_dir", "html")).resolve()


NAV = '<li id="nav-li-summarylist">'
COMPARE_LINK = '<li id="nav-li-compare"><a href="compare.html">Backends compared</a></li>'


def link_compare(html: Path) -> None:
    """Put a "Backends compared" entry into the navigation bar of asv's index.html."""
    page = html / "index.html"
    text = page.read_text()
    if COMPARE_LINK in text:
        return
    if NAV not in text:
        raise RuntimeError(f"{page}: no {NAV!r} to put the comparison link after: asv changed")
    page.write_text(text.replace(NAV, COMPARE_LINK + "\n\t" + NAV, 1))


def publish(config: Path, torch: Path | None = None, peers: Path | None = None, gpu: Path | None = None) -> Path:
    """`asv publish` with config, then vendor, then the comparison page (``report.py``); the html folder."""
    import report

    subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(config)], cwd=config.parent,
                   check=True)
    html = html_dir_of(config)
    missing = vendor(html)
    if missing:
        raise SystemExit("still loaded from the web:\n  " + "\n  ".join(missing))
    results = (config.parent / json.loads(config.read_text()).get("results_dir", "results")).resolve()
    report.build(results, html / "compare.html", torch, peers, gpu)
    link_compare(html)
    return html


def serve(html: Path, port: int) -> None:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        print(f"serving on {base}/ (Ctrl-C to stop)")
        print(f"backends side by side: {base}/#{GRAPH}?{GRAPH_QUERY}")
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--config", type=Path, default=ROOT / "asv.conf.json", help="asv config file")
    parser.add_argument("--torch", type=Path, help="compare_torch.py --json output, for the comparison page")
    parser.add_argument("--peers", type=Path, help="compare_peers.py --json output")
    parser.add_argument("--gpu", type=Path, help="gpu_workloads.py --json output")
    args = parser.parse_args()
    if shutil.which("npm") is None and not all(_cached(spec).exists() for spec in TARBALLS):
        raise SystemExit("npm is needed once to fetch the dashboard's JavaScript (then it is cached)")
    html = publish(args.config.resolve(), args.torch, args.peers, args.gpu)
    print(f"dashboard: {html / 'index.html'}")
    print(f"backends compared: {html / 'compare.html'}")
    print(f"backends side by side (served): index.html#{GRAPH}?{GRAPH_QUERY}")
    if args.serve:
        serve(html, args.port)


if __name__ == "__main__":
    main()
