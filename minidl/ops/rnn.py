"""Fused recurrent cells: the element-wise part of one LSTM or GRU time step as one op.

The matrix products that build the gate pre-activations are ordinary ``matmul`` ops (for the input,
one matmul over all time steps before the loop); these ops fuse everything after them into one
kernel call per step instead of a dozen element-wise ops. Gate order is PyTorch's.

LSTM, from z (B, 4H) = x W_ih^T + b_ih + h W_hh^T + b_hh = [z_i, z_f, z_g, z_o]:
    i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
    c = f * c_prev + i * g,     h = o * tanh(c)
  backward, from gh = dL/dh and gc = dL/dc (the gradient reaching c from the next step):
    gc' = gc + gh * o * (1 - tanh(c)^2)                    (c reaches L directly and through h)
    dL/dz = [gc' g i(1-i),  gc' c_prev f(1-f),  gc' i (1-g^2),  gh tanh(c) o(1-o)]
    dL/dc_prev = gc' f

GRU, from a = x W_ih^T + b_ih and b = h_prev W_hh^T + b_hh, both (B, 3H) = [r, z, n] chunks:
    r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r * b_n)
    h = (1 - z) * n + z * h_prev
  backward, from gh = dL/dh:
    gn = gh (1-z)(1-n^2),  gz = gh (h_prev - n) z(1-z),  gr = gn b_n r(1-r)
    dL/da = [gr, gz, gn],  dL/db = [gr, gz, gn * r],  dL/dh_prev = gh * z  (+ dL/db W_hh, through the matmul)

A whole LSTM layer over time is also one op, ``lstm_sequence``: its forward loops over the steps
(one small matmul h W_hh^T and one fused cell each), and its backward loops back over them keeping
every step's dL/dz in one (T, B, 4H) array, so the gradient of W_hh is one big matmul
dL/dW_hh = sum_t dz_t^T h_{t-1} = dZ^T H_prev  ((4H, T*B) @ (T*B, H))
instead of T small ones added up one by one, and the engine walks one node instead of 5 per step.
``gru_sequence`` does the same for a GRU layer (dL/dW_hh from the (T, B, 3H) array of dL/db).

Double backward: the kernels return plain arrays, which cannot be differentiated again. When the
backward pass is itself recorded (``create_graph=True``), the same formulas run as minidl ops instead.

>>> import minidl
>>> z, c0 = minidl.zeros(2, 12), minidl.zeros(2, 3)
>>> h, c = lstm_cell(z, c0)
>>> h.shape, float(c.sum())
(minidl.Size([2, 3]), 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.autograd import Function, grad, is_grad_enabled
from minidl.errors import shape_error
from minidl.ops.elementwise import sigmoid, tanh
from minidl.ops.matmul import matmul
from minidl.ops.shape import cat, stack
from minidl.tensor import Tensor


def _gates(x: Tensor, n: int) -> list[Tensor]:
    """The ``n`` equal chunks of the last axis of x (the gates)."""
    H = x.shape[-1] // n
    return [x[:, k * H:(k + 1) * H] for k in range(n)]


class LSTMCell(Function):
    """(h, c) = one LSTM step from the gate pre-activations z (B, 4H) and c_prev (B, H)."""

    def forward(self, z, c_prev):
        h, c, self.acts = self.backend.lstm_cell_forward(z, c_prev)
        self.c = c
        return h, c

    def backward(self, gh, gc):
        z, c_prev = self.inputs
        if is_grad_enabled():  # create_graph=True: the formulas as minidl ops, so they can be differentiated
            i, f, g, o = _gates(z, 4)
            i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
            tc = tanh(f * c_prev + i * g)
            gc = gc + gh * o * (1 - tc * tc)
            gz = cat([gc * g * i * (1 - i), gc * c_prev * f * (1 - f), gc * i * (1 - g * g), gh * tc * o * (1 - o)],
                     axis=1)
            return gz, gc * f
        gz, gc_prev = self.backend.lstm_cell_backward(gh.array, gc.array, self.acts, c_prev.array, self.c)
        return Tensor._wrap(gz, self.backend, False), Tensor._wrap(gc_prev, self.backend, False)


class GRUCell(Function):
    """h = one GRU step from a = x W_ih^T + b_ih, b = h_prev W_hh^T + b_hh (both (B, 3H)) and h_prev (B, H)."""

    def forward(self, a, b, h_prev):
        h, self.acts = self.backend.gru_cell_forward(a, b, h_prev)
        return h

    def backward(self, gh):
        a, b, h_prev = self.inputs
        if is_grad_enabled():  # create_graph=True: the formulas as minidl ops
            (a_r, a_z, a_n), (b_r, b_z, b_n) = _gates(a, 3), _gates(b, 3)
            r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
            n = tanh(a_n + r * b_n)
            gn = gh * (1 - z) * (1 - n * n)
            gz = gh * (h_prev - n) * z * (1 - z)
            gr = gn * b_n * r * (1 - r)
            return cat([gr, gz, gn], axis=1), cat([gr, gz, gn * r], axis=1), gh * z
        ga, gb, gh_prev = self.backend.gru_cell_backward(gh.array, self.acts, h_prev.array)
        wrap = Tensor._wrap
        return wrap(ga, self.backend, False), wrap(gb, self.backend, False), wrap(gh_prev, self.backend, False)


class LSTMSequence(Function):
    """(out (T, B, H), h_T, c_T) = an LSTM layer run over all T steps of the gate inputs xw (T, B, 4H).

    ``xw`` is x W_ih^T + b_ih + b_hh for every step (one matmul before this op); ``w_hh`` (4H, H).
    Memory: the forward keeps h and c for every step ((T+1, B, H) each) and the gate activations
    ((T, B, 4H)), as the unrolled graph would.
    """

    def forward(self, xw, h0, c0, w_hh):
        backend, xp = self.backend, self.backend.xp
        T, (B, H) = xw.shape[0], h0.shape
        hs, cs = xp.empty((T + 1, B, H), dtype=xw.dtype), xp.empty((T + 1, B, H), dtype=xw.dtype)
        hs[0], cs[0] = h0, c0
        w_hh_t, self.acts = w_hh.T, []
        for t in range(T):
            z = backend.matmul(hs[t], w_hh_t)
            z += xw[t]
            hs[t + 1], cs[t + 1], acts = backend.lstm_cell_forward(z, cs[t])
            self.acts.append(acts)
        self.hs, self.cs = hs, cs
        return hs[1:], hs[T], cs[T]

    def backward(self, g_out, g_h, g_c):
        xw, h0, c0, w_hh = self.inputs
        if is_grad_enabled():  # create_graph=True: run the steps again as differentiable ops
            return _composed_backward(_lstm_sequence_composed, self.inputs, (g_out, g_h, g_c))
        backend, xp = self.backend, self.backend.xp
        T, (B, H) = xw.shape[0], h0.shape
        g_out, gh, gc, w = g_out.array, g_h.array, g_c.array, w_hh.array
        gz_all = xp.empty(xw.shape, dtype=xw.dtype)
        for t in range(T - 1, -1, -1):
            gz, gc = backend.lstm_cell_backward(gh + g_out[t], gc, self.acts[t], self.cs[t], self.cs[t + 1])
            gz_all[t] = gz
            gh = backend.matmul(gz, w)  # dL/dh_{t-1} through z_t = ... + h_{t-1} W_hh^T
        g_w = backend.matmul(gz_all.reshape(T * B, 4 * H).T, self.hs[:T].reshape(T * B, H))  # one big matmul
        wrap = Tensor._wrap
        return (wrap(gz_all, backend, False), wrap(gh, backend, False), wrap(gc, backend, False),
                wrap(g_w, backend, False))


class GRUSequence(Function):
    """(out (T, B, H), h_T) = a GRU layer run over all T steps of xa (T, B, 3H) = x W_ih^T + b_ih.

    Step t: b_t = h_{t-1} W_hh^T + b_hh (b_hh stays out of xa: its n-part is multiplied by r),
    h_t = gru_cell(xa_t, b_t, h_{t-1}). The backward runs the fused cell backward step by step and
    gets dL/dW_hh as one (3H, T*B) @ (T*B, H) product and dL/db_hh as one sum. Memory: h for every
    step ((T+1, B, H)) and the gate activations, as the unrolled graph would keep.
    """

    def forward(self, xa, h0, w_hh, b_hh=None):
        backend, xp = self.backend, self.backend.xp
        T, (B, H) = xa.shape[0], h0.shape
        hs = xp.empty((T + 1, B, H), dtype=xa.dtype)
        hs[0] = h0
        w_hh_t, self.acts = w_hh.T, []
        for t in range(T):
            b = backend.matmul(hs[t], w_hh_t)
            if b_hh is not None:
                b += b_hh
            hs[t + 1], acts = backend.gru_cell_forward(xa[t], b, hs[t])
            self.acts.append(acts)
        self.hs = hs
        return hs[1:], hs[T]

    def backward(self, g_out, g_h):
        if is_grad_enabled():  # create_graph=True: run the steps again as differentiable ops
            return _composed_backward(_gru_sequence_composed, self.inputs, (g_out, g_h))
        xa, h0, w_hh = self.inputs[:3]
        backend, xp = self.backend, self.backend.xp
        T, (B, H) = xa.shape[0], h0.shape
        g_out, gh, w = g_out.array, g_h.array, w_hh.array
        ga_all, gb_all = xp.empty(xa.shape, dtype=xa.dtype), xp.empty(xa.shape, dtype=xa.dtype)
        for t in range(T - 1, -1, -1):
            ga_all[t], gb_all[t], gh_prev = backend.gru_cell_backward(gh + g_out[t], self.acts[t], self.hs[t])
            gh = gh_prev + backend.matmul(gb_all[t], w)  # h_{t-1} also reaches h_t through b_t
        gb_rows = gb_all.reshape(T * B, 3 * H)
        g_w = backend.matmul(gb_rows.T, self.hs[:T].reshape(T * B, H))  # one big matmul
        grads = [ga_all, gh, g_w]
        if len(self.inputs) == 4:
            grads.append(gb_rows.sum(axis=0))
        return tuple(Tensor._wrap(g, backend, False) for g in grads)


def _lstm_sequence_composed(xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The same layer as ``LSTMSequence``, one differentiable op per step (for double backward)."""
    w_hh_t, outputs = w_hh.mT, []
    for t in range(xw.shape[0]):
        h, c = lstm_cell(xw[t] + matmul(h, w_hh_t), c)
        outputs.append(h)
    return stack(outputs, 0), h, c


