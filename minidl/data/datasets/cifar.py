"""CIFAR-10: 60000 32x32 colour images in ten classes, read from its binary version.

No package registry carries CIFAR-10, so minidl does not fetch it: download
``cifar-10-binary.tar.gz`` (162 MB, from https://www.cs.toronto.edu/~kriz/cifar.html) yourself and put
either the tarball or its unpacked ``cifar-10-batches-bin`` folder into ``$MINIDL_DATA/cifar10``
(or pass ``root=``). The tarball is checked against its published MD5.

The binary format: each file (``data_batch_1.bin`` .. ``data_batch_5.bin`` for training,
``test_batch.bin`` for testing) is 10000 records of 3073 bytes: one label byte (0..9), then the
1024 red, 1024 green and 1024 blue pixel values of the image, row by row. So a record reshapes
straight to (3, 32, 32), channels first.

>>> import numpy as np
>>> record = bytes([7]) + bytes(3072)
>>> images, labels = parse_cifar10(record * 2)
>>> images.shape, labels.tolist()
((2, 3, 32, 32), [7, 7])
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

import numpy as np

from minidl.data.cache import DataFormatError, DataUnavailableError, FetchReport, data_root, verify_file
from minidl.data.dataset import TensorDataset
from minidl.data.transforms import Transform

__all__ = ["CIFAR10", "CIFAR10_CLASSES", "fetch_cifar10", "load_cifar10", "parse_cifar10", "read_cifar10"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RECORD_BYTES = 1 + 3 * 32 * 32
RECORDS_PER_FILE = 10000
SPLITS = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
TARBALL = "cifar-10-binary.tar.gz"
TARBALL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # as published on the CIFAR page
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


def parse_cifar10(data: bytes, name: str = "<bytes>", records: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode CIFAR-10 binary records into ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    ``records`` is the number of records the file must hold (None: any whole number).
    """
    if len(data) % RECORD_BYTES != 0 or len(data) == 0:
        raise DataFormatError(f"{name}: {len(data)} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 "
                              f"records (truncated or not a CIFAR-10 binary file)")
    n = len(data) // RECORD_BYTES
    if records is not None and n != records:
        raise DataFormatError(f"{name}: holds {n} records, expected {records} (truncated or a different file)")
    table = np.frombuffer(data, dtype=np.uint8).reshape(n, RECORD_BYTES)
    labels = table[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        bad = int(np.argmax(labels >= len(CIFAR10_CLASSES)))
        raise DataFormatError(f"{name}: record {bad} has label {labels[bad]}, expected 0..9 (corrupt file, or the "
                              f"CIFAR-100 format, which has two label bytes)")
    return table[:, 1:].reshape(n, 3, 32, 32).copy(), labels


def read_cifar10(path: str | os.PathLike, records: int | None = RECORDS_PER_FILE) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary file (10000 records unless ``records`` says otherwise)."""
    return parse_cifar10(Path(path).read_bytes(), str(path), records)


def _candidates(root: str | os.PathLike | None) -> list[Path]:
    base = [Path(root).expanduser(), Path(root).expanduser() / "cifar10"] if root is not None else \
        [data_root() / "cifar10"]
    return [folder for b in base for folder in (b, b / "cifar-10-batches-bin")]


def _locate(split: str, root: str | os.PathLike | None) -> tuple[Path | None, list[tuple[str, str]]]:
    """The folder holding ``split``'s .bin files, or the tarball; and a note for each place looked at."""
    looked = []
    for folder in _candidates(root):
        if all((folder / name).is_file() for name in SPLITS[split]):
            return folder, looked
        if (folder / TARBALL).is_file():
            return folder / TARBALL, looked
        looked.append((str(folder), f"no {' '.join(SPLITS[split])} and no {TARBALL}"))
    return None, looked


def _read_split(place: Path, split: str) -> list[tuple[bytes, str]]:
    """The raw bytes of ``split``'s files (with names for messages), from a folder or the verified tarball."""
    if place.is_dir():
        return [((place / name).read_bytes(), str(place / name)) for name in SPLITS[split]]
    verify_file(place, TARBALL_MD5, "md5")
    out = []
    with tarfile.open(place, "r:gz") as tar:
        for name in SPLITS[split]:
            member = f"cifar-10-batches-bin/{name}"
            try:
                out.append((tar.extractfile(member).read(), f"{place}:{name}"))  # type: ignore[union-attr]
            except KeyError:
                raise DataFormatError(f"{place} has no member {member} (is it the binary version?)") from None
    return out


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train": 50000, "test": 10000) as ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    Raises ``DataUnavailableError`` (saying where to put the files) when they are not there; the files
    must be supplied by the user (see the module docstring).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    place, looked = _locate(split, root)
    if place is None:
        target = Path(root).expanduser() if root is not None else data_root() / "cifar10"
        manual = (f"CIFAR-10 is on no package registry, so you must supply it: download {URL} (md5 {TARBALL_MD5}) "
                  f"and put {TARBALL}, or the cifar-10-batches-bin folder unpacked from it, into {target}")
        raise DataUnavailableError("cifar10", looked, manual)
    parts = [parse_cifar10(data, name, RECORDS_PER_FILE) for data, name in _read_split(place, split)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class CIFAR10(TensorDataset):
    """CIFAR-10 as a dataset of ``(image uint8 (3, 32, 32), label)``, like ``torchvision.datasets.CIFAR10``."""

    classes = CIFAR10_CLASSES

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Transform | None = None,
                 target_transform: Transform | None = None) -> None:
        super().__init__(*load_cifar10("train" if train else "test", root), transform=transform,
                         target_transform=target_transform)


def fetch_cifar10(root: str | os.PathLike | None = None) -> FetchReport:
    """Check that both splits are present and well-formed (nothing is downloaded: see the module docstring)."""
    start = time.perf_counter()
    for split in SPLITS:
        load_cifar10(split, root)
    paths = {}
    for split in SPLITS:
        place = _locate(split, root)[0]
        assert place is not None  # load_cifar10 found it just now
        paths.update({place.name: place} if place.is_file() else {n: place / n for n in SPLITS[split]})
    return FetchReport("cifar10", paths, "supplied by the user", time.perf_counter() - start)
