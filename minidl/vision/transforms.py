"""Image transforms with ``torchvision.transforms``' names, arguments and results, one image at a time.

A transform takes one image, a PIL image or a minidl Tensor ``(..., C, H, W)``, and returns one:
``ToTensor`` turns a PIL image (or an ``(H, W, C)`` uint8 array) into a float32 ``(C, H, W)`` Tensor in
[0, 1], and ``Normalize`` works on that Tensor. The random transforms draw from minidl's default
generator (``minidl.manual_seed(n)`` makes them repeat), as torchvision's draw from ``torch``'s; pass
``generator=`` to give one its own. Pillow is imported only when a PIL image is made or resized.

>>> import numpy as np
>>> t = Compose([ToTensor(), Normalize((0.5,), (0.5,))])
>>> t(np.array([[0, 255]], dtype=np.uint8)).tolist()  # (1, 2) grey -> (1, 1, 2), 0 -> -1, 255 -> 1
[[[-1.0, 1.0]]]

(``minidl.data.transforms`` holds the older batch-at-a-time transforms that ``TensorDataset`` uses.)
"""

from __future__ import annotations

import enum
import numbers
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl.creation import from_numpy
from minidl.random import Generator, get_generator
from minidl.tensor import Tensor

__all__ = ["CenterCrop", "Compose", "Grayscale", "InterpolationMode", "Lambda", "Normalize", "Pad", "RandomCrop",
           "RandomHorizontalFlip", "Resize", "ToPILImage", "ToTensor"]


class InterpolationMode(enum.Enum):
    """Resampling filters, as ``torchvision.transforms.InterpolationMode`` (values are Pillow's filter numbers)."""

    NEAREST = 0
    LANCZOS = 1
    BILINEAR = 2
    BICUBIC = 3
    BOX = 4
    HAMMING = 5


def _is_pil(x: Any) -> bool:
    image = sys.modules.get("PIL.Image")  # a PIL image exists only if Pillow was imported: no import needed here
    return image is not None and isinstance(x, image.Image)


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is in the `vision` extra
        raise ImportError("minidl.vision needs Pillow for images: pip install 'minidl[vision]'") from None
    return Image


def _array(img: Any) -> np.ndarray:
    """The pixels with H and W as the last two axes: a Tensor's array, or a PIL image's ``(C, H, W)``/``(H, W)``."""
    if isinstance(img, Tensor):
        return img.detach().numpy()
    if _is_pil(img):
        a = np.asarray(img)
        return a.transpose(2, 0, 1) if a.ndim == 3 else a
    raise TypeError(f"expected a PIL image or a minidl Tensor, got {type(img).__name__}")


def _like(img: Any, a: np.ndarray) -> Any:
    """``a`` (H, W last) as the same kind of image as ``img``."""
    if isinstance(img, Tensor):
        return from_numpy(np.ascontiguousarray(a))
    return _pil().fromarray(np.ascontiguousarray(a.transpose(1, 2, 0) if a.ndim == 3 else a))


def _size2(size: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name}: size must be an int or (h, w), got {size!r}")
    return int(size[0]), int(size[1])


def _ltrb(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """torchvision's padding: one int for all sides, (left/right, top/bottom), or (left, top, right, bottom)."""
    p = [padding] if isinstance(padding, numbers.Integral) else list(padding)
    if len(p) == 1:
        return p[0], p[0], p[0], p[0]
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding!r}")


