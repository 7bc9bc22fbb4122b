"""What a new user reads after the classic first mistakes (each message says what to change)."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl.errors import DTypeError, ShapeError


def test_images_into_linear_say_the_last_dimension_and_suggest_flatten():
    layer = nn.Linear(784, 10)
    with pytest.raises(ShapeError, match=r"last dimension .*in_features=784, but it is 28.*nn\.Flatten\(\)") as e:
        layer(minidl.zeros(4, 1, 28, 28))
    assert "(4, 1, 28, 28)" in str(e.value)
    # images of another size: flattening alone is not enough, the layer must change too
    with pytest.raises(ShapeError, match=r"nn\.Flatten\(\).*nn\.Linear\(1024, 10\)"):
        layer(minidl.zeros(4, 1, 32, 32))
    assert layer(nn.Flatten()(minidl.zeros(4, 1, 28, 28))).shape == (4, 10)


@pytest.mark.parametrize("layer, x, hint", [
    (nn.Conv2d(1, 8, 3), minidl.zeros(2, 28, 28, 1), r"x\.permute\(0, 3, 1, 2\)"),
    (nn.Conv2d(3, 8, 3), minidl.zeros(2, 32, 32, 3), r"x\.permute\(0, 3, 1, 2\)"),
    (nn.ConvTranspose2d(3, 8, 3), minidl.zeros(2, 9, 9, 3), r"x\.permute\(0, 3, 1, 2\)"),
    (nn.Conv1d(3, 8, 3), minidl.zeros(2, 50, 3), r"x\.transpose\(1, 2\)"),
])
def test_channels_last_input_to_a_conv_says_minidl_is_channels_first(layer, x, hint):
    with pytest.raises(ShapeError, match="channels-first .*" + hint):
        layer(x)
    moved = x.permute(0, 3, 1, 2) if x.ndim == 4 else x.transpose(1, 2)
    assert layer(moved).shape[:2] == (2, 8)


def test_a_channel_count_that_does_not_fit_gets_no_channels_last_hint():
    with pytest.raises(ShapeError, match="input channels 2") as e:
        nn.Conv2d(3, 8, 3)(minidl.zeros(2, 2, 9, 9))
    assert "channels-last" not in str(e.value)


@pytest.mark.parametrize("target", [minidl.tensor([0.0, 2.0, 1.0]), [0.0, 2.0, 1.0], np.array([0.0, 2.0, 1.0])])
def test_float_class_indices_in_cross_entropy_say_int64(target):
    logits = minidl.zeros(3, 4)
    with pytest.raises(DTypeError, match=r"int64 .*target\.long\(\).*probabilities .*\(3, 4\)"):
        F.cross_entropy(logits, target)
    # the same values as int64 class indices: log(4) each
    expected = np.log(4.0)
    assert float(F.cross_entropy(logits, minidl.tensor([0, 2, 1]))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", ["int64", "float64"])
@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(6, 3), (2, 6)),
    (lambda: nn.Linear(6, 3), (2, 5, 6)),
    (lambda: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    (lambda: nn.Conv1d(2, 3, 3), (2, 2, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 3), (2, 2, 5, 5)),
])
def test_a_float32_layer_refuses_other_input_dtypes_naming_both(make, shape, dtype):
    """As PyTorch ("mat1 and mat2 must have the same dtype"): no silent float64 compute and no float64
    gradient on a float32 weight."""
    layer = make()
    x = minidl.tensor(np.ones(shape, dtype=dtype))
    with pytest.raises(DTypeError, match=f"input {dtype}, weight float32.*x\\.float\\(\\)"):
        layer(x)
    y = layer(x.float())
    y.sum().backward()
    assert y.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    # a float64 layer takes float64 input
    layer.double()
    assert layer(x.double()).dtype == np.float64


def test_functional_linear_checks_the_bias_dtype_too():
    w, b = minidl.ones(3, 2), minidl.ones(3, dtype="float64")
    with pytest.raises(DTypeError, match="bias float64"):
        F.linear(minidl.ones(4, 2), w, b)
