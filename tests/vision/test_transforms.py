"""minidl.vision.transforms against torchvision's documented rules: hand-computed values, and torch where it can."""

import numpy as np
import pytest
import torch
from PIL import Image

import minidl
from minidl.vision import transforms as T


def tensor_of(a):
    return minidl.from_numpy(np.ascontiguousarray(a))


def test_to_tensor_scales_uint8_and_moves_channels_first():
    hwc = np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10
    x = T.ToTensor()(hwc)
    expected = torch.from_numpy(hwc).permute(2, 0, 1).float().div(255)  # what torchvision's ToTensor computes
    assert tuple(x.shape) == (3, 2, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x.array, expected.numpy())  # bit for bit
    assert x.array[1, 0, 0] == np.float32(10 / 255) and x.array[2, 1, 3] == np.float32(230 / 255)


def test_to_tensor_from_pil_grey_rgb_and_other_dtypes():
    grey = Image.fromarray(np.array([[0, 51], [102, 255]], dtype=np.uint8))
    np.testing.assert_array_equal(T.ToTensor()(grey).array, np.float32([[[0, 51 / 255], [102 / 255, 1]]]))
    rgb = Image.fromarray(np.array([[[255, 0, 51]]], dtype=np.uint8))
    np.testing.assert_array_equal(T.ToTensor()(rgb).array[:, 0, 0], np.float32([1.0, 0.0, 51 / 255]))
    floats = np.array([[2.0, -3.0]])  # not uint8: values and dtype kept, as torchvision
    out = T.ToTensor()(floats)
    assert out.dtype == np.float64 and out.tolist() == [[[2.0, -3.0]]]
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([1, 2])
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 1, 1, 1), np.uint8))


def test_normalize_matches_torch_per_channel():
    a = np.random.default_rng(0).random((3, 4, 5), dtype=np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    got = T.Normalize(mean, std)(tensor_of(a)).array
    t = torch.from_numpy(a)
    expected = (t - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    np.testing.assert_array_equal(got, expected.numpy())
    assert T.Normalize((0.5,), (0.5,))(tensor_of(np.float32([[[0.0, 0.25, 1.0]]]))).tolist() == [[[-1.0, -0.5, 1.0]]]
    x = tensor_of(a.copy())
    assert T.Normalize(mean, std, inplace=True)(x) is x
    np.testing.assert_array_equal(x.array, expected.numpy())
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.0,), (0.0,))(tensor_of(a))
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize((0.0,), (1.0,))(tensor_of(np.zeros((1, 2, 2), np.uint8)))


def test_compose_and_lambda():
    t = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize((1.0,), (2.0,))])
    assert t(np.array([[255]], dtype=np.uint8)).tolist() == [[[0.5]]]  # 255 -> 1 -> 2 -> (2 - 1) / 2
    assert "ToTensor()" in repr(t) and "Lambda()" in repr(t)
    with pytest.raises(TypeError, match="should be callable"):
        T.Lambda(3)


def test_pad_modes_match_torch():
    a = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    for mode, torch_mode in (("constant", "constant"), ("edge", "replicate"), ("reflect", "reflect")):
        got = T.Pad((1, 2, 2, 1), padding_mode=mode)(tensor_of(a)).array  # left 1, top 2, right 2, bottom 1
        expected = torch.nn.functional.pad(torch.from_numpy(a)[None], (1, 2, 2, 1), mode=torch_mode)[0]
        np.testing.assert_array_equal(got, expected.numpy())
    img = T.Pad(2, fill=(9, 8, 7))(Image.new("RGB", (28, 28), (1, 2, 3)))
    assert img.size == (32, 32) and img.getpixel((0, 0)) == (9, 8, 7) and img.getpixel((2, 2)) == (1, 2, 3)
    assert T.Pad([1, 0])(tensor_of(a)).shape == (1, 3, 6)  # (left/right, top/bottom)


def test_center_crop_uses_torchvisions_rounding():
    a = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    assert T.CenterCrop(2)(tensor_of(a)).tolist() == [[[12.0, 13.0], [17.0, 18.0]]]  # top = left = round(1.5) = 2
    assert T.CenterCrop((1, 3))(tensor_of(a)).tolist() == [[[11.0, 12.0, 13.0]]]
    img = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4))
    assert np.asarray(T.CenterCrop(2)(img)).tolist() == [[5, 6], [9, 10]]
    assert T.CenterCrop(4)(tensor_of(np.ones((1, 2, 2), np.float32))).tolist() == [
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]]  # smaller images are padded with zeros


