"""``minidl.nn``: layers, losses and the ``Module`` they are built on (PyTorch names and semantics).

>>> import minidl, minidl.nn as nn
>>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
>>> model(minidl.zeros(4, 2)).shape
minidl.Size([4, 1])
>>> model.num_parameters()
33
"""

from minidl.nn.parameter import Parameter  # noqa: I001  (Parameter and Module first: layers import them)
from minidl.nn.module import IncompatibleKeys, Module
from minidl.nn import init
from minidl.nn import utils
from minidl.nn.activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from minidl.nn.containers import Identity, ModuleDict, ModuleList, Sequential
from minidl.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from minidl.nn.pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from minidl.nn.padding import (
    CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d, ReflectionPad1d,
    ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d,
    ZeroPad3d,
)
from minidl.nn.dropout import Dropout, Dropout1d, Dropout2d
from minidl.nn.embedding import Embedding
from minidl.nn.flatten import Flatten, Unflatten
from minidl.nn.linear import Linear
from minidl.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from minidl.nn.attention import MultiheadAttention
from minidl.nn.transformer import (
    LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, Transformer, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)
from minidl.nn.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from minidl.nn import functional
