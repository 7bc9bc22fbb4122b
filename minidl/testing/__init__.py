"""Testing tools: gradient checks and the op test harness (see ``harness.py``)."""

from minidl.testing.gradcheck import GradcheckError, gradcheck, gradgradcheck
from minidl.testing.harness import (
    OpCase,
    backend_params,
    check_backward,
    check_forward,
    distinct,
    fixed,
    integers,
    make_op_tests,
    make_property_tests,
    positive,
    randn,
    uniform,
)

__all__ = [
    "GradcheckError", "gradcheck", "gradgradcheck", "OpCase", "backend_params", "check_backward", "check_forward",
    "distinct", "fixed", "integers", "make_op_tests", "make_property_tests", "positive", "randn", "uniform",
]
