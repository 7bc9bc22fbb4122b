"""Small data sets and loaders for the training-loop tests (plain numpy; no DataLoader needed)."""

import numpy as np

import minidl
import minidl.nn as nn


class ArrayLoader:
    """Batches of (x, y) numpy arrays; shuffled by a ``minidl.Generator`` each epoch when one is given."""

    def __init__(self, X, Y, batch_size, generator=None):
        self.X, self.Y, self.batch_size, self.generator = X, Y, batch_size, generator

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        order = self.generator.permutation(len(self.X)) if self.generator is not None else np.arange(len(self.X))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.X[idx], self.Y[idx]


def blobs(n=120, seed=0):
    """Three Gaussian blobs in 4-d, float32 inputs and int64 labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = (rng.standard_normal((n, 4)) + 2.5 * np.eye(3, 4)[y]).astype(np.float32)
    return X, y.astype(np.int64)


def mlp(seed=0, dropout=0.0):
    g = minidl.Generator(seed)
    layers = [nn.Linear(4, 16, generator=g), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3, generator=g))