def _gru_sequence_composed(xa: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The same layer as ``GRUSequence``, one differentiable op per step (for double backward)."""
    w_hh_t, outputs = w_hh.mT, []
    for t in range(xa.shape[0]):
        b = matmul(h, w_hh_t)
        h = gru_cell(xa[t], b if b_hh is None else b + b_hh, h)
        outputs.append(h)
    return stack(outputs, 0), h


def _composed_backward(composed: Any, inputs: Sequence[Tensor], grads: tuple[Tensor, ...]) -> tuple[Any, ...]:
    """Gradients of a sequence op, with a graph: rebuild it step by step and differentiate that."""
    needed = [x for x in inputs if x.requires_grad]
    outputs = composed(*inputs)
    found = iter(grad(outputs, needed, grads, create_graph=True, allow_unused=True))
    return tuple(next(found) if x.requires_grad else None for x in inputs)


# --------------------------------------------------------------------------- functional API
def _check(op: str, gates: Tensor, n: int, state: Tensor) -> None:
    if gates.ndim != 2 or state.ndim != 2 or gates.shape != (state.shape[0], n * state.shape[1]):
        raise shape_error(op, gates.shape, state.shape,
                          expected=f"gates (B, {n}H) and a state (B, H), both 2-d")


def lstm_cell(z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """One fused LSTM step: ``(h, c)`` from gate pre-activations z (B, 4H) = [i, f, g, o] and c_prev (B, H)."""
    _check("lstm_cell", z, 4, c_prev)
    return LSTMCell()(z, c_prev)


def gru_cell(a: Tensor, b: Tensor, h_prev: Tensor) -> Tensor:
    """One fused GRU step: h from a = x W_ih^T + b_ih, b = h_prev W_hh^T + b_hh (both (B, 3H) = [r, z, n])."""
    _check("gru_cell", a, 3, h_prev)
    if b.shape != a.shape:
        raise shape_error("gru_cell", a.shape, b.shape, expected="a and b of one shape (B, 3H)")
    return GRUCell()(a, b, h_prev)


def lstm_sequence(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A whole LSTM layer as one op: ``(out (T, B, H), h_T, c_T)`` from the gate inputs
    xw (T, B, 4H) = x W_ih^T + b_ih + b_hh of every step, the initial state h0, c0 (B, H) and W_hh (4H, H).

    >>> import minidl
    >>> out, h, c = lstm_sequence(minidl.zeros(5, 2, 12), minidl.zeros(2, 3), minidl.zeros(2, 3), minidl.zeros(12, 3))
    >>> out.shape, h.shape, float(c.sum())
    (minidl.Size([5, 2, 3]), minidl.Size([2, 3]), 0.0)
    """
    if xw.ndim != 3 or h0.ndim != 2 or xw.shape[1:] != (h0.shape[0], 4 * h0.shape[1]) or c0.shape != h0.shape \
            or w_hh.shape != (4 * h0.shape[1], h0.shape[1]):
        raise shape_error("lstm_sequence", xw.shape, h0.shape, c0.shape, w_hh.shape,
                          expected="xw (T, B, 4H), h0 and c0 (B, H), w_hh (4H, H)")
    return LSTMSequence()(xw, h0, c0, w_hh)


def gru_sequence(xa: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """A whole GRU layer as one op: ``(out (T, B, H), h_T)`` from xa (T, B, 3H) = x W_ih^T + b_ih of every
    step, the initial state h0 (B, H), W_hh (3H, H) and b_hh (3H,) or None.

    >>> import minidl
    >>> out, h = gru_sequence(minidl.zeros(5, 2, 9), minidl.ones(2, 3), minidl.zeros(9, 3))
    >>> out.shape, float(h.sum())  # zero inputs: z = 1/2, n = 0, so h halves every step
    (minidl.Size([5, 2, 3]), 0.1875)
    """
    if xa.ndim != 3 or h0.ndim != 2 or xa.shape[1:] != (h0.shape[0], 3 * h0.shape[1]) \
            or w_hh.shape != (3 * h0.shape[1], h0.shape[1]) or (b_hh is not None and b_hh.shape != (3 * h0.shape[1],)):
        shapes = (xa.shape, h0.shape, w_hh.shape) + (() if b_hh is None else (b_hh.shape,))
        raise shape_error("gru_sequence", *shapes, expected="xa (T, B, 3H), h0 (B, H), w_hh (3H, H), b_hh (3H,)")
    return GRUSequence()(xa, h0, w_hh) if b_hh is None else GRUSequence()(xa, h0, w_hh, b_hh)