def pad(img: Any, padding: int | Sequence[int], fill: float | Sequence[float] = 0,
        padding_mode: str = "constant") -> Any:
    """Pad the borders: ``padding_mode`` is "constant" (with ``fill``), "edge", "reflect" or "symmetric"."""
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
    left, top, right, bottom = _ltrb(padding)
    a = _array(img)
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode != "constant":
        return _like(img, np.pad(a, widths, mode=padding_mode))
    fills = np.broadcast_to(np.asarray(fill, dtype=a.dtype), a.shape[:-2] if a.ndim > 2 else ())
    out = np.empty(a.shape[:-2] + (a.shape[-2] + top + bottom, a.shape[-1] + left + right), dtype=a.dtype)
    out[...] = fills[..., None, None]
    out[..., top:top + a.shape[-2], left:left + a.shape[-1]] = a
    return _like(img, out)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The ``height`` x ``width`` window whose top-left pixel is (``top``, ``left``)."""
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    return _like(img, _array(img)[..., top:top + height, left:left + width])


def image_size(img: Any) -> tuple[int, int]:
    """(height, width) of a PIL image or a Tensor."""
    return (img.height, img.width) if _is_pil(img) else tuple(_array(img).shape[-2:])  # type: ignore[return-value]


class Compose:
    """Apply ``transforms`` in order: ``Compose([ToTensor(), Normalize(mean, std)])``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t}\n" for t in self.transforms) + ")"


