"""The CIFAR-10 binary reader, on small generated files in the real format."""

import io
import tarfile

import numpy as np
import pytest

from minidl.data import CIFAR10, DataUnavailableError, load_cifar10
from minidl.data.cache import ChecksumError, DataFormatError, file_digest
from minidl.data.datasets import cifar
from minidl.data.datasets.cifar import parse_cifar10, read_cifar10

N = 4  # records per generated file (the real files hold 10000)


def records(seed, n=N):
    """n CIFAR-10 records and the images/labels they encode."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    data = b"".join(bytes([labels[i]]) + images[i].tobytes() for i in range(n))
    return data, images, labels


@pytest.fixture
def cifar_folder(tmp_path, monkeypatch):
    """Six files named like the real ones, N records each, in a cifar-10-batches-bin folder."""
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", N)
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    expected = {"train": ([], []), "test": ([], [])}
    for seed, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        data, images, labels = records(seed)
        (folder / name).write_bytes(data)
        split = "test" if name == "test_batch.bin" else "train"
        expected[split][0].append(images)
        expected[split][1].append(labels)
    return tmp_path, {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in expected.items()}


def test_parse_layout_label_then_red_green_blue_planes():
    record = bytes([3]) + bytes([10] * 1024) + bytes([20] * 1024) + bytes([30] * 1024)
    images, labels = parse_cifar10(record)
    assert images.dtype == np.uint8 and images.shape == (1, 3, 32, 32)
    assert labels.dtype == np.int64 and labels.tolist() == [3]
    assert images[0, :, 5, 7].tolist() == [10, 20, 30]


def test_load_both_splits_from_the_folder(cifar_folder):
    root, expected = cifar_folder
    for split in ("train", "test"):
        images, labels = load_cifar10(split, root=root)
        assert images.shape == (len(expected[split][0]), 3, 32, 32) and labels.dtype == np.int64
        np.testing.assert_array_equal(images, expected[split][0])
        np.testing.assert_array_equal(labels, expected[split][1])
    assert len(load_cifar10("train", root=root)[0]) == 5 * N
    ds = CIFAR10(root=root, train=False)
    assert len(ds) == N and ds.classes[0] == "airplane"
    np.testing.assert_array_equal(ds[1][0], expected["test"][0][1])


def test_default_root_is_the_cache(cifar_folder, monkeypatch):
    root, expected = cifar_folder
    monkeypatch.setenv("MINIDL_DATA", str(root))
    np.testing.assert_array_equal(load_cifar10("test")[1], expected["test"][1])


def test_truncated_and_corrupt_files_are_rejected(cifar_folder):
    root, _ = cifar_folder
    path = root / "cifar10" / "cifar-10-batches-bin" / "data_batch_3.bin"
    good = path.read_bytes()
    path.write_bytes(good[:-1])
    with pytest.raises(DataFormatError, match="data_batch_3.bin: 12291 bytes is not a whole number of 3073-byte"):
        load_cifar10("train", root=root)
    path.write_bytes(good[:-3073])
    with pytest.raises(DataFormatError, match="data_batch_3.bin: holds 3 records, expected 4"):
        load_cifar10("train", root=root)
    path.write_bytes(bytes([12]) + good[1:])
    with pytest.raises(DataFormatError, match="record 0 has label 12, expected 0..9"):
        load_cifar10("train", root=root)
    with pytest.raises(DataFormatError, match="0 bytes is not a whole number"):
        parse_cifar10(b"")
    path.write_bytes(good)
    assert read_cifar10(path, records=None)[0].shape == (N, 3, 32, 32)
    with pytest.raises(DataFormatError, match="holds 4 records, expected 10000"):
        read_cifar10(path)  # the real files hold 10000 records each


def test_missing_files_say_the_user_must_supply_them(tmp_path, isolated_cache):
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10("train")
    message = str(info.value)
    assert "must supply it" in message and "cifar-10-binary.tar.gz" in message
    assert f"into {isolated_cache / 'cifar10'}" in message
    assert "cifar-10-batches-bin: no data_batch_1.bin" in message
    with pytest.raises(ValueError, match="split must be"):
        load_cifar10("validation")


def test_the_tarball_is_read_after_its_md5_is_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", N)
    folder = tmp_path / "cifar10"
    folder.mkdir()
    data, images, labels = records(7)
    tarball = folder / "cifar-10-binary.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in ["test_batch.bin"]:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ChecksumError, match="expected c32a1d4ab5d03f1284b67883e8d87530"):
        load_cifar10("test", root=tmp_path)
    monkeypatch.setattr(cifar, "TARBALL_MD5", file_digest(tarball))
    np.testing.assert_array_equal(load_cifar10("test", root=tmp_path)[0], images)
    with pytest.raises(DataFormatError, match="has no member cifar-10-batches-bin/data_batch_1.bin"):
        load_cifar10("train", root=tmp_path)
