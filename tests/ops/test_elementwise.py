"""Elementwise ops through the shared harness: forward vs NumPy float64, gradients vs finite
differences, double backward, on every backend in float32 and float64."""

import numpy as np
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minidl
from minidl.testing import OpCase, fixed, make_op_tests, make_property_tests, positive, randn, uniform


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


CASES = [
    OpCase("add", lambda a, b: a + b, np.add, [randn(3, 4), randn(3, 4)]),
    OpCase("add_broadcast", lambda a, b: a + b, np.add, [randn(2, 3, 4), randn(3, 1)]),
    OpCase("add_scalar", lambda a: a + 2.5, lambda a: a + 2.5, [randn(3)]),
    OpCase("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, [randn(3)]),
    OpCase("sub", lambda a, b: a - b, np.subtract, [randn(4, 1), randn(1, 5)]),
    OpCase("rsub_scalar", lambda a: 1.0 - a, lambda a: 1.0 - a, [randn(3)]),
    OpCase("mul", lambda a, b: a * b, np.multiply, [randn(2, 3), randn(3)]),
    OpCase("rmul_scalar", lambda a: 3 * a, lambda a: 3 * a, [randn(2, 2)]),
    OpCase("div", lambda a, b: a / b, np.divide, [randn(2, 3), positive(2, 3)]),
    OpCase("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, [positive(3)]),
    OpCase("pow_tensor", lambda a, b: a**b, np.power, [positive(2, 3), randn(2, 3)]),
    OpCase("pow_scalar", lambda a: a**3, lambda a: a**3, [randn(2, 3)]),
    OpCase("pow_half", lambda a: a**0.5, np.sqrt, [positive(4)]),
    OpCase("rpow_scalar", lambda a: 2.0**a, lambda a: 2.0**a, [randn(4)]),
    OpCase("neg", lambda a: -a, np.negative, [randn(3)]),
    OpCase("abs", lambda a: abs(a), np.abs, [fixed([-2.0, -0.5, 0.7, 3.0])]),
    OpCase("exp", minidl.exp, np.exp, [randn(3, 2)]),
    OpCase("log", minidl.log, np.log, [positive(3, 2)]),
    OpCase("log1p", minidl.log1p, np.log1p, [uniform(5, low=-0.5, high=2.0)]),
    OpCase("sqrt", minidl.sqrt, np.sqrt, [positive(5)]),
    OpCase("sin", minidl.sin, np.sin, [randn(5)]),
    OpCase("cos", minidl.cos, np.cos, [randn(5)]),
    OpCase("tanh", minidl.tanh, np.tanh, [randn(2, 5)]),
    OpCase("sigmoid", minidl.sigmoid, _sigmoid, [randn(2, 5, scale=3)]),
    OpCase("relu", minidl.relu, lambda x: np.maximum(x, 0), [fixed([[-1.5, 0.3], [2.0, -0.2]])]),
    OpCase("maximum", minidl.maximum, np.maximum, [fixed([1.0, -2.0, 3.0]), fixed([0.5, 1.0, 4.0])]),
    OpCase("minimum", minidl.minimum, np.minimum, [fixed([1.0, -2.0, 3.0]), fixed([[0.5], [4.0]])]),
    OpCase("clip", lambda x: minidl.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
           [fixed([-1.0, -0.3, 0.2, 0.9])]),
    OpCase("clip_lower_only", lambda x: x.clip(min=0.0), lambda x: np.clip(x, 0.0, None), [fixed([-1.0, 0.5])]),
    OpCase("where", lambda a, b: minidl.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
           [fixed([[1.0, -2.0], [-0.5, 3.0]]), randn(2, 2)]),
    OpCase("chain", lambda a, b: (a * b + a.exp()).tanh() / (b * b + 1),
           lambda a, b: np.tanh(a * b + np.exp(a)) / (b * b + 1), [randn(3), randn(3)]),
]

test_forward, test_backward, test_double_backward = make_op_tests(CASES)


# Property-based: hypothesis draws broadcastable shapes; the harness checks values and gradients.
BROADCAST = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
PROPERTY_CASES = [
    OpCase("add", lambda a, b: a + b, np.add, [], shapes=BROADCAST),
    OpCase("mul", lambda a, b: a * b, np.multiply, [], shapes=BROADCAST),
    OpCase("div", lambda a, b: a / b, np.divide, [], shapes=BROADCAST, fill=positive),
    OpCase("maximum", minidl.maximum, np.maximum, [], shapes=BROADCAST),
    OpCase("sum_then_tanh", lambda a: a.sum(0).tanh() if a.ndim else a.tanh(),
           lambda a: np.tanh(a.sum(0)) if a.ndim else np.tanh(a), [],
           shapes=array_shapes(min_dims=0, max_dims=3, max_side=3).map(lambda s: (s,))),
]
test_property = make_property_tests(PROPERTY_CASES)
