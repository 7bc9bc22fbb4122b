"""Checkpoints: ``minidl.save(obj, path)`` and ``minidl.load(path)``, safe by construction.

What can be saved: nested dicts (str or int keys), lists and tuples of Tensors, numpy arrays, numpy
scalars and plain values (None, bool, int, float, str). That covers a whole training state::

    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "epoch": epoch,
                 "rng": generator.get_state()}, "checkpoint.npz")
    state = minidl.load("checkpoint.npz")

**The format** is a ``.npz`` file (a zip archive; numpy's own format): one ``.npy`` member per array,
plus a ``header.json`` member with the format name and version, the minidl version, the tree of the saved
object (where each array goes) and, for each array, its shape, dtype and SHA-256. We chose npz over
safetensors because it needs nothing but numpy, stores every numpy dtype and 0-d arrays, and its zip
container already checks a CRC-32 per member; the JSON header carries what safetensors' string-only
metadata could not (nested structure, int keys, tuples, non-finite floats).

**Nothing is ever unpickled.** Loading uses ``numpy.load(allow_pickle=False)``, so an object array
(which numpy stores as a pickle) is refused before a single byte of it is interpreted, and so is a
plain pickle file. Every other problem (a truncated or corrupted file, a wrong format or version, arrays
that disagree with the header) raises ``CheckpointError`` saying what is wrong.

**Writes are atomic**: the file is written under a temporary name in the same folder, flushed and
fsynced, then renamed over the target (``os.replace``, atomic on POSIX and Windows), and the folder is
fsynced so the rename itself survives a power cut. A crash or an exception half-way leaves the previous
checkpoint untouched.

>>> import minidl, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> minidl.save({"w": minidl.ones(2), "epoch": 3}, path)
>>> minidl.load(path)
{'w': tensor([1., 1.]), 'epoch': 3}
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from minidl.backends import Backend, get_backend
from minidl.errors import MinidlError
from minidl.tensor import Tensor

FORMAT_NAME = "minidl-checkpoint"
FORMAT_VERSION = 1
HEADER = "header.json"


class CheckpointError(MinidlError, ValueError):
    """A file that is not a valid minidl checkpoint (truncated, corrupted, unsafe, wrong version, ...)."""


# --------------------------------------------------------------------------- encoding the tree
def _host_array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return np.asarray(value.backend.to_numpy(value.data))
    if hasattr(value, "get") and hasattr(value, "__cuda_array_interface__"):  # a cupy array
        return value.get()
    return np.asarray(value)


def _contiguous(array: np.ndarray) -> np.ndarray:
    """A C-contiguous version (a copy only if needed; unlike ``np.ascontiguousarray``, 0-d stays 0-d)."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(_contiguous(array).reshape(-1).view(np.uint8)).hexdigest()


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    """One node of the JSON tree; arrays are moved to ``arrays`` and referenced by name."""
    kind = None
    if isinstance(obj, Tensor):
        kind = "tensor"
    elif isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        kind = "ndarray"
    elif isinstance(obj, np.generic):
        kind = "scalar"
    if kind is not None:
        array = _host_array(obj)
        if array.dtype.hasobject:
            raise TypeError(f"minidl.save: {where} is an array of Python objects; only numeric arrays can be saved")
        name = f"a{len(arrays)}"
        arrays[name] = array
        node = {"type": kind, "array": name}
        if kind == "tensor":
            node["requires_grad"] = obj.requires_grad
            node["parameter"] = type(obj).__name__ == "Parameter"
        return node
    if obj is None or isinstance(obj, bool | int | str):
        return {"type": "value", "value": obj}
    if isinstance(obj, float):
        return {"type": "value", "value": obj} if math.isfinite(obj) else {"type": "float", "value": repr(obj)}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise TypeError(f"minidl.save: {where} has a key {key!r} of type {type(key).__name__}; "
                                f"dict keys must be str or int")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"type": "dict", "items": items}
    if isinstance(obj, list | tuple):
        return {"type": type(obj).__name__ if type(obj) in (list, tuple) else "list",
                "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"minidl.save: cannot store {where}, a {type(obj).__name__}; checkpoints hold dicts, lists, "
                    f"tuples, Tensors, numpy arrays and scalars, and None/bool/int/float/str")


def _decode(node: Any, arrays: dict[str, np.ndarray], backend: Backend) -> Any:
    kind = node["type"]
    if kind == "value":
        return node["value"]
    if kind == "float":
        return float(node["value"])
    if kind == "dict":
        return {key: _decode(value, arrays, backend) for key, value in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, backend) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    array = arrays[node["array"]]
    if kind == "ndarray":
        return array
    if kind == "scalar":
        return array[()]
    if kind == "tensor":
        if node.get("parameter"):
            from minidl.nn.parameter import Parameter

            return Parameter(Tensor._wrap(backend.asarray(array), backend, False),
                             requires_grad=node.get("requires_grad", True))
        t = Tensor._wrap(backend.asarray(array), backend, False)
        if node.get("requires_grad"):
            t.requires_grad = True
        return t
    raise CheckpointError(f"unknown node type {kind!r} in the checkpoint tree")


