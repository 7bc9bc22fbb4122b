"""The main job, shrunk: the MNIST CNN example trains on 2,000 real MNIST images and beats chance by far.

The real MNIST is read from the user's cache (CI fetches it first), never fetched by the test.
"""

from minidl.examples import mnist_cnn


def test_mnist_cnn_learns_from_a_small_subset(user_mnist, capsys):
    metrics = mnist_cnn.main(["--limit", "2000", "--epochs", "1", "--batch-size", "50"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "Epoch 1/1: 40 steps" in out  # minidl.train.fit's line
    assert metrics["test_accuracy"] > 0.80  # 10% is chance; 2,000 images and one epoch give ~85-90%
