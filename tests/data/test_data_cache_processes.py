"""The cache with more than one process: a per-data-set lock, and cleaning up after a fetch killed by kill -9.

Each test starts real Python processes that fetch from a fake local route (no network): a function
that writes the file, after a pause long enough for the other process, or the kill, to happen.
"""

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from minidl.data.cache import Route, ensure_files

HELLO_MD5 = hashlib.md5(b"hello").hexdigest()

# argv: cache root, a work folder for markers, what the route does ("slow" or "hang")
FETCHER = f"""
import os, sys, time
from pathlib import Path
from minidl.data.cache import Route, ensure_files

root, work, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

def download(dest):
    with open(work / "downloads", "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    if mode == "hang":  # a big download, cut short: part of it on disk, then wait to be killed
        (dest / "hello.txt").write_bytes(bytes(1 << 20))
        (work / "started").touch()
        time.sleep(60)
    time.sleep(0.5)
    (dest / "hello.txt").write_bytes(b"hello")

# a barrier: every process calls ensure_files only when all of them are ready (or after 60 s: one crashed)
(work / f"ready-{{os.getpid()}}").touch()
deadline = time.monotonic() + 60
while len(list(work.glob("ready-*"))) < int(os.environ.get("PROCESSES", "1")) and time.monotonic() < deadline:
    time.sleep(0.01)
print(ensure_files("demo", {{"hello.txt": "{HELLO_MD5}"}}, [Route("download", download)], "", root=root).route)
"""


def start(root: Path, work: Path, mode: str, processes: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PROCESSES": str(processes), "TMPDIR": str(work / "tmp")}
    return subprocess.Popen([sys.executable, "-c", FETCHER, str(root), str(work), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def work(tmp_path):
    (tmp_path / "work" / "tmp").mkdir(parents=True)
    return tmp_path / "work"


def test_two_processes_fetching_the_same_data_set_download_it_once(tmp_path, work):
    procs = [start(tmp_path / "cache", work, "slow", processes=2) for _ in range(2)]
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()  # only if still running: a hung test must not leave its processes behind
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert len((work / "downloads").read_text().splitlines()) == 1  # the second one waited, then found it
    assert sorted(out.strip() for out, _ in outputs) == ["cache", "download"]
    assert (tmp_path / "cache" / "demo" / "hello.txt").read_bytes() == b"hello"


def test_a_fetch_killed_by_sigkill_leaves_nothing_after_the_next_fetch(tmp_path, work, monkeypatch):
    proc = start(tmp_path / "cache", work, "hang")
    try:
        deadline = time.monotonic() + 60
        while not (work / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the fetching process never started its download"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-download (or, if the test failed, so as not to leave it behind)
        proc.communicate(timeout=30)
    folder = tmp_path / "cache" / "demo"
    leftovers = [*(work / "tmp").iterdir(), *folder.glob(".fetch-*")]
    assert leftovers, "the kill should have left the partial download behind"

    monkeypatch.setattr(tempfile, "tempdir", str(work / "tmp"))  # the same temporary folder as the killed process
    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("download", _hello)], "", root=tmp_path / "cache")
    assert report.route == "download"
    assert list((work / "tmp").iterdir()) == []
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "hello.txt"]


def _hello(dest: Path) -> None:
    (dest / "hello.txt").write_bytes(b"hello")
