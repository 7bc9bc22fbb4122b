"""mkdocs hook: the site serves its own MathJax, taken from the npm registry at build time (no CDN).

``pymdownx.arithmatex`` (generic mode) leaves every formula in the HTML as ``\\( ... \\)`` or
``\\[ ... \\]`` inside an element of class ``arithmatex``; MathJax typesets them in the browser. This
hook adds to the site, under ``assets/mathjax/``:

- ``config.js``: MathJax's configuration for arithmatex's output (mkdocs-material's recommended one);
- ``tex-chtml.js`` and the woff-v2 fonts it loads (from ``output/chtml/fonts/woff-v2`` next to itself),
  read from the ``mathjax`` npm tarball, version pinned and checked against npm's integrity hash.

``mkdocs.yml`` lists the two scripts in ``extra_javascript``. The tarball is fetched once with
``npm pack`` into ``$MINIDL_DOCS_CACHE`` (default ``~/.cache/minidl/docs``) and read from there after;
without npm and without a cached copy the build stops with a message that says so.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

MATHJAX = "3.2.2"
# npm's ``dist.integrity`` of mathjax-3.2.2.tgz (``npm view mathjax@3.2.2 dist.integrity``)
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
DEST = "assets/mathjax/"
SCRIPT = "package/es5/tex-chtml.js"
FONTS = "package/es5/output/chtml/fonts/woff-v2/"

CONFIG = r"""window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true,
        processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
"""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def tarball() -> Path:
    """The checked ``mathjax-<MATHJAX>.tgz`` in the cache, fetched with ``npm pack`` when missing."""
    cache = Path(os.environ.get("MINIDL_DOCS_CACHE") or Path.home() / ".cache" / "minidl" / "docs")
    path = cache / f"mathjax-{MATHJAX}.tgz"
    if path.exists() and _integrity(path) == INTEGRITY:
        return path
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError(f"vendor_math: {path} is missing and npm is not installed to fetch mathjax@{MATHJAX}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        run = subprocess.run([npm, "pack", f"mathjax@{MATHJAX}", "--pack-destination", tmp],
                             capture_output=True, text=True)
        fetched = Path(tmp) / f"mathjax-{MATHJAX}.tgz"
        if run.returncode != 0 or not fetched.exists():
            raise PluginError(f"vendor_math: npm pack mathjax@{MATHJAX} failed:\n{run.stderr[-2000:]}")
        got = _integrity(fetched)
        if got != INTEGRITY:
            raise PluginError(f"vendor_math: mathjax@{MATHJAX} has integrity {got}, expected {INTEGRITY}")
        os.replace(fetched, path)  # atomic: a cached file is always a whole, checked one
    return path


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add MathJax's script, its fonts and the configuration to the site's files."""
    with tarfile.open(tarball()) as tar:
        for member in tar.getmembers():
            name = member.name
            if member.isfile() and (name == SCRIPT or (name.startswith(FONTS) and name.endswith(".woff"))):
                content = tar.extractfile(member).read()
                files.append(File.generated(config, DEST + name.removeprefix("package/es5/"), content=content))
    files.append(File.generated(config, DEST + "config.js", content=CONFIG))
    return files
