"""Recurrent layers: ``RNNCell``, ``LSTMCell``, ``GRUCell`` (one step) and ``RNN``, ``LSTM``, ``GRU``
(whole sequences, stacked and optionally bidirectional). Names, shapes, gate order and init are
PyTorch's, so PyTorch weights load with ``load_state_dict`` and give the same outputs.

One step, for input x (B, I) and state h (B, H):

    RNN:   h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)            (or relu)
    LSTM:  z = x W_ih^T + b_ih + h W_hh^T + b_hh = [i, f, g, o]   c' = s(f) c + s(i) tanh(g),  h' = s(o) tanh(c')
    GRU:   [r, z] = s(x W_i{r,z}^T + h W_h{r,z}^T + b),  n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
           h' = (1 - z) n + z h

(s = sigmoid; the LSTM and GRU element-wise parts are the fused ops of ``minidl.ops.rnn``). A layer
computes x W_ih^T for all time steps as one matmul before its loop over time; the loop does one
small matmul h W_hh^T and one fused cell per step (an LSTM or GRU over full-length sequences runs the
whole loop as the single op ``lstm_sequence`` or ``gru_sequence``, whose backward computes dL/dW_hh
as one matmul; with ``lengths`` too, the padded steps masked). The
autograd engine walks the unrolled graph iteratively, so backpropagation through thousands of
steps works. For truncated backpropagation through time, carry the state across chunks of a long
sequence with ``detach()``::

    h = None
    for chunk in chunks:                      # each (T_chunk, B, I)
        out, h = lstm(chunk, h)
        loss(out).backward()                  # gradients stop at the chunk's first step
        h = tuple(s.detach() for s in h)

>>> import minidl, minidl.nn as nn
>>> lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(minidl.zeros(3, 5, 4))
>>> out.shape, h.shape, c.shape
(minidl.Size([3, 5, 8]), minidl.Size([2, 3, 8]), minidl.Size([2, 3, 8]))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.creation import empty, factory_backend, zeros
from minidl.errors import shape_error
from minidl.nn import init
from minidl.nn.linear import linear
from minidl.nn.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.dropout import dropout
from minidl.ops.elementwise import relu, tanh
from minidl.ops.matmul import matmul
from minidl.ops.rnn import gru_cell, gru_sequence, lstm_cell, lstm_sequence, recurrence
from minidl.ops.shape import cat, stack
from minidl.random import Generator
from minidl.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _step(mode: str, xw: Tensor, h: Tensor, c: Tensor | None, w_hh_t: Tensor,
          b_hh: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """One time step from the input projection ``xw`` (B, G*H) (for RNN and LSTM it already holds b_hh)."""
    hw = matmul(h, w_hh_t)
    if mode == "LSTM":
        return lstm_cell(xw + hw, c)
    if mode == "GRU":
        return gru_cell(xw, hw if b_hh is None else hw + b_hh, h), None
    pre = xw + hw
    return (tanh(pre) if mode == "RNN_TANH" else relu(pre)), None


def _input_projection(mode: str, x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    """x W_ih^T + b_ih, plus b_hh except for the GRU (whose b_hn sits inside r * (...))."""
    bias = b_ih if (b_hh is None or mode == "GRU") else b_ih + b_hh
    return linear(x, w_ih, bias)


class _CellBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None, backend: Any = None,
                 device: Any = None,
                 generator: Generator | None = None, mode: str | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        self.mode = mode or self.mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = _GATES[self.mode]
        dtype = dtype or "float32"
        self.weight_ih = Parameter(empty(G * hidden_size, input_size, dtype=dtype, backend=backend))
        self.weight_hh = Parameter(empty(G * hidden_size, hidden_size, dtype=dtype, backend=backend))
        if bias:
            self.bias_ih = Parameter(empty(G * hidden_size, dtype=dtype, backend=backend))
            self.bias_hh = Parameter(empty(G * hidden_size, dtype=dtype, backend=backend))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound, generator)

    def _run(self, x: Tensor, h: Tensor | None, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        name = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise shape_error(name, x.shape, expected=f"input (B, {self.input_size}) or ({self.input_size},)")
        batched = x.ndim == 2
        x = x if batched else x.reshape(1, -1)
        B, H = x.shape[0], self.hidden_size
        states = []
        for s in (h, c):
            if s is None:
                states.append(zeros(B, H, dtype=x.dtype, backend=x.backend))
            elif s.shape != ((B, H) if batched else (H,)):
                raise shape_error(name, x.shape, s.shape, expected=f"a state of shape {(B, H) if batched else (H,)}")
            else:
                states.append(s if batched else s.reshape(1, -1))
        xw = _input_projection(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, c = _step(self.mode, xw, states[0], states[1] if self.mode == "LSTM" else None, self.weight_hh.mT,
                     self.bias_hh)
        if not batched:
            h, c = h.reshape(H), (None if c is None else c.reshape(H))
        return h, c

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (``nonlinearity="relu"`` for relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None, backend: Any = None,
                 device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, backend, generator=generator,
                         mode="RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._run(input, hx, None)[0]


class LSTMCell(_CellBase):
    """One LSTM step: ``(h', c') = cell(x, (h, c))``; gates [i, f, g, o] in the rows of W_ih and W_hh."""

    mode = "LSTM"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = (None, None) if hx is None else hx
        h, c = self._run(input, h, c)
        assert c is not None
        return h, c


class GRUCell(_CellBase):
    """One GRU step: ``h' = cell(x, h)``; gates [r, z, n] in the rows of W_ih and W_hh."""

    mode = "GRU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._run(input, hx, None)[0]


