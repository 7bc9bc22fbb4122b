"""Publish the asv dashboard so that it works offline, and serve it on 127.0.0.1.

    python benchmarks/publish_dashboard.py            # asv publish + vendor the JS/CSS
    python benchmarks/publish_dashboard.py --serve    # ... then serve on http://127.0.0.1:8080

asv's HTML loads jQuery, flot, bootstrap and friends from CDNs, which a machine without the web
cannot reach. This script fetches the same files from the npm registry (``npm pack``), puts them
in ``.asv/html/vendor/`` and rewrites the pages to use them. (``asv preview`` binds every network
interface; we serve on loopback only.)
"""

from __future__ import annotations

import argparse
import http.server
import re
import subprocess
import sys
import tarfile
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / ".asv" / "html"

# CDN address -> (npm package@version, file inside the package tarball)
VENDOR = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "package/dist/jquery.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "package/dist/css/bootstrap.min.css"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "package/dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5@2.19.0", "package/js/md5.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "package/jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "package/jquery.flot.categories.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "package/jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot@0.8.3", "package/jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "package/stupidtable.min.js"),
}


def vendor(html_dir: Path) -> list[str]:
    """Download every CDN file through npm into html_dir/vendor and point the pages at it."""
    out = html_dir / "vendor"
    out.mkdir(parents=True, exist_ok=True)
    packs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec, member in VENDOR.values():
            if spec not in packs:
                name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1]
                packs[spec] = Path(tmp) / name
            with tarfile.open(packs[spec]) as tar:
                data = tar.extractfile(member).read()
            (out / Path(member).name).write_bytes(data)
    missing = []
    for page in html_dir.glob("*.html"):
        text = page.read_text()
        for url, (_, member) in VENDOR.items():
            text = text.replace(url, f"vendor/{Path(member).name}")
        left = re.findall(r'(?:src|href)="(https?://(?!github\.com)[^"]+)"', text)
        missing += [f"{page.name}: {u}" for u in left]
        page.write_text(text)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "asv", "publish"], cwd=ROOT, check=True)
    missing = vendor(HTML)
    if missing:
        print("still loaded from the web:", *missing, sep="\n  ")
    print(f"dashboard: {HTML / 'index.html'}")
    if args.serve:
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
        with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            print(f"serving on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
            server.serve_forever()


if __name__ == "__main__":
    main()
