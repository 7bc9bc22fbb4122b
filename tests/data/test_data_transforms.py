"""Batch transforms: values against hand-computed results, per-sample randomness, seeding."""

import numpy as np
import pytest

import minidl
from minidl.data import DataLoader, TensorDataset
from minidl.data.transforms import Compose, Normalize, Pad, RandomCrop, RandomHorizontalFlip, ToFloat


def test_to_float_and_normalize():
    x = np.array([[[0, 51], [102, 255]]], dtype=np.uint8)
    f = ToFloat()(x)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, np.array([[[0.0, 0.2], [0.4, 1.0]]], dtype=np.float32))
    assert ToFloat(scale=1 / 16)(np.array([[16, 8]])).tolist() == [[1.0, 0.5]]
    n = Normalize(0.5, 0.25)(f)
    assert n.dtype == np.float32
    np.testing.assert_allclose(n, [[[-2.0, -1.2], [-0.4, 2.0]]], rtol=1e-6)


def test_normalize_per_channel():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 2.0), np.full((2, 2), 3.0)])[None].astype(np.float32)
    out = Normalize([1.0, 1.0, 2.0], [1.0, 0.5, 0.5])(x)
    assert out[0, :, 0, 0].tolist() == [0.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="3 channel values need a batch"):
        Normalize([0, 0, 0], [1, 1, 1])(np.zeros((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="std must not be zero"):
        Normalize(0, 0)


def test_pad():
    out = Pad(2)(np.ones((1, 28, 28), np.uint8))
    assert out.shape == (1, 32, 32) and out.sum() == 28 * 28 and out[0, :2].sum() == 0 and out[0, 2, 2] == 1
    with pytest.raises(ValueError, match=r"expected a batch of images .* got shape \(28, 28\)"):
        Pad(2)(np.ones((28, 28)))


def test_random_crop_cuts_the_drawn_window_of_each_image():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (6, 3, 8, 8)).astype(np.uint8)
    crop = RandomCrop(8, padding=2, generator=minidl.Generator(4))
    out = crop(x)
    assert out.shape == (6, 3, 8, 8) and out.dtype == np.uint8
    g = minidl.Generator(4)  # replay the draws: top offsets first, then left offsets
    top, left = g.integers(0, 5, (6,)), g.integers(0, 5, (6,))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(6):
        np.testing.assert_array_equal(out[n], padded[n, :, top[n]:top[n] + 8, left[n]:left[n] + 8])
    assert len({(int(t), int(l)) for t, l in zip(top, left)}) > 1  # one draw per image
    grey = RandomCrop((3, 4), generator=minidl.Generator(0))(np.arange(60).reshape(1, 6, 10))
    assert grey.shape == (1, 3, 4) and np.all(np.diff(grey[0], axis=1) == 1)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(9)(x)


def test_random_horizontal_flip():
    x = np.arange(8 * 2 * 3).reshape(8, 2, 3)
    out = RandomHorizontalFlip(0.5, generator=minidl.Generator(1))(x)
    flipped = minidl.Generator(1).uniform((8,)) < 0.5
    assert 0 < flipped.sum() < 8
    for n in range(8):
        np.testing.assert_array_equal(out[n], x[n, :, ::-1] if flipped[n] else x[n])
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    assert x[0, 0].tolist() == [0, 1, 2]  # the input is not modified


def test_compose_in_a_loader_is_reproducible():
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)

    def run():
        aug = Compose([RandomCrop(28, padding=4, generator=minidl.Generator(2)), ToFloat(),
                       RandomHorizontalFlip(generator=minidl.Generator(3)), Normalize(0.1307, 0.3081)])
        ds = TensorDataset(images, np.arange(20), transform=aug)
        return [x.numpy() for x, _ in DataLoader(ds, batch_size=8, shuffle=True, generator=minidl.Generator(1),
                                                 prefetch=True)]

    a, b = run(), run()
    assert [x.shape for x in a] == [(8, 28, 28), (8, 28, 28), (4, 28, 28)] and a[0].dtype == np.float32
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert "RandomCrop((28, 28), padding=4)" in repr(Compose([RandomCrop(28, padding=4)]))
