"""Writing a checkpoint: atomically to a path, or into an open binary file.

To a path, the file is written under a temporary name in the same folder (``.NAME.<random>.tmp``, locked
with ``flock`` while it is written), flushed and fsynced, then renamed over the target (``os.replace``,
atomic on POSIX and Windows), and the folder is fsynced so that the rename survives a power cut. A crash
half-way leaves the previous checkpoint untouched, and the next save of the same target deletes the
temporaries that no running save holds (those a ``kill -9`` left behind). An existing target keeps its
permission bits; a FIFO, device or folder is never replaced.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from minidl.dtypes import dtype_to_str, storage_dtype
from minidl.io.format import FORMAT_NAME, HEADER, MAX_HEADER_BYTES, CheckpointError, FileLike, contiguous, sha256
from minidl.io.tree import Encoder

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which protects a save in progress
    fcntl = None  # type: ignore[assignment]


def save(obj: Any, f: FileLike) -> None:
    """Write ``obj`` to ``f``, a path (atomically) or a binary file object (see the module docstring)."""
    from minidl import __version__

    encoder = Encoder()
    tree = encoder.encode(obj, "obj")  # fails on unsupported values before any file is touched
    header = {
        "format": FORMAT_NAME,
        "format_version": encoder.version,
        "minidl_version": __version__,
        "tree": tree,
        "arrays": {name: {"shape": list(a.shape), "dtype": dtype_to_str(a.dtype), "sha256": sha256(a)}
                   for name, a in encoder.arrays.items()},
    }
    header_bytes = json.dumps(header, allow_nan=False).encode()
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(f"minidl.save: the header would take {len(header_bytes)} bytes, more than the "
                         f"{MAX_HEADER_BYTES} a checkpoint may have")
    if not isinstance(f, str | os.PathLike):
        if isinstance(f, io.TextIOBase) or not hasattr(f, "write"):
            raise TypeError(f"minidl.save: f must be a path or a file opened in binary mode ('wb'), got {f!r}")
        _write_npz(f, header_bytes, encoder.arrays)
        f.flush()
        return
    _save_atomically(Path(f), header_bytes, encoder.arrays)


def _save_atomically(path: Path, header_bytes: bytes, arrays: dict[str, np.ndarray]) -> None:
    mode = _target_mode(path)
    folder = path.parent if str(path.parent) else Path(".")
    _remove_stale_temporaries(folder, path.name)
    tmp, fd = _create_temporary(folder, path.name)
    try:
        if mode is not None:
            os.chmod(tmp, mode)  # an existing 0600 checkpoint stays 0600
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, header_bytes, arrays)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # rename while still locked, so that no other save takes it for stale
                os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
        if fcntl is None:  # Windows cannot rename a file that is open
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _target_mode(path: Path) -> int | None:
    """The permission bits of an existing regular file at ``path``; refuses FIFOs, devices, folders."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
                 stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"}
        what = kinds.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise CheckpointError(f"{path}: refusing to replace {what} with a checkpoint; minidl writes regular "
                              f"files only (pass an open file object to write into a stream)")
    return stat.S_IMODE(st.st_mode)


def _temporary_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{name}.") + r"[0-9a-f]{12}\.tmp")


def _create_temporary(folder: Path, name: str) -> tuple[Path, int]:
    """A new temporary file next to the target, locked (flock) until it is closed, and its descriptor."""
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        if fcntl is None:
            return tmp, fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return tmp, fd
        except OSError:  # another save took it for stale in the instant before we locked it: start again
            pass
        os.close(fd)


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Delete temporaries of this target that no running save holds (left by a killed process)."""
    pattern = _temporary_pattern(name)
    try:
        entries = [e.path for e in os.scandir(folder) if pattern.fullmatch(e.name)]
    except OSError:
        return
    for entry in entries:
        try:
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if fcntl is None:
                os.close(fd)
                fd = -1
                os.unlink(entry)  # fails (PermissionError) while another process has it open
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a save holds it
                if os.path.samestat(st, os.stat(entry)):
                    os.unlink(entry)
        except OSError:
            pass
        finally:
            if fd >= 0:
                os.close(fd)


def _write_npz(f: Any, header_bytes: bytes, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(HEADER, header_bytes)
        for name, array in arrays.items():
            _write_array(zf, name, array)


def _write_array(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
        np.lib.format.write_array(member, contiguous(array).view(storage_dtype(array.dtype)), allow_pickle=False)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); Windows cannot open a folder for fsync, and needs no such step."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

