"""The cache: folder choice, checksums, atomic writes, and trying routes in order."""

import hashlib
import os
import stat
from pathlib import Path

import pytest

from minidl.data import cache
from minidl.data.cache import ChecksumError, DataUnavailableError, Route, RouteFailed, ensure_files

HELLO_MD5 = hashlib.md5(b"hello").hexdigest()


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "d"))
    assert cache.data_root() == tmp_path / "d"
    assert cache.dataset_dir("mnist") == tmp_path / "d" / "mnist"
    assert cache.dataset_dir("mnist", root=tmp_path) == tmp_path / "mnist"
    monkeypatch.delenv("MINIDL_DATA")
    assert cache.data_root() == Path.home() / ".cache" / "minidl"


def test_digests_match_hashlib(tmp_path):
    p = tmp_path / "f"
    data = bytes(range(256)) * 5000  # more than one 1 MiB read chunk
    p.write_bytes(data)
    assert cache.file_digest(p, "md5") == hashlib.md5(data).hexdigest()
    assert cache.file_digest(p, "sha256") == hashlib.sha256(data).hexdigest()


def test_verify_file_reports_a_mismatch(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"hello")
    cache.verify_file(p, HELLO_MD5)
    cache.verify_file(p, HELLO_MD5.upper())  # hex digits in either case
    with pytest.raises(ChecksumError, match=f"md5 is {hashlib.md5(b'hellO').hexdigest()}, expected {HELLO_MD5}"):
        p.write_bytes(b"hellO")
        cache.verify_file(p, HELLO_MD5)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    p = tmp_path / "sub" / "f.bin"
    cache.atomic_write_bytes(p, b"old")

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        cache.atomic_write_bytes(p, b"new content")
    assert p.read_bytes() == b"old"
    assert [q.name for q in p.parent.iterdir()] == ["f.bin"]  # the temporary file was removed


def _writer(content: bytes, name: str = "hello.txt"):
    def fetch(dest: Path) -> None:
        (dest / name).write_bytes(content)
    return fetch


def _failing(reason: str):
    def fetch(dest: Path) -> None:
        raise RouteFailed(reason)
    return fetch


def test_ensure_files_tries_routes_in_order_and_skips_bad_checksums(tmp_path):
    calls = []

    def spy(label, fn):
        def fetch(dest):
            calls.append(label)
            fn(dest)
        return Route(label, fetch)

    routes = [spy("broken", _failing("tool missing")), spy("wrong file", _writer(b"HELLO")),
              spy("good", _writer(b"hello")), spy("never", _writer(b"hello"))]
    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, routes, "by hand", root=tmp_path)
    assert calls == ["broken", "wrong file", "good"]
    assert report.route == "good"
    assert report.paths == {"hello.txt": tmp_path / "demo" / "hello.txt"}
    assert (tmp_path / "demo" / "hello.txt").read_bytes() == b"hello"
    assert [a[0] for a in report.attempts] == [f"cache {tmp_path / 'demo'}", "broken", "wrong file"]
    assert "ChecksumError" not in report.attempts[2][1] and "expected " + HELLO_MD5 in report.attempts[2][1]

    # second call: served from the verified cache, no route runs
    calls.clear()
    again = ensure_files("demo", {"hello.txt": HELLO_MD5}, routes, "by hand", root=tmp_path)
    assert again.route == "cache" and calls == []


def test_a_corrupt_cached_file_is_fetched_again(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "hello.txt").write_bytes(b"hel")  # truncated
    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", _writer(b"hello"))], "", root=tmp_path)
    assert report.route == "good"
    assert "expected " + HELLO_MD5 in report.attempts[0][1]
    assert (tmp_path / "demo" / "hello.txt").read_bytes() == b"hello"


def test_all_routes_failing_names_every_route_and_the_manual_way(tmp_path):
    routes = [Route("npm pack x", _failing("`npm` is not installed")), Route("mirror y", _writer(b"bad")),
              Route("mirror z", _writer(b"hello", name="other.txt"))]
    with pytest.raises(DataUnavailableError) as info:
        ensure_files("demo", {"hello.txt": HELLO_MD5}, routes, "copy hello.txt into the folder", root=tmp_path)
    message = str(info.value)
    assert "data set 'demo' is not available" in message
    assert "1. cache" in message and "is missing" in message
    assert "2. npm pack x: `npm` is not installed" in message
    assert "3. mirror y:" in message and "expected " + HELLO_MD5 in message
    assert "4. mirror z: it did not supply hello.txt" in message
    assert message.endswith("To place the files by hand: copy hello.txt into the folder")
    assert [a[0] for a in info.value.attempts][1:] == ["npm pack x", "mirror y", "mirror z"]
    assert not (tmp_path / "demo" / "hello.txt").exists()


