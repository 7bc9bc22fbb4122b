"""minidl.vision: torchvision's role, under its names (``import minidl.vision as torchvision``).

* :mod:`minidl.vision.datasets`: MNIST, FashionMNIST, CIFAR10, fetched through minidl's checksummed cache.
* :mod:`minidl.vision.transforms`: ToTensor, Normalize, Compose, Lambda, RandomCrop, RandomHorizontalFlip,
  Resize, Pad, CenterCrop, Grayscale, ToPILImage, one image at a time.
* :mod:`minidl.vision.utils`: make_grid and save_image (a PNG through Pillow).

Pillow (the ``vision`` extra) is imported only when an image is made, so ``import minidl.vision`` is cheap.
"""

from minidl.vision import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]
