"""Helpers for the data tests: an isolated cache, fake command-line tools, small files in the real formats.

No test here touches the network: the registry tools (npm, apt-get, dpkg-deb, pip) are replaced by
small shell scripts on PATH that copy prepared files, and mirrors are ``file://`` URLs.
"""

import hashlib
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from minidl.data.datasets.idx import write_idx


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own MINIDL_DATA, so nothing reads or writes the user's cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MINIDL_DATA", str(root))
    return root


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_tool(bindir: Path, name: str, script: str) -> Path:
    """Write an executable shell script ``bindir/name``."""
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / name
    path.write_text("#!/bin/sh\nset -e\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """A folder put first on PATH for fake tools; ``tools.only()`` makes it the whole PATH (hiding real tools)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")

    class Tools:
        dir = bindir

        def add(self, name, script):
            return make_tool(bindir, name, script)

        def only(self):
            monkeypatch.setenv("PATH", str(bindir))

    return Tools()


@pytest.fixture
def small_mnist(tmp_path):
    """Four small IDX files in MNIST's layout (train: 12 images, test: 5), raw and gzipped, and their MD5s."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5).astype(np.uint8),
    }
    raw, gz = tmp_path / "raw", tmp_path / "gz"
    raw.mkdir()
    gz.mkdir()
    for name, a in arrays.items():
        write_idx(raw / name, a)
        write_idx(gz / f"{name}.gz", a)
    checksums = {name: md5(raw / name) for name in arrays}

    return SimpleNamespace(arrays=arrays, raw=raw, gz=gz, md5=checksums)
