"""Anomaly mode: the first NaN/inf raises at the op that made it, naming the op and the user's line."""

import inspect

import numpy as np
import pytest

import minidl
from minidl.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from minidl.errors import AnomalyError

HERE = __file__.rsplit("/", 1)[-1]


def _line_of(marker: str) -> int:
    """The line of this file that holds ``marker`` (so the tests do not hard-code line numbers)."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)


def test_nan_made_in_forward_log_of_a_negative():
    x = minidl.tensor([1.0, -1.0, 2.0], requires_grad=True)
    y = x * 2
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        y.log()  # MARK-log
    message = str(info.value)
    assert message.startswith("Log returned nan values in its output 0 (forward")
    assert "input 0: shape (3,), float32, backend numpy" in message
    assert f"{HERE}:{_line_of('MARK-log')} in test_nan_made_in_forward_log_of_a_negative" in message
    assert "y.log()" in message  # the source line itself


def test_nan_from_zero_times_inf_names_the_mul_not_the_later_ops():
    a = minidl.tensor([0.0, 1.0], requires_grad=True)
    b = minidl.tensor([np.inf, 1.0])
    with detect_anomaly():
        with pytest.raises(AnomalyError, match=r"^Mul returned nan values in its output 0") as info:
            ((a * b) + 1).sum()  # MARK-mul
    assert f"{HERE}:{_line_of('MARK-mul')}" in str(info.value)
    assert "input 1: shape (2,), float32, backend numpy" in str(info.value)


def test_inf_made_only_in_backward_sqrt_at_zero():
    x = minidl.tensor([4.0, 0.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt()  # MARK-sqrt
        loss = (y * 3).sum()  # forward is finite everywhere: sqrt(0) = 0
        assert np.isfinite(loss.item())
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("Sqrt's backward returned inf values in its gradient for input 0 (shape (2,), float32")
    assert f"{HERE}:{_line_of('MARK-sqrt')} in test_inf_made_only_in_backward_sqrt_at_zero" in message
    assert x.grad is None  # nothing was accumulated: backward stopped at the first bad gradient


def test_op_made_outside_anomaly_mode_still_raises_but_has_no_line():
    x = minidl.tensor([0.0], requires_grad=True)
    y = x.sqrt().sum()
    with detect_anomaly(), pytest.raises(AnomalyError, match="not recorded"):
        y.backward()


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_off_by_default_and_without_check_nan():
    assert not is_anomaly_enabled()
    x = minidl.tensor([0.0], requires_grad=True)
    x.sqrt().sum().backward()  # no anomaly mode: inf gradient, no error
    assert np.isinf(x.grad.numpy()).all()
    with detect_anomaly(check_nan=False):
        assert is_anomaly_enabled()
        minidl.tensor([0.0], requires_grad=True).sqrt().sum().backward()
    assert not is_anomaly_enabled()


def test_set_detect_anomaly_and_decorator():
    with set_detect_anomaly(True):
        assert is_anomaly_enabled()
        with set_detect_anomaly(False):
            assert not is_anomaly_enabled()
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def step():
        return minidl.tensor([-1.0]).log()

    with pytest.raises(AnomalyError):
        step()
    assert issubclass(AnomalyError, RuntimeError)


def test_double_backward_names_the_op_whose_backward_went_bad():
    x = minidl.tensor([1.0, 0.0], requires_grad=True)
    with detect_anomaly():
        y = (x ** 1.5).sum()  # MARK-pow: first derivative 1.5 x^0.5 is finite, second is inf at 0
        (g,) = minidl.grad(y, x, create_graph=True)
        assert np.isfinite(g.detach().numpy()).all()
        with pytest.raises(AnomalyError) as info:
            g.sum().backward()
    assert "backward returned inf values" in str(info.value)
