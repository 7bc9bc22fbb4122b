"""``minidl.nn.functional`` (import it as ``F``): the layers' math as plain functions.

This module only gathers functions from ``minidl.ops`` (where each op's math and gradient live)
under PyTorch's names, so ``F.cross_entropy(logits, y)`` reads like in PyTorch. Layer families
append their functions here (conv, pooling, normalization, attention, ...).

>>> import minidl
>>> import minidl.nn.functional as F
>>> F.relu(minidl.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

from minidl.nn.linear import linear
from minidl.ops.activation import elu, gelu, leaky_relu, silu, softplus
from minidl.ops.attention import scaled_dot_product_attention
from minidl.ops.conv import conv1d, conv2d, conv_transpose2d
from minidl.ops.dropout import dropout
from minidl.ops.dropout import dropout_nd as dropout1d
from minidl.ops.dropout import dropout_nd as dropout2d
from minidl.ops.dropout import dropout_nd as dropout3d
from minidl.ops.elementwise import relu, sigmoid, tanh
from minidl.ops.embedding import embedding
from minidl.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from minidl.ops.norm import batch_norm, group_norm, layer_norm
from minidl.ops.pool import adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from minidl.ops.shape import pad
from minidl.ops.softmax import log_softmax, softmax