class Lambda:
    """Apply a user function: ``Lambda(lambda x: x.repeat(3, 1, 1))``."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


class ToTensor:
    """PIL image or ``(H, W, C)`` / ``(H, W)`` array -> ``(C, H, W)`` Tensor; uint8 becomes float32 / 255, in [0, 1].

    Other dtypes keep their values and dtype (torchvision's rule): a float64 array stays float64.
    """

    _MODE_DTYPES = {"I": np.int32, "I;16": np.int16, "F": np.float32}

    def __call__(self, pic: Any) -> Tensor:
        if _is_pil(pic):
            a = np.array(pic, dtype=self._MODE_DTYPES.get(pic.mode, np.uint8))
            if pic.mode == "1":
                a = a * np.uint8(255)
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            a = pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        a = np.ascontiguousarray((a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1))
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / np.float32(255)  # a correctly rounded division, as torch's div(255)
        return from_numpy(a)

    def __repr__(self) -> str:
        return "ToTensor()"


class ToPILImage:
    """A ``(C, H, W)`` Tensor (floats in [0, 1] are scaled by 255 and truncated) or ``(H, W, C)`` array -> PIL image."""

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode

    def __call__(self, pic: Any) -> Any:
        if isinstance(pic, Tensor):
            a = pic.detach().numpy()
            a = a[None] if a.ndim == 2 else a
            if a.dtype.kind == "f" and self.mode != "F":
                a = (a * 255).astype(np.uint8)  # torch's pic.mul(255).byte(): truncation
            a = a.transpose(1, 2, 0)
        elif isinstance(pic, np.ndarray):
            a = pic[:, :, None] if pic.ndim == 2 else pic
        else:
            raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
        if a.ndim != 3 or a.shape[2] > 4:
            raise ValueError(f"pic should be (C, H, W) with at most 4 channels, got {a.shape}")
        image = _pil().fromarray(np.ascontiguousarray(a[:, :, 0] if a.shape[2] == 1 else a))  # L, LA, RGB, RGBA, F
        return image if self.mode is None or image.mode == self.mode else image.convert(self.mode)

    def __repr__(self) -> str:
        return f"ToPILImage(mode={self.mode})"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel c of a float Tensor ``(..., C, H, W)``, as torchvision."""

    def __init__(self, mean: Sequence[float] | float, std: Sequence[float] | float, inplace: bool = False) -> None:
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
        a = tensor.detach().numpy()
        if a.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {a.dtype}.")
        if a.ndim < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                             f"{tuple(a.shape)}")
        mean = np.asarray(self.mean, dtype=a.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=a.dtype).reshape(-1, 1, 1)
        if (std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {a.dtype}, leading to division by zero.")
        if self.inplace:
            np.subtract(a, mean, out=a)
            np.divide(a, std, out=a)
            return tensor
        return from_numpy((a - mean) / std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the borders (see :func:`pad`): ``Pad(2)`` makes a 28x28 image 32x32."""

    def __init__(self, padding: int | Sequence[int], fill: float | Sequence[float] = 0,
                 padding_mode: str = "constant") -> None:
        _ltrb(padding)  # validate now, not at the first image
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img: Any) -> Any:
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class CenterCrop:
    """The central ``size`` window (``top = round((H - h) / 2)``); an image smaller than ``size`` is padded with 0."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size2(size, "CenterCrop")

    def __call__(self, img: Any) -> Any:
        (h, w), (th, tw) = image_size(img), self.size
        if th > h or tw > w:
            img = pad(img, [max(tw - w, 0) // 2, max(th - h, 0) // 2, max(tw - w + 1, 0) // 2,
                            max(th - h + 1, 0) // 2])
            h, w = image_size(img)
        return crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Pad by ``padding`` (if given), then cut a ``size`` window at a random place (uniform over all places)."""

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float | Sequence[float] = 0, padding_mode: str = "constant",
                 *, generator: Generator | None = None) -> None:
        self.size = _size2(size, "RandomCrop")
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode
        self.generator = generator

    def __call__(self, img: Any) -> Any:
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        (h, w), (th, tw) = image_size(img), self.size
        if self.pad_if_needed and w < tw:
            img = pad(img, [tw - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = pad(img, [0, th - h], self.fill, self.padding_mode)
        h, w = image_size(img)
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        g = get_generator(self.generator)
        top, left = int(g.integers(0, h - th + 1, ())), int(g.integers(0, w - tw + 1, ()))
        return crop(img, top, left, th, tw)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left to right with probability ``p``."""

    def __init__(self, p: float = 0.5, *, generator: Generator | None = None) -> None:
        self.p, self.generator = p, generator

    def __call__(self, img: Any) -> Any:
        if get_generator(self.generator).uniform(()) >= self.p:
            return img
        if _is_pil(img):
            return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
        return _like(img, _array(img)[..., ::-1])

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resample to ``size`` with Pillow: ``(h, w)``, or an int for the shorter side (the aspect ratio kept).

    Tensors are resampled channel by channel as float32 Pillow images (uint8 Tensors are rounded back).
    """

    def __init__(self, size: int | Sequence[int], interpolation: InterpolationMode = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True) -> None:
        self.size, self.interpolation, self.max_size = size, InterpolationMode(interpolation), max_size

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """torchvision's rule: the shorter side becomes ``size``, the longer ``int(size * long / short)``."""
        if not isinstance(self.size, numbers.Integral) and len(self.size) == 2:
            return int(self.size[0]), int(self.size[1])
        new_short = int(self.size if isinstance(self.size, numbers.Integral) else self.size[0])
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(new_short * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def __call__(self, img: Any) -> Any:
        oh, ow = self.output_size(*image_size(img))
        if _is_pil(img):
            return img.resize((ow, oh), self.interpolation.value)
        a, image = _array(img), _pil()
        planes = a.reshape(-1, *a.shape[-2:]).astype(np.float32)
        out = np.stack([np.asarray(image.fromarray(p).resize((ow, oh), self.interpolation.value)) for p in planes])
        if a.dtype == np.uint8:
            out = np.clip(np.round(out), 0, 255)
        return from_numpy(out.astype(a.dtype).reshape(*a.shape[:-2], oh, ow))

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation={self.interpolation.name.lower()})"


class Grayscale:
    """To grey (ITU-R 601-2 luma: 0.299 R + 0.587 G + 0.114 B), with 1 or 3 (equal) output channels."""

    def __init__(self, num_output_channels: int = 1) -> None:
        if num_output_channels not in (1, 3):
            raise ValueError("num_output_channels should be either 1 or 3")
        self.num_output_channels = num_output_channels

    def __call__(self, img: Any) -> Any:
        if _is_pil(img):
            grey = img.convert("L")
            return grey if self.num_output_channels == 1 else grey.convert("RGB")
        a = _array(img)
        if a.shape[-3] == 3:
            r, g, b = a[..., 0, :, :], a[..., 1, :, :], a[..., 2, :, :]
            a = (0.2989 * r + 0.587 * g + 0.114 * b).astype(a.dtype)[..., None, :, :]
        return _like(img, np.repeat(a, self.num_output_channels, axis=-3))

    def __repr__(self) -> str:
        return f"Grayscale(num_output_channels={self.num_output_channels})"