def test_an_unexpected_exception_in_a_route_falls_through_to_the_next(tmp_path):
    def boom(dest):
        raise KeyError("no such member")

    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("odd", boom), Route("good", _writer(b"hello"))],
                          "", root=tmp_path)
    assert report.route == "good" and report.attempts[1] == ("odd", "KeyError: 'no such member'")


def test_run_tool_reports_missing_programs_and_failures(tmp_path, tools):
    with pytest.raises(RouteFailed, match="`no-such-tool-xyz` is not installed .*; get it somewhere"):
        cache.run_tool(["no-such-tool-xyz"], cwd=tmp_path, hint="get it somewhere")
    tools.add("failing", "echo 'E404 not found' >&2\nexit 3\n")
    with pytest.raises(RouteFailed, match="`failing arg` exited with status 3: E404 not found"):
        cache.run_tool(["failing", "arg"], cwd=tmp_path)
    tools.add("slow", "sleep 5\n")
    with pytest.raises(RouteFailed, match="did not finish within 0 s"):
        cache.run_tool(["slow"], cwd=tmp_path, timeout=0.2)
    tools.add("fine", "echo ok\n")
    assert cache.run_tool(["fine"], cwd=tmp_path) == "ok\n"


@pytest.fixture
def umask():
    """Set the process umask for one test (``umask(0o077)``), restoring the old one afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                      (0o002, 0o664, 0o775)])
def test_cache_files_and_folders_get_the_modes_the_umask_allows(tmp_path, umask, mask, file_mode, dir_mode):
    """A shared cache must be readable by its other users: not mkstemp's 0600, but 0666/0777 minus the umask."""
    umask(mask)
    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", _writer(b"hello"))], "",
                          root=tmp_path / "root")
    assert report.route == "good"
    assert oct(_mode(tmp_path / "root" / "demo" / "hello.txt")) == oct(file_mode)
    assert oct(_mode(tmp_path / "root" / "demo")) == oct(dir_mode)
    assert oct(_mode(tmp_path / "root")) == oct(dir_mode)
    cache.atomic_write_bytes(tmp_path / "new" / "f.bin", b"data")
    assert oct(_mode(tmp_path / "new" / "f.bin")) == oct(file_mode)
    assert oct(_mode(tmp_path / "new")) == oct(dir_mode)


@pytest.fixture
def read_only(monkeypatch):
    """Make ``os.access`` report the given folders as not writable (chmod alone does not stop root)."""
    real_access = os.access

    def make(*folders: Path) -> None:
        def access(path, mode, *args, **kwargs):
            if mode & os.W_OK and Path(path) in folders:
                return False
            return real_access(path, mode, *args, **kwargs)
        monkeypatch.setattr(os, "access", access)
    return make


def test_a_read_only_cache_with_a_corrupt_file_fails_before_fetching(tmp_path, read_only):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "hello.txt").write_bytes(b"hel")  # truncated
    read_only(tmp_path / "demo")
    calls = []

    def fetch(dest):
        calls.append(dest)
        _writer(b"hello")(dest)

    with pytest.raises(DataUnavailableError) as info:
        ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", fetch)], "copy hello.txt", root=tmp_path)
    assert calls == []  # detected before any download
    message = str(info.value)
    assert f"{tmp_path / 'demo'} is not writable, so nothing was fetched" in message
    assert "expected " + HELLO_MD5 in message  # why the cached file was not used
    assert "To fix: point MINIDL_DATA at a folder you can write" in message
    assert message.endswith("To place the files by hand: copy hello.txt")
    assert (tmp_path / "demo" / "hello.txt").read_bytes() == b"hel"


def test_a_missing_data_set_under_a_read_only_root_names_the_root(tmp_path, read_only):
    read_only(tmp_path)  # the data set's folder does not exist yet, and could not be created
    with pytest.raises(DataUnavailableError, match=f"{tmp_path} is not writable"):
        ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", _writer(b"hello"))], "", root=tmp_path)
    assert not (tmp_path / "demo").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(DataUnavailableError, match=r"file is not writable \(it is not a folder\)"):
        ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", _writer(b"hello"))], "",
                     root=tmp_path / "file")


def test_a_read_only_cache_that_holds_good_files_still_serves_them(tmp_path, read_only):
    ensure_files("demo", {"hello.txt": HELLO_MD5}, [Route("good", _writer(b"hello"))], "", root=tmp_path)
    read_only(tmp_path, tmp_path / "demo")
    report = ensure_files("demo", {"hello.txt": HELLO_MD5}, [], "", root=tmp_path)
    assert report.route == "cache" and report.paths["hello.txt"].read_bytes() == b"hello"
