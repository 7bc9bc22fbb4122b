"""The main job, shrunk: the MNIST CNN example trains on 2,000 real MNIST images and beats chance by far."""

import pytest

from minidl.data import load_mnist
from minidl.data.cache import DataUnavailableError
from minidl.examples import mnist_cnn


@pytest.fixture(scope="module")
def mnist_available():
    try:
        load_mnist("test")
    except DataUnavailableError as e:  # no npm and no cache: nothing to train on
        pytest.skip(f"MNIST is not available here: {e}")


def test_mnist_cnn_learns_from_a_small_subset(mnist_available, capsys):
    metrics = mnist_cnn.main(["--limit", "2000", "--epochs", "1", "--batch-size", "50"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "epoch 1/1" in out
    assert metrics["test_accuracy"] > 0.80  # 10% is chance; 2,000 images and one epoch give ~85-90%
