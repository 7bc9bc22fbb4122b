"""Crafted checkpoints: every one is refused with a CheckpointError that names the member and the problem.

None may escape as NotImplementedError, MemoryError or RecursionError, or be reported with a wrong reason.
"""

import json
import struct
import zipfile

import numpy as np
import pytest

import minidl
import minidl.io
from minidl.io import CheckpointError


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.npz"
    minidl.save({"w": minidl.tensor(np.arange(100.0)), "epoch": 1}, path)
    return path


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path, contents, compression=zipfile.ZIP_STORED):
    """A zip with valid CRCs, so that only minidl's own checks can object."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)


def npy_header(shape, descr="<f8"):
    """The bytes of a .npy v1.0 header claiming ``shape`` (the data is up to the caller)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    text += " " * (63 - (len(text) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def test_flipped_byte_in_central_directory(good_file):
    data = bytearray(good_file.read_bytes())
    data[data.rfind(b"PK\x01\x02") + 10] |= 99  # the last member's compression method becomes 99
    good_file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"'a0\.npy'.*compress"):
        minidl.load(good_file)


def test_compressed_members_are_refused(good_file):
    write_zip(good_file, members(good_file), compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match=r"'header\.json' is compressed"):
        minidl.load(good_file)


def test_member_claiming_a_terabyte_is_refused_without_allocating_it(good_file):
    shape = (2**37,)  # 1 TiB of float64, consistently claimed by the .npy header and the JSON header
    header = minidl.io.read_header(good_file)
    header["arrays"]["a0"]["shape"] = list(shape)
    write_zip(good_file, {"header.json": json.dumps(header),
                          "a0.npy": npy_header(shape) + np.arange(100.0).tobytes()})
    with pytest.raises(CheckpointError, match=r"'a0\.npy' is shorter than its header says.*1099511627776"):
        minidl.load(good_file)


def test_member_shorter_than_its_header_is_reported_as_truncated(good_file):
    contents = members(good_file)
    contents["a0.npy"] = contents["a0.npy"][:-16]  # two float64 missing, CRC recomputed
    write_zip(good_file, contents)
    with pytest.raises(CheckpointError, match=r"'a0\.npy' is shorter than its header says") as info:
        minidl.load(good_file)
    assert "pickle" not in str(info.value)


def test_member_longer_than_its_header_is_refused(good_file):
    contents = members(good_file)
    contents["a0.npy"] += b"\0" * 8
    write_zip(good_file, contents)
    with pytest.raises(CheckpointError, match=r"'a0\.npy' is longer than its header says"):
        minidl.load(good_file)


def test_sizes_larger_than_the_file_are_refused(good_file):
    data = bytearray(good_file.read_bytes())
    entry = data.find(b"PK\x01\x02")  # the central directory entry of header.json
    data[entry + 20:entry + 28] = struct.pack("<II", 2**31, 2**31)  # compressed and uncompressed size
    good_file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"'header\.json' claims 2147483648 bytes, more than the file"):
        minidl.load(good_file)


def test_deeply_nested_header_json(good_file):
    contents = members(good_file)
    contents["header.json"] = b"[" * 200_000 + b"]" * 200_000
    write_zip(good_file, contents)
    with pytest.raises(CheckpointError, match=r"'header\.json' is nested too deeply"):
        minidl.load(good_file)


def test_deeply_nested_tree(good_file):
    header = minidl.io.read_header(good_file)
    tree = header["tree"]
    for _ in range(450):  # JSON depth 900: json parses it, the tree decoder must refuse it
        tree = {"type": "list", "items": [tree]}
    header["tree"] = tree
    contents = members(good_file)
    contents["header.json"] = json.dumps(header)
    write_zip(good_file, contents)
    with pytest.raises(CheckpointError, match="nested more than"):
        minidl.load(good_file)


def test_oversized_header_is_refused(good_file, monkeypatch):
    monkeypatch.setattr(minidl.io.reading, "MAX_HEADER_BYTES", 100)
    with pytest.raises(CheckpointError, match=r"'header\.json' claims \d+ bytes; a header has at most 100"):
        minidl.load(good_file)


def test_duplicate_member_is_refused(good_file):
    contents = members(good_file)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(good_file, "a") as zf:
        zf.writestr("a0.npy", contents["a0.npy"])
    with pytest.raises(CheckpointError, match=r"'a0\.npy' appears twice"):
        minidl.load(good_file)


def test_value_node_holding_a_container_is_malformed(good_file):
    header = minidl.io.read_header(good_file)
    header["tree"] = {"type": "value", "value": {"not": "a plain value"}}
    contents = members(good_file)
    contents["header.json"] = json.dumps(header)
    write_zip(good_file, contents)
    with pytest.raises(CheckpointError, match="'value' node holds a dict"):
        minidl.load(good_file)


def test_a_pytorch_file_is_named_as_such(tmp_path):
    write_zip(tmp_path / "model.pt", {"archive/data.pkl": b"\x80\x02}q\x00.", "archive/version": b"3\n"})
    with pytest.raises(CheckpointError, match="a PyTorch file"):
        minidl.load(tmp_path / "model.pt")
