"""Saving to a path: temporaries left by a killed save are cleaned up, modes are kept, special files refused."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minidl
from minidl.io import CheckpointError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file semantics (flock, FIFOs, modes)")

SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    import minidl
    state = {"w": np.random.default_rng(0).standard_normal(3_000_000)}  # 24 MB
    while True:
        minidl.save(state, sys.argv[1])
""")


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def kill_during_save(target, attempts=20):
    """Start a process that saves to ``target`` in a loop and SIGKILL it while a temporary exists."""
    for _ in range(attempts):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(target)])
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    p.stat().st_size > 0 for p in target.parent.glob("*.tmp") if p.exists()):
                time.sleep(0.001)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        if temporaries(target.parent):
            return
    pytest.fail("never caught the child in the middle of a save")


@posix_only
def test_a_later_save_removes_temporaries_left_by_kill_9(tmp_path):
    target = tmp_path / "c.npz"
    kill_during_save(target)
    assert temporaries(tmp_path)  # the killed save left its temporary behind
    minidl.save({"epoch": 2}, target)
    assert temporaries(tmp_path) == []
    assert minidl.load(target) == {"epoch": 2}


@posix_only
def test_temporaries_of_a_running_save_and_other_files_are_kept(tmp_path):
    import fcntl

    target = tmp_path / "c.npz"
    busy = tmp_path / ".c.npz.0123456789ab.tmp"  # a save in progress holds the lock on its temporary
    keep = [tmp_path / ".other.npz.0123456789ab.tmp", tmp_path / ".c.npz.mine.tmp", tmp_path / "c.npz.tmp"]
    for p in [busy, *keep]:
        p.write_bytes(b"x")
    with open(busy, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        minidl.save({"epoch": 1}, target)
        assert busy.exists()
    minidl.save({"epoch": 2}, target)  # now nobody holds it: stale
    assert not busy.exists() and all(p.exists() for p in keep)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_overwriting_keeps_the_file_mode(tmp_path, mode):
    target = tmp_path / "c.npz"
    minidl.save({"epoch": 1}, target)
    os.chmod(target, mode)
    minidl.save({"epoch": 2}, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert minidl.load(target) == {"epoch": 2}


@posix_only
def test_a_fifo_is_not_replaced(tmp_path):
    target = tmp_path / "pipe"
    os.mkfifo(target)
    with pytest.raises(CheckpointError, match="refusing to replace a FIFO"):
        minidl.save({"w": np.ones(2)}, target)
    assert stat.S_ISFIFO(os.stat(target).st_mode)
    assert temporaries(tmp_path) == []


def test_a_folder_is_not_replaced(tmp_path):
    with pytest.raises(CheckpointError, match="refusing to replace a folder"):
        minidl.save({"w": np.ones(2)}, tmp_path)
