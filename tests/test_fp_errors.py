"""Floating-point warnings raised inside an op point at the user's line and name the op (minidl.fp_errors)."""

import warnings

import numpy as np
import pytest

import minidl
import minidl.nn as nn


def test_log_of_a_negative_number_warns_at_the_users_line():
    x = minidl.tensor([-1.0, 4.0])
    with pytest.warns(RuntimeWarning, match="invalid value encountered in minidl op Log") as record:
        y = minidl.log(x)  # the warning must point here
    assert record[0].filename == __file__
    assert np.isnan(y.tolist()[0]) and y.tolist()[1] == pytest.approx(np.log(4.0))


def test_warnings_inside_a_module_and_in_backward_point_at_the_users_line():
    class Model(nn.Module):
        def forward(self, x):
            return minidl.log(x).sum()

    x = minidl.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in minidl op Log") as record:
        loss = Model()(x)  # through Module.__call__
    assert {r.filename for r in record} == {__file__}
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in minidl op Div") as record:
        loss.backward()  # d log(x)/dx = 1/x at 0
    assert {r.filename for r in record} == {__file__}


def test_numpys_error_settings_of_the_user_are_respected():
    x = minidl.tensor([-1.0])
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        minidl.log(x)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        minidl.log(x)  # nothing
    calls = []
    with np.errstate(invalid="call", call=lambda kind, flag: calls.append(kind)):
        minidl.log(x)
    assert calls == ["invalid value"]


def test_the_warning_is_still_an_error_under_the_test_suites_filter_for_minidl():
    """pyproject's ``error::RuntimeWarning:minidl.*`` keeps selecting it: its module stays the op's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=RuntimeWarning, module="minidl.*")
        with pytest.raises(RuntimeWarning, match="minidl op Log"):
            minidl.log(minidl.tensor([-1.0]))


def test_the_numpy_1_route_gives_the_same_warning(monkeypatch):
    from minidl import fp_errors

    monkeypatch.setattr(fp_errors, "_extobj_contextvar", None)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in minidl op Log") as record:
        minidl.log(minidl.tensor([-1.0]))
    assert record[0].filename == __file__
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        minidl.log(minidl.tensor([-1.0]))