def test_random_crop_pads_then_crops_reproducibly():
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4) + 1
    crop = T.RandomCrop(4, padding=1)
    seen = set()
    for seed in range(60):
        minidl.manual_seed(seed)
        out = crop(tensor_of(a)).array[0]
        padded = np.pad(a[0], 1)
        places = [(i, j) for i in range(3) for j in range(3) if np.array_equal(padded[i:i + 4, j:j + 4], out)]
        assert len(places) == 1  # a 4x4 window of the padded 6x6 image
        seen.add(places[0])
        minidl.manual_seed(seed)
        np.testing.assert_array_equal(crop(tensor_of(a)).array[0], out)  # the same seed, the same crop
    assert seen == {(i, j) for i in range(3) for j in range(3)}  # every one of the 9 places is drawn
    img = Image.fromarray(np.zeros((28, 28), np.uint8))
    assert T.RandomCrop(32, padding=4)(img).size == (32, 32)
    assert T.RandomCrop((5, 6), pad_if_needed=True)(tensor_of(a)).shape == (1, 5, 6)
    with pytest.raises(ValueError, match=r"Required crop size \(5, 5\) is larger than input image size \(4, 4\)"):
        T.RandomCrop(5)(tensor_of(a))


def test_random_horizontal_flip():
    a = np.array([[[1.0, 2.0, 3.0]]], dtype=np.float32)
    assert T.RandomHorizontalFlip(p=1.0)(tensor_of(a)).tolist() == [[[3.0, 2.0, 1.0]]]
    assert T.RandomHorizontalFlip(p=0.0)(tensor_of(a)).tolist() == [[[1.0, 2.0, 3.0]]]
    img = Image.fromarray(np.uint8([[1, 2, 3]]))
    assert np.asarray(T.RandomHorizontalFlip(p=1.0)(img)).tolist() == [[3, 2, 1]]
    flip = T.RandomHorizontalFlip()
    minidl.manual_seed(0)
    first = [flip(tensor_of(a)).tolist()[0][0][0] for _ in range(200)]
    minidl.manual_seed(0)
    assert [flip(tensor_of(a)).tolist()[0][0][0] for _ in range(200)] == first
    assert 70 < first.count(3.0) < 130  # about half flipped
    g = minidl.Generator(5)
    own = [T.RandomHorizontalFlip(generator=g)(tensor_of(a)).tolist()[0][0][0] for _ in range(20)]
    g.manual_seed(5)
    assert [T.RandomHorizontalFlip(generator=g)(tensor_of(a)).tolist()[0][0][0] for _ in range(20)] == own


def test_resize_sizes_follow_the_shorter_side_rule():
    r = T.Resize(32)
    assert r.output_size(28, 28) == (32, 32) and r.output_size(100, 50) == (64, 32)
    assert r.output_size(30, 45) == (32, 48)  # int(32 * 45 / 30) = 48
    assert T.Resize((10, 20)).output_size(3, 3) == (10, 20)
    assert T.Resize(32, max_size=40).output_size(100, 50) == (40, 20)
    img = T.Resize(56)(Image.fromarray(np.zeros((28, 14), np.uint8)))
    assert img.size == (56, 112) and img.mode == "L"


def test_resize_values():
    a = np.uint8([[0, 100], [200, 50]])
    near = T.Resize(4, interpolation=T.InterpolationMode.NEAREST)(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(near), np.kron(a, np.ones((2, 2), np.uint8)))  # each pixel -> 2x2
    x = np.random.default_rng(1).random((2, 3, 8, 8), dtype=np.float32)
    up = T.Resize(16)(tensor_of(x)).array
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), size=(16, 16), mode="bilinear",
                                               align_corners=False)
    np.testing.assert_allclose(up, expected.numpy(), atol=1e-5)  # upsampling: torch's bilinear is Pillow's
    down = T.Resize(4)(tensor_of(x)).array
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), size=(4, 4), mode="bilinear", antialias=True)
    np.testing.assert_allclose(down, expected.numpy(), atol=1e-5)  # antialiased, as torchvision's default
    box = T.Resize(1)(tensor_of(np.uint8([[[10, 20], [30, 41]]])))  # uint8 tensors are rounded back to uint8
    assert box.dtype == np.uint8 and box.tolist() == [[[25]]]


def test_grayscale_and_to_pil_image():
    rgb = Image.fromarray(np.uint8([[[255, 0, 0], [0, 255, 0]]]))
    assert np.asarray(T.Grayscale()(rgb)).tolist() == [[76, 150]]  # Pillow's L = (299 R + 587 G + 114 B) / 1000
    three = T.Grayscale(3)(Image.fromarray(np.uint8([[7]])))
    assert three.mode == "RGB" and three.getpixel((0, 0)) == (7, 7, 7)
    x = tensor_of(np.float32([[[1.0]], [[0.0]], [[0.5]]]))
    assert T.Grayscale()(x).array.item() == pytest.approx(0.2989 + 0.114 * 0.5)
    img = T.ToPILImage()(x)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 0, 127)  # mul(255) then truncate: 127.5 -> 127
    grey = T.ToPILImage()(T.ToTensor()(np.uint8([[3, 250]])))
    assert grey.mode == "L" and np.asarray(grey).tolist() == [[3, 250]]  # k / 255 * 255 truncates back to k, as torch
