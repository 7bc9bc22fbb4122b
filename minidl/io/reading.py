"""Reading a checkpoint: every byte is checked before it is trusted, and nothing in it is ever run.

minidl reads the zip directory and each ``.npy`` header itself and refuses, with a ``CheckpointError``
naming the member and the problem, anything that ``save`` does not write: compressed or encrypted members,
object (pickled) arrays, pickle files, sizes larger than the file, a header over ``MAX_HEADER_BYTES`` or
nested too deeply, arrays that disagree with the header or with their SHA-256. No buffer is allocated
larger than what the file really holds.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.device import backend_for, is_device_like
from minidl.dtypes import dtype_from_str, storage_dtype
from minidl.io.format import FORMAT_NAME, FORMAT_VERSION, HEADER, MAX_HEADER_BYTES, CheckpointError, FileLike, sha256
from minidl.io.tree import Decoder

_CHUNK = 16 * 2**20  # arrays are read in pieces of this size (no second full-size copy)


def read_header(f: FileLike) -> dict[str, Any]:
    """The checked JSON header of a checkpoint (format, versions, tree, array shapes/dtypes), no arrays loaded."""
    with _Archive(f) as archive:
        return archive.header()


def load(f: FileLike, backend: str | Backend | None = None, *, map_location: Any = None,
         weights_only: bool | None = None) -> Any:
    """Read a checkpoint written by ``save``; tensors are created on ``backend`` (the default backend if None).

    ``map_location`` is PyTorch's name for the same choice: a device (``"cpu"``, ``"cuda:0"``,
    ``minidl.device(...)``) or a backend name; a dict or a callable (PyTorch's other forms) is refused
    with an error, since minidl places every tensor of a file on one backend.

    ``f`` is a path or a binary file object. ``weights_only`` is accepted for PyTorch programs and changes
    nothing: minidl always loads the way PyTorch's ``weights_only=True`` does (modules only of minidl or
    allowlisted classes, see ``minidl.serialization``). Raises ``CheckpointError`` for anything but an intact
    checkpoint of a format version this minidl reads, and ``FileNotFoundError`` if there is no file.
    """
    if map_location is not None:
        if backend is not None:
            raise ValueError("load: give backend= or map_location=, not both")
        if not is_device_like(map_location):
            raise TypeError(f"load: map_location must be a device ('cpu', 'cuda:0', minidl.device(...)) or a "
                            f"backend name, got {map_location!r}")
        be = backend_for(map_location)
    else:
        be = get_backend(backend)
    with _Archive(f) as archive:
        header = archive.header()
        arrays = {name: archive.array(name, meta) for name, meta in header["arrays"].items()}
    try:
        return Decoder(arrays, be).decode(header["tree"])
    except CheckpointError as e:
        raise CheckpointError(f"{archive.label}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(f"{archive.label}: the header's tree is malformed ({type(e).__name__}: {e})") from None


class _Archive:
    """A checkpoint's zip container, checked before any member is read (``with _Archive(f) as a``)."""

    def __init__(self, f: FileLike) -> None:
        self.owned = isinstance(f, str | os.PathLike)
        self.label = os.fspath(f) if self.owned else str(getattr(f, "name", "<file object>"))
        self.file: Any = open(f, "rb") if self.owned else f  # FileNotFoundError passes through
        try:
            if not self.owned and not (hasattr(f, "seekable") and f.seekable()):
                self.file = io.BytesIO(f.read())  # zip needs to seek
            self.zf = self._open_zip()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self, "zf"):
            self.zf.close()
        if self.owned:
            self.file.close()

    def error(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.label}: {message}")

    def _open_zip(self) -> zipfile.ZipFile:
        start = self.file.tell()
        magic = self.file.read(6)
        size = self.file.seek(0, io.SEEK_END)
        self.file.seek(start)
        if magic.startswith(b"\x93NUMPY"):
            raise self.error("not a minidl checkpoint (a single .npy array, not an .npz archive)")
        if magic[:1] == b"\x80":
            raise self.error("not a minidl checkpoint: a pickle, which minidl never loads")
        if not magic.startswith(b"PK"):
            raise self.error(f"not a minidl checkpoint: an unknown file type ({magic[:2]!r}...)")
        try:
            zf = zipfile.ZipFile(self.file)
        except Exception as e:  # the zip parser is fed untrusted bytes: any failure means a bad file
            raise self.error(f"not a readable minidl checkpoint (truncated or corrupted zip: "
                             f"{type(e).__name__}: {e})") from None
        try:
            self.members = self._check_members(zf, size)
        except BaseException:
            zf.close()
            raise
        return zf

    def _check_members(self, zf: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
        """Only what ``save`` writes: unique, stored, unencrypted members whose sizes fit in the file."""
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            name = info.filename
            if name in members:
                raise self.error(f"member {name!r} appears twice")
            if info.compress_type != zipfile.ZIP_STORED:
                raise self.error(f"member {name!r} is compressed (method {info.compress_type}); minidl writes "
                                 f"and reads stored (uncompressed) members only")
            if info.flag_bits & 0x1:
                raise self.error(f"member {name!r} is encrypted")
            total += info.file_size
            if info.file_size != info.compress_size or info.header_offset + info.compress_size > size \
                    or total > size:
                raise self.error(f"member {name!r} claims {info.file_size} bytes, more than the file "
                                 f"({size} bytes) holds: truncated or crafted")
            members[name] = info
        return members

    def _member(self, name: str) -> Any:
        try:
            return self.zf.open(self.members[name])
        except Exception as e:
            raise self.error(f"member {name!r} is corrupted ({type(e).__name__}: {e})") from None

    def header(self) -> dict[str, Any]:
        """The JSON header, checked (format, version, arrays table matching the members)."""
        if HEADER not in self.members:
            torch = any(name.endswith("data.pkl") for name in self.members)
            raise self.error(f"no {HEADER} member: not a minidl checkpoint (" + (
                "a PyTorch file, which holds a pickle that minidl never loads; load it with torch and pass "
                "its state_dict to load_state_dict)" if torch else "a plain numpy .npz?)"))
        if self.members[HEADER].file_size > MAX_HEADER_BYTES:
            raise self.error(f"member {HEADER!r} claims {self.members[HEADER].file_size} bytes; a header "
                             f"has at most {MAX_HEADER_BYTES}")
        try:
            with self._member(HEADER) as member:
                header = json.loads(member.read())
        except CheckpointError:
            raise
        except RecursionError:
            raise self.error(f"member {HEADER!r} is nested too deeply to be a minidl header") from None
        except Exception as e:
            raise self.error(f"member {HEADER!r} is corrupted ({type(e).__name__}: {e})") from None
        return self._check_header(header)

    def _check_header(self, header: Any) -> dict[str, Any]:
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise self.error(f"the header does not name the format {FORMAT_NAME!r}")
        version = header.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.error(f"invalid format version {version!r}")
        if version > FORMAT_VERSION:
            raise self.error(f"format version {version} was written by a newer minidl "
                             f"({header.get('minidl_version')}); this minidl reads versions up to "
                             f"{FORMAT_VERSION}: upgrade minidl")
        arrays = header.get("arrays")
        if not isinstance(arrays, dict) or "tree" not in header:
            raise self.error("the header lacks its 'arrays' table or 'tree'")
        members = {name[:-4] for name in self.members if name.endswith(".npy")}
        if members != set(arrays) or len(self.members) != len(arrays) + 1:
            raise self.error(f"the arrays in the file {sorted(self.members)} do not match the header's "
                             f"{sorted(arrays)}")
        for name, meta in arrays.items():
            try:
                dtype = dtype_from_str(meta["dtype"])
                shape = meta["shape"]
                ok = isinstance(shape, list) and isinstance(meta["sha256"], str) and all(
                    isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            except Exception:  # np.dtype() of an untrusted value may raise many kinds of errors
                ok = False
            if not ok:
                raise self.error(f"the header's entry for array {name!r} is malformed: {meta!r}")
            if dtype.hasobject:
                raise self.error(f"refused array {name!r}: dtype {meta['dtype']} holds Python objects")
        return header

    def array(self, name: str, meta: dict[str, Any]) -> np.ndarray:
        """Member ``name.npy``, checked against its own .npy header, the JSON header and its SHA-256."""
        member_name = name + ".npy"
        try:
            with self._member(member_name) as member:
                array = self._read_npy(member, member_name, meta)
        except CheckpointError:
            raise
        except Exception as e:  # CRC mismatch, short read, bad .npy header, ...
            raise self.error(f"member {member_name!r} is corrupted or truncated ({type(e).__name__}: {e})") from None
        if sha256(array) != meta["sha256"]:
            raise self.error(f"array {name!r} does not match its SHA-256: the file is corrupted")
        return array

    def _read_npy(self, member: Any, member_name: str, meta: dict[str, Any]) -> np.ndarray:
        fmt = np.lib.format
        version = fmt.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise self.error(f"member {member_name!r} has .npy format version {version}, which minidl never writes")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran_order, dtype = read_header(member)
        if dtype.hasobject:
            raise self.error(f"refused member {member_name!r}: it holds pickled Python objects, which minidl "
                             f"never loads")
        if list(shape) != meta["shape"] or dtype.str != storage_dtype(dtype_from_str(meta["dtype"])).str:
            raise self.error(f"array {member_name!r} has shape {shape} and dtype {dtype.str} but the header says "
                             f"{tuple(meta['shape'])} and {meta['dtype']}")
        expected = math.prod(shape) * dtype.itemsize
        available = self.members[member_name].file_size - member.tell()
        if available != expected:
            what = "shorter" if available < expected else "longer"
            raise self.error(f"member {member_name!r} is {what} than its header says: it holds {available} bytes "
                             f"of data, shape {shape} of {dtype.str} needs {expected}")
        buffer = bytearray(expected)  # at most what the file holds (checked above)
        view, got = memoryview(buffer), 0
        while got < expected:
            chunk = member.read(min(_CHUNK, expected - got))
            if not chunk:
                raise self.error(f"member {member_name!r} ended after {got} of {expected} bytes")
            view[got:got + len(chunk)] = chunk
            got += len(chunk)
        if member.read(1):  # also makes zipfile check the member's CRC-32
            raise self.error(f"member {member_name!r} has bytes after its data")
        if expected == 0:
            return np.empty(shape, dtype_from_str(meta["dtype"]))
        array = np.frombuffer(buffer, dtype=dtype_from_str(meta["dtype"]))  # bfloat16 is stored as uint16
        return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)

