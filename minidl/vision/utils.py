"""``make_grid`` and ``save_image``, as ``torchvision.utils``: a batch of images tiled into one, saved as a PNG.

>>> import minidl
>>> grid = make_grid(minidl.ones(5, 1, 2, 2), nrow=3, padding=1)  # 3 columns, 2 rows, grey -> 3 channels
>>> tuple(grid.shape)
(3, 7, 10)
>>> grid[0, 0].tolist(), grid[0, 1].tolist()[:4]  # the padding row, then pad, pixel, pixel, pad
([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0])
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from minidl.creation import from_numpy
from minidl.tensor import Tensor

__all__ = ["make_grid", "save_image"]


def _normalize(a: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Clamp to ``value_range`` (default: ``a``'s min and max) and map it onto [0, 1]."""
    low, high = value_range if value_range is not None else (float(a.min()), float(a.max()))
    return (np.clip(a, low, high) - low) / max(high - low, 1e-5)


def make_grid(tensor: Tensor | Sequence[Tensor], nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile a batch ``(B, C, H, W)`` (or a list of ``(C, H, W)``) into one image ``(3 or C, rows, columns)``.

    ``nrow`` images per row, ``padding`` pixels of ``pad_value`` around and between them; one-channel images
    become three equal channels. ``normalize=True`` maps ``value_range`` (default: the min and max of the
    batch, or of each image with ``scale_each=True``) onto [0, 1], clamping what lies outside. A batch of
    one image is returned as that image (after these steps), without padding.
    """
    if isinstance(tensor, Sequence) and not isinstance(tensor, Tensor):
        a = np.stack([t.detach().numpy() if isinstance(t, Tensor) else np.asarray(t) for t in tensor])
    elif isinstance(tensor, Tensor):
        a = tensor.detach().numpy()
    else:
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if a.ndim == 2:  # one grey image (H, W)
        a = a[None]
    if a.ndim == 3:  # one image (C, H, W)
        a = (np.concatenate([a, a, a]) if a.shape[0] == 1 else a)[None]
    if a.ndim != 4:
        raise ValueError(f"make_grid: expected (B, C, H, W), (C, H, W) or (H, W), got {a.shape}")
    if a.shape[1] == 1:
        a = np.concatenate([a, a, a], axis=1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
        a = np.stack([_normalize(img, value_range) for img in a]) if scale_each else _normalize(a, value_range)
        a = a.astype(np.result_type(a.dtype, np.float32), copy=False)
    if a.shape[0] == 1:
        return from_numpy(np.ascontiguousarray(a[0]))
    n, channels, h, w = a.shape
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(n / xmaps))
    height, width = h + padding, w + padding
    grid = np.full((channels, height * ymaps + padding, width * xmaps + padding), pad_value, dtype=a.dtype)
    for k in range(n):
        y, x = divmod(k, xmaps)
        grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = a[k]
    return from_numpy(grid)


def save_image(tensor: Tensor | Sequence[Tensor], fp: str | os.PathLike | IO[bytes], format: str | None = None,
               **kwargs: Any) -> None:
    """Save ``make_grid(tensor, **kwargs)`` as an image file through Pillow (PNG for a ``.png`` name).

    Values in [0, 1] become bytes as torchvision makes them: ``clamp(x * 255 + 0.5, 0, 255)`` truncated.
    """
    from PIL import Image

    grid = make_grid(tensor, **kwargs).detach().numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)).save(fp, format=format)