# --------------------------------------------------------------------------- saving
def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` to ``path`` atomically (see the module docstring for the format and what ``obj`` may hold)."""
    from minidl import __version__

    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "obj")  # fails on unsupported values before any file is touched
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "minidl_version": __version__,
        "tree": tree,
        "arrays": {name: {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": _sha256(a)}
                   for name, a in arrays.items()},
    }
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, header, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _write_npz(f: Any, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(HEADER, json.dumps(header, allow_nan=False))
        for name, array in arrays.items():
            _write_array(zf, name, array)


def _write_array(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
        np.lib.format.write_array(member, _contiguous(array), allow_pickle=False)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); Windows cannot open a folder for fsync, and needs no such step."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- loading
def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked JSON header of a checkpoint (format, versions, tree, array shapes/dtypes), no arrays loaded."""
    with _open(path) as npz:
        return _check_header(npz, path)


def load(path: str | os.PathLike[str], backend: str | Backend | None = None) -> Any:
    """Read a checkpoint written by ``save``; tensors are created on ``backend`` (the default backend if None).

    Raises ``CheckpointError`` for anything but an intact checkpoint of a format version this minidl reads,
    and ``FileNotFoundError`` if there is no file.
    """
    be = get_backend(backend)
    with _open(path) as npz:
        header = _check_header(npz, path)
        arrays = {}
        for name, meta in header["arrays"].items():
            try:
                array = npz[name]
            except ValueError as e:  # numpy refuses object arrays when allow_pickle=False
                raise CheckpointError(f"{path}: refused array {name!r}: it holds pickled Python objects, which "
                                      f"minidl never loads ({e})") from None
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise CheckpointError(f"{path}: array {name!r} is corrupted or truncated ({e})") from None
            if not isinstance(array, np.ndarray):
                raise CheckpointError(f"{path}: member {name!r} is not a .npy array")
            if list(array.shape) != meta["shape"] or array.dtype.str != meta["dtype"]:
                raise CheckpointError(f"{path}: array {name!r} has shape {array.shape} and dtype {array.dtype.str} "
                                      f"but the header says {tuple(meta['shape'])} and {meta['dtype']}")
            if _sha256(array) != meta["sha256"]:
                raise CheckpointError(f"{path}: array {name!r} does not match its SHA-256: the file is corrupted")
            arrays[name] = array
    try:
        return _decode(header["tree"], arrays, be)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: the header's tree is malformed ({type(e).__name__}: {e})") from None


def _open(path: str | os.PathLike[str]) -> Any:
    try:
        npz = np.load(os.fspath(path), allow_pickle=False)
    except FileNotFoundError:
        raise
    except ValueError:  # neither zip nor .npy: numpy refuses to try it as a pickle
        with open(path, "rb") as f:
            start = f.read(2)
        what = "a pickle, which minidl never loads" if start[:1] == b"\x80" else f"an unknown file type ({start!r}...)"
        raise CheckpointError(f"{path}: not a minidl checkpoint: {what}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable minidl checkpoint (truncated or corrupted zip: {e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path}: not a minidl checkpoint (a single .npy array, not an .npz archive)")
    return npz


def _check_header(npz: Any, path: Any) -> dict[str, Any]:
    if HEADER not in npz.files:
        raise CheckpointError(f"{path}: no {HEADER} member: not a minidl checkpoint (a plain numpy .npz?)")
    try:
        header = json.loads(npz[HEADER])
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the header is corrupted ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: the header does not name the format {FORMAT_NAME!r}")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} was written by a newer minidl "
                              f"({header.get('minidl_version')}); this minidl reads versions up to "
                              f"{FORMAT_VERSION}: upgrade minidl")
    arrays = header.get("arrays")
    if not isinstance(arrays, dict) or "tree" not in header:
        raise CheckpointError(f"{path}: the header lacks its 'arrays' table or 'tree'")
    members = set(npz.files) - {HEADER}
    if members != set(arrays):
        raise CheckpointError(f"{path}: the arrays in the file {sorted(members)} do not match the header's "
                              f"{sorted(arrays)}")
    for name, meta in arrays.items():
        try:
            dtype = np.dtype(meta["dtype"])
            ok = isinstance(meta["shape"], list) and isinstance(meta["sha256"], str)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{path}: the header's entry for array {name!r} is malformed: {meta!r}")
        if dtype.hasobject:
            raise CheckpointError(f"{path}: refused array {name!r}: dtype {meta['dtype']} holds Python objects")
    return header
