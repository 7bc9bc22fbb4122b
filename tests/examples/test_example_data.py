"""The example tests' data: never the user's cache to write into, and the same on every run.

A test run once downloaded ~58 MiB into $MINIDL_DATA, and its skip count changed between the first
and the second run (what the first fetched, the second found). These checks pin the cure.
"""

import os
from pathlib import Path

import numpy as np

from minidl.data import load_fashion_mnist, load_mnist, load_shakespeare
from minidl.data.cache import data_root
from minidl.data.datasets.mnist import fetch_fashion_mnist, fetch_mnist
from minidl.data.datasets.shakespeare import fetch_shakespeare


def under(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(folder)


def test_every_test_runs_with_a_temporary_data_cache(tmp_path_factory):
    assert under(data_root(), tmp_path_factory.getbasetemp())


def test_fashion_mnist_and_shakespeare_are_generated_in_the_temporary_cache(fashion_mnist, shakespeare,
                                                                            tmp_path_factory):
    for report in (fetch_fashion_mnist(mirrors=False), fetch_shakespeare(mirrors=False)):
        assert report.route == "cache"  # nothing fetched
        assert all(under(p, tmp_path_factory.getbasetemp()) for p in report.paths.values())
    images, labels = load_fashion_mnist("test", mirrors=False)
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8 and sorted(set(labels)) == list(range(10))
    text = load_shakespeare(mirrors=False)
    assert len(set(text)) == 84 and "ROMEO:\n" in text  # what the char examples expect of the real works


def test_the_real_mnist_is_read_through_links_to_the_users_verified_files(user_mnist, user_data_root,
                                                                          tmp_path_factory):
    report = fetch_mnist(mirrors=False)
    assert report.route == "cache"
    for path in report.paths.values():
        assert under(path, tmp_path_factory.getbasetemp()) and path.is_symlink()
        assert path.resolve() == (user_data_root / "mnist" / path.name).resolve()
    assert load_mnist("test", mirrors=False)[0].shape == (10000, 28, 28)
