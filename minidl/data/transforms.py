"""Image transforms as NumPy operations on whole batches.

A transform is a callable that takes a NumPy array whose **first axis indexes samples** and returns
a new array: images are ``(N, H, W)`` or ``(N, C, H, W)``. Working on a batch at once is what makes
them fast (one vectorised operation per batch instead of a Python call per image); a random transform
draws one decision per sample, from the ``generator`` it was given (``minidl.Generator``; the default
generator when None). ``TensorDataset(x, y, transform=...)`` calls them on each batch, and on
``x[i:i+1]`` for a single item.

>>> import numpy as np, minidl
>>> t = Compose([ToFloat(), Normalize(0.5, 0.5), RandomHorizontalFlip(p=1.0)])
>>> t(np.array([[[0, 255]]], dtype=np.uint8)).tolist()  # 0 -> -1, 255 -> 1, then flipped
[[[1.0, -1.0]]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minidl.random import Generator, get_generator

__all__ = ["Compose", "Normalize", "Pad", "RandomCrop", "RandomHorizontalFlip", "ToFloat", "Transform"]

Transform = Callable[[np.ndarray], np.ndarray]


def _check_images(name: str, x: np.ndarray) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected a batch of images (N, H, W) or (N, C, H, W), got shape {x.shape}")


class Compose:
    """Apply transforms one after the other, like ``torchvision.transforms.Compose``."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class ToFloat:
    """Convert to float32, multiplied by ``scale`` (default: 1/255 for uint8, so that pixels lie in [0, 1])."""

    def __init__(self, scale: float | None = None) -> None:
        self.scale = scale

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float32)
        if self.scale is not None:
            out *= np.float32(self.scale)
        elif x.dtype == np.uint8:
            out /= np.float32(255)  # divide (not multiply by 1/255): exactly rounded, as torchvision does
        return out

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale})"


class Normalize:
    """``(x - mean) / std``, per channel (axis 1 of ``(N, C, H, W)``) when ``mean``/``std`` are sequences.

    The usual MNIST values are ``Normalize(0.1307, 0.3081)`` (applied after ``ToFloat``).
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self._given = (mean, std)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must not be zero")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        mean, std = self.mean, self.std
        if mean.ndim or std.ndim:  # per channel: shape (C, 1, 1) lines up with (N, C, H, W)
            if x.ndim != 4 or x.shape[1] not in (mean.size, std.size):
                raise ValueError(f"Normalize: {max(mean.size, std.size)} channel values need a batch (N, C, H, W) "
                                 f"with that many channels, got shape {x.shape}")
            mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        out = (x - mean) / std
        return out.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self._given[0]}, std={self._given[1]})"


def _pad(x: np.ndarray, padding: int, fill: float) -> np.ndarray:
    if padding == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, padding)] * 2
    return np.pad(x, widths, mode="constant", constant_values=fill)


class Pad:
    """Pad the last two axes (height, width) with ``padding`` pixels of ``fill`` on every side (28x28 -> 32x32)."""

    def __init__(self, padding: int, fill: float = 0) -> None:
        self.padding, self.fill = int(padding), fill

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_images("Pad", x)
        return _pad(x, self.padding, self.fill)

    def __repr__(self) -> str:
        return f"Pad({self.padding}, fill={self.fill})"


class RandomCrop:
    """Pad by ``padding``, then cut a ``size`` window at a random place, drawn independently for each image.

    The standard CIFAR augmentation is ``RandomCrop(32, padding=4)``.
    """

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0,
                 generator: Generator | None = None) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.fill, self.generator = int(padding), fill, generator

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_images("RandomCrop", x)
        x = _pad(x, self.padding, self.fill)
        h, w = self.size
        H, W = x.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image {(H, W)}")
        g = get_generator(self.generator)
        top = g.integers(0, H - h + 1, (len(x),))
        left = g.integers(0, W - w + 1, (len(x),))
        # windows[n, ..., i, j] is the h x w window whose top-left corner is (i, j): pick one per image.
        windows = sliding_window_view(x, (h, w), axis=(-2, -1))
        return windows[np.arange(len(x)), ..., top, left, :, :]

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (one coin per image)."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        self.p, self.generator = p, generator

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_images("RandomHorizontalFlip", x)
        flip = get_generator(self.generator).uniform((len(x),)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
