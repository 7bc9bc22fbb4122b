"""make_grid and save_image: the layout computed by hand, and the PNG read back with Pillow."""

import numpy as np
import pytest
from PIL import Image

import minidl
from minidl.vision.utils import make_grid, save_image


def batch(n, c=1, h=2, w=3):
    """Image k is filled with the value k + 1 (so each tile says where it came from)."""
    return minidl.from_numpy(np.arange(1, n + 1, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, c, h, w),
                                                                                                 np.float32))


def test_layout_rows_columns_and_padding():
    grid = make_grid(batch(5), nrow=3, padding=1, pad_value=-1.0).array
    # 3 columns x 2 rows of 2x3 tiles, 1 pixel around and between: (2 + 1) * 2 + 1 = 7 rows, (3 + 1) * 3 + 1 = 13
    assert grid.shape == (3, 7, 13)
    assert (grid[0] == grid[1]).all() and (grid[1] == grid[2]).all()  # grey -> three equal channels
    assert grid[0, 1].tolist() == [-1, 1, 1, 1, -1, 2, 2, 2, -1, 3, 3, 3, -1]
    assert grid[0, 4].tolist() == [-1, 4, 4, 4, -1, 5, 5, 5, -1, -1, -1, -1, -1]  # the 6th place stays padding
    assert grid[0, 0].tolist() == [-1] * 13 and grid[0, 3].tolist() == [-1] * 13 and grid[0, 6].tolist() == [-1] * 13


def test_defaults_lists_and_single_images():
    grid = make_grid(batch(10, c=3, h=4, w=4))  # nrow 8, padding 2: 2 rows
    assert tuple(grid.shape) == (3, 2 * 6 + 2, 8 * 6 + 2)
    assert grid.array[0, 2, 2] == 1 and grid.array[0, 8, 2] == 9 and grid.array[0, 8, 14] == 0  # 11th place empty
    as_list = make_grid([batch(2)[0], batch(2)[1]], padding=0)
    assert as_list.array[0].tolist() == [[1, 1, 1, 2, 2, 2]] * 2
    one = make_grid(batch(1, c=1))  # a batch of one: that image, three channels, no padding
    assert tuple(one.shape) == (3, 2, 3)


def test_normalize_value_range_and_scale_each():
    x = minidl.from_numpy(np.float32([[[[-1.0, 0.0, 1.0]]], [[[2.0, 3.0, 4.0]]]]))
    row = make_grid(x, padding=0, normalize=True).array[0, 0]
    np.testing.assert_allclose(row, np.array([0, 1, 2, 3, 4, 5]) / 5)  # the batch's min -1 and max 4 -> 0 and 1
    row = make_grid(x, padding=0, normalize=True, scale_each=True).array[0, 0]
    np.testing.assert_allclose(row, [0, 0.5, 1, 0, 0.5, 1])
    row = make_grid(x, padding=0, normalize=True, value_range=(0.0, 2.0)).array[0, 0]
    np.testing.assert_allclose(row, [0, 0, 0.5, 1, 1, 1])  # clamped outside the range
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(x, normalize=True, value_range=[0, 1])
    assert x.array[0, 0, 0, 0] == -1.0  # the input is not changed


def test_save_image_writes_a_png_with_torchvisions_rounding(tmp_path):
    x = np.zeros((2, 3, 2, 2), np.float32)
    x[0, 0] = 1.0  # image 0 red
    x[1, 2] = 0.5  # image 1 half blue: 0.5 * 255 + 0.5 = 128
    x[1, 1, 0, 0] = 1.5  # clamped to 255
    path = tmp_path / "grid.png"
    save_image(minidl.from_numpy(x), path, nrow=2, padding=1, pad_value=0.2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (7, 4)
        pixels = np.asarray(img)
    assert tuple(pixels[0, 0]) == (51, 51, 51)  # padding 0.2 * 255 + 0.5 = 51.5 -> 51
    assert tuple(pixels[1, 1]) == (255, 0, 0) and tuple(pixels[2, 2]) == (255, 0, 0)
    assert tuple(pixels[1, 4]) == (0, 255, 128) and tuple(pixels[2, 5]) == (0, 0, 128)
    grey = tmp_path / "grey.png"
    save_image(minidl.from_numpy(np.float32([[[0.0, 1.0]]])), grey)  # one grey image
    with Image.open(grey) as img:
        assert img.size == (2, 1) and np.asarray(img.convert("L")).tolist() == [[0, 255]]