# --------------------------------------------------------------------------- whole sequences
class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (suffix ``_reverse`` for the backward direction), the layer loop
    and the time loop.

    ``forward(input, hx=None, lengths=None)``: input (T, B, I) (``batch_first``: (B, T, I)) or
    unbatched (T, I); hx (num_layers * num_directions, B, H), zeros when None (for LSTM a tuple
    (h0, c0)). ``lengths`` (B,) gives each sequence's true length in a padded batch: steps past a
    sequence's end leave its state unchanged and output zeros, so the final states are taken at each
    sequence's own end and the reverse direction starts there (like a PyTorch packed sequence).
    Returns ``(output, h_n)`` (``(output, (h_n, c_n))`` for LSTM); output (T, B, num_directions * H).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None,
                 backend: Any = None, device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__()
        if num_layers < 1 or hidden_size < 1:
            raise ValueError(f"{type(self).__name__}: num_layers and hidden_size must be positive, "
                             f"got {num_layers} and {hidden_size}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), bidirectional
        G, D, dtype = _GATES[mode], 2 if bidirectional else 1, dtype or "float32"
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * D
            for suffix in ("", "_reverse")[:D]:
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                shapes = [(G * hidden_size, layer_input), (G * hidden_size, hidden_size)]
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    shapes += [(G * hidden_size,), (G * hidden_size,)]
                for name, shape in zip(names, shapes, strict=True):
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, backend=backend)))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, generator)

    def flatten_parameters(self) -> None:
        """Nothing to do here (PyTorch packs weights for cuDNN); kept so PyTorch code runs unchanged."""

    def _weights(self, layer: int, suffix: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        get = self._parameters.get
        return (get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"),
                get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}"))

    def _direction(self, x: Tensor, layer: int, reverse: bool, h: Tensor, c: Tensor | None,
                   valid: Any) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run one direction of one layer over x (T, B, I): (output (T, B, H), h_T, c_T)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, "_reverse" if reverse else "")
        xw = _input_projection(self.mode, x, w_ih, b_ih, b_hh)  # all time steps in one matmul
        if reverse:  # the reverse direction runs the reversed sequence (and mask) and reverses its output
            xw, valid = xw[::-1], (None if valid is None else valid[::-1])
        if self.mode == "LSTM":  # LSTM and GRU: the whole layer as one fused op, padded steps masked
            out, h, c = lstm_sequence(xw, h, c, w_hh, valid)
        elif self.mode == "GRU":
            out, h = gru_sequence(xw, h, w_hh, b_hh, valid)
        else:  # Elman RNN: the same recurrence, as minidl ops
            w_hh_t, act = w_hh.mT, (tanh if self.mode == "RNN_TANH" else relu)  # W_hh transposed once
            out, h = recurrence(lambda x_t, s: (act(x_t + matmul(s[0], w_hh_t)),), xw, (h,), valid)
        return (out[::-1] if reverse else out), h, c

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        name, is_lstm = type(self).__name__, self.mode == "LSTM"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise shape_error(name, input.shape, expected=f"input (T, B, {self.input_size}) "
                              f"({'(B, T, I)' if self.batch_first else 'time first'}) or unbatched (T, I)")
        batched = input.ndim == 3
        x = input if batched else input.reshape(input.shape[0], 1, input.shape[1])
        if batched and self.batch_first:
            x = x.swapaxes(0, 1)
        T, B, H, D = x.shape[0], x.shape[1], self.hidden_size, 2 if self.bidirectional else 1
        h0, c0 = self._initial_states(hx, x, batched, is_lstm)
        valid = self._valid_steps(lengths, T, B, x)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = dropout(x, self.dropout, training=True)
            outs = []
            for d in range(D):
                k = layer * D + d
                out, h, c = self._direction(x, layer, d == 1, h0[k], c0[k] if is_lstm else None, valid)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if D == 1 else cat(outs, axis=2)
        output, h_n = x, stack(h_n, 0)
        c_n = stack(c_n, 0) if is_lstm else None
        if not batched:
            output, h_n = output.reshape(T, D * H), h_n.reshape(-1, H)
            c_n = None if c_n is None else c_n.reshape(-1, H)
        elif self.batch_first:
            output = output.swapaxes(0, 1)
        return output, ((h_n, c_n) if is_lstm else h_n)

    def _initial_states(self, hx: Any, x: Tensor, batched: bool, is_lstm: bool) -> tuple[list[Tensor], list[Any]]:
        name, L = type(self).__name__, self.num_layers * (2 if self.bidirectional else 1)
        B, H = x.shape[1], self.hidden_size
        given = (hx if is_lstm else (hx, None)) if hx is not None else (None, None)
        states = []
        for s in given[: 2 if is_lstm else 1]:
            if s is None:
                s = zeros(L, B, H, dtype=x.dtype, backend=x.backend)
            elif s.shape != ((L, B, H) if batched else (L, H)):
                want = (L, B, H) if batched else (L, H)
                raise shape_error(name, s.shape, expected=f"an initial state of shape {want} "
                                  f"(num_layers * num_directions, batch, hidden_size)")
            states.append(list(s.reshape(L, B, H)) if L > 1 else [s.reshape(B, H)])
        return states[0], (states[1] if is_lstm else [None] * L)

    def _valid_steps(self, lengths: Any, T: int, B: int, x: Tensor) -> Any:
        """A (T, B, 1) boolean array: is step t inside sequence b? None when all are full."""
        if lengths is None:
            return None
        lengths = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths).reshape(-1)
        if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"{type(self).__name__}: lengths must hold {B} values in [1, {T}], got {lengths.tolist()}")
        if (lengths == T).all():
            return None
        return x.backend.asarray(np.arange(T)[:, None, None] < lengths[None, :, None])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(RNNBase):
    """Elman RNN over a sequence: ``nonlinearity`` "tanh" (default) or "relu". See ``RNNBase``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None, backend: Any = None,
                 device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, dtype, backend, generator=generator)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """LSTM over a sequence (fused cell per step); returns ``(output, (h_n, c_n))``. See ``RNNBase``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None,
                 backend: Any = None, device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, backend, generator=generator)


class GRU(RNNBase):
    """GRU over a sequence (fused cell per step); returns ``(output, h_n)``. See ``RNNBase``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None,
                 backend: Any = None, device: Any = None, generator: Generator | None = None) -> None:
        backend = factory_backend(backend, device)  # PyTorch's device= or minidl's backend=
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype, backend, generator=generator)
