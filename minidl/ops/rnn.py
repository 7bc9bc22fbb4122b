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
``dL/dW_hh = sum_t dz_t^T h_{t-1} = dZ^T H_prev``  (``(4H, T*B) @ (T*B, H)``)
instead of T small ones added up one by one, and the engine walks one node instead of 5 per step.
``gru_sequence`` does the same for a GRU layer (dL/dW_hh from the (T, B, 3H) array of dL/db).

Variable-length batches: a ``mask`` (T, B, 1), True where step t lies inside sequence b, makes a padded
step keep the state, h_t = m h' + (1 - m) h_{t-1} (and c likewise), and output m h'; so the final state
of each sequence is taken at its own end (PyTorch's packed sequences). The backward sends m dL/dh' into
the cell and (1 - m) dL/dh_t past it.

Each op follows the rule of ``minidl/ops/fused.py``: its backward is another node (``*Backward``, the
kernels above), and the op's composite definition (``_lstm_cell``, ``_gru_cell`` and the one
recurrence ``recurrence`` that chains them over time, with the mask) is the reference and, differentiated
twice, the double-backward path.

>>> import minidl
>>> z, c0 = minidl.zeros(2, 12), minidl.zeros(2, 3)
>>> h, c = lstm_cell(z, c0)
>>> h.shape, float(c.sum())
(minidl.Size([2, 3]), 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl.autograd import Function
from minidl.errors import shape_error
from minidl.ops.elementwise import mask as mask_op
from minidl.ops.elementwise import sigmoid, tanh, where
from minidl.ops.fused import FusedBackward
from minidl.ops.matmul import matmul
from minidl.ops.shape import stack
from minidl.tensor import Tensor


# --------------------------------------------------------------------------- composite definitions
def _gates(x: Tensor, n: int) -> list[Tensor]:
    """The ``n`` equal chunks of the last axis of x (the gates)."""
    H = x.shape[-1] // n
    return [x[:, k * H:(k + 1) * H] for k in range(n)]


def _lstm_cell(z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step in minidl ops: (h, c) from z = [i, f, g, o] and c_prev."""
    i, f, g, o = _gates(z, 4)
    c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def _gru_cell(a: Tensor, b: Tensor, h_prev: Tensor) -> Tensor:
    """One GRU step in minidl ops: h from a = [a_r, a_z, a_n], b = [b_r, b_z, b_n] and h_prev."""
    (a_r, a_z, a_n), (b_r, b_z, b_n) = _gates(a, 3), _gates(b, 3)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = tanh(a_n + r * b_n)
    return (1 - z) * n + z * h_prev


def recurrence(step: Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, ...]], xs: Tensor,
                state: tuple[Tensor, ...], mask: Any) -> tuple[Tensor, ...]:
    """(outputs (T, B, H), *final state): ``state = step(xs[t], state)`` for every t; where ``mask[t]`` is
    False the state is kept and the output is 0 (the module docstring). The state's first part is h."""
    outputs = []
    for t in range(xs.shape[0]):
        new = step(xs[t], state)
        if mask is None or mask[t].all():
            state = new
            outputs.append(new[0])
        else:
            state = tuple(where(mask[t], n, s) for n, s in zip(new, state, strict=True))
            outputs.append(mask_op(new[0], mask[t].astype(new[0].dtype)))
    return (stack(outputs, 0), *state)


def _lstm_layer(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, mask: Any = None) -> tuple[Tensor, ...]:
    """The LSTM layer of ``lstm_sequence`` in minidl ops."""
    w_hh_t = w_hh.mT
    return recurrence(lambda x, s: _lstm_cell(x + matmul(s[0], w_hh_t), s[1]), xw, (h0, c0), mask)


def _gru_layer(xa: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None,
               mask: Any = None) -> tuple[Tensor, ...]:
    """The GRU layer of ``gru_sequence`` in minidl ops."""
    w_hh_t = w_hh.mT

    def step(x: Tensor, s: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        b = matmul(s[0], w_hh_t)
        return (_gru_cell(x, b if b_hh is None else b + b_hh, s[0]),)

    return recurrence(step, xa, (h0,), mask)


# --------------------------------------------------------------------------- one step
class LSTMCellFunction(Function):
    """(h, c) = one LSTM step from the gate pre-activations z (B, 4H) and c_prev (B, H)."""

    def forward(self, z, c_prev):
        h, c, acts = self.backend.lstm_cell_forward(z, c_prev)
        self.save_for_backward(acts, c)  # the four gate activations (B, 4H), and c for tanh(c)
        return h, c

    def backward(self, gh, gc):
        return LSTMCellBackward(*self.saved_tensors)(gh, gc, *self.inputs)


class LSTMCellBackward(FusedBackward):
    """(dL/dz, dL/dc_prev) from (gh, gc, z, c_prev) by the ``lstm_cell_backward`` kernel."""

    n_grads, wrt = 2, (0, 1)

    def __init__(self, acts: Any, c: Any) -> None:
        self.acts, self.c = acts, c

    def forward(self, gh, gc, z, c_prev):
        return self.backend.lstm_cell_backward(gh, gc, self.acts, c_prev, self.c)

    def composite(self, z, c_prev):
        return _lstm_cell(z, c_prev)


class GRUCellFunction(Function):
    """h = one GRU step from a = x W_ih^T + b_ih, b = h_prev W_hh^T + b_hh (both (B, 3H)) and h_prev (B, H)."""

    def forward(self, a, b, h_prev):
        h, acts = self.backend.gru_cell_forward(a, b, h_prev)
        self.save_for_backward(acts)  # r, z, n and b_n (B, 4H)
        return h

    def backward(self, gh):
        return GRUCellBackward(*self.saved_tensors)(gh, *self.inputs)


class GRUCellBackward(FusedBackward):
    """(dL/da, dL/db, dL/dh_prev) from (gh, a, b, h_prev) by the ``gru_cell_backward`` kernel."""

    n_grads, wrt = 1, (0, 1, 2)

    def __init__(self, acts: Any) -> None:
        self.acts = acts

    def forward(self, gh, a, b, h_prev):
        return self.backend.gru_cell_backward(gh, self.acts, h_prev)

    def composite(self, a, b, h_prev):
        return _gru_cell(a, b, h_prev)


# --------------------------------------------------------------------------- whole layers
def hidden_product(backend: Any, w_hh: Any, h: Any, add: Any = None) -> Any:
    """``h W_hh^T + add`` (B, G*H) as a new C-contiguous array, for the fused cell kernels; ``add`` (B, G*H),
    (G*H,) or None.

    Computed as ``(W_hh h^T)^T``: the same dot products, but BLAS runs a
    (G*H, B) result with small B about 25% faster than the (B, G*H) one (32 x 256 x 1024 on one thread:
    211 against 290 us with the addition; docs/benchmarks.md), and the addition, which copies anyway, puts
    the transposed product back in row order."""
    z_t = backend.matmul(w_hh, h.T)  # (G*H, B)
    out = backend.xp.empty(z_t.shape[::-1], dtype=z_t.dtype)
    if add is None:
        out[...] = z_t.T
    else:
        backend.xp.add(z_t.T, add, out=out)
    return out


class _Sequence(Function):
    """Shared by the LSTM and GRU layers: the ``mask`` (T, B, 1) or None, and which steps it pads."""

    def __init__(self, mask: Any) -> None:
        self.mask = mask
        self.full = None if mask is None else mask.all(axis=(1, 2)).tolist()  # step t pads no sequence

    def _keep(self, t: int, dtype: Any) -> Any:
        """The mask of step t as 0/1 numbers, or None when step t pads no sequence."""
        return None if self.mask is None or self.full[t] else self.mask[t].astype(dtype)


class LSTMSequence(_Sequence):
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
        out = hs[1:] if self.mask is None else xp.empty((T, B, H), dtype=xw.dtype)
        acts = []
        for t in range(T):
            z = hidden_product(backend, w_hh, hs[t], xw[t])
            keep = self._keep(t, xw.dtype)
            if keep is None:
                hs[t + 1], cs[t + 1], a = backend.lstm_cell_forward(z, cs[t])
                if self.mask is not None:
                    out[t] = hs[t + 1]
            else:  # padded sequences keep their state and output 0
                h, c, a = backend.lstm_cell_forward(z, cs[t])
                m = self.mask[t]
                hs[t + 1], cs[t + 1], out[t] = xp.where(m, h, hs[t]), xp.where(m, c, cs[t]), h * keep
            acts.append(a)
        self.save_for_backward(hs, cs, *acts)
        return out, hs[T], cs[T]

    def backward(self, g_out, g_h, g_c):
        return LSTMSequenceBackward(self, self.saved_tensors)(g_out, g_h, g_c, *self.inputs)


class LSTMSequenceBackward(FusedBackward):
    """dL/d(xw, h0, c0, w_hh) of ``LSTMSequence``: the fused cell backward step by step back in time."""

    n_grads, wrt = 3, (0, 1, 2, 3)

    def __init__(self, op: LSTMSequence, saved: tuple[Any, ...]) -> None:
        self.mask, self._keep = op.mask, op._keep
        self.hs, self.cs, *self.acts = saved

    def forward(self, g_out, g_h, g_c, xw, h0, c0, w_hh):
        backend, xp, hs, cs = self.backend, self.backend.xp, self.hs, self.cs
        T, (B, H) = xw.shape[0], h0.shape
        gh, gc = g_h, g_c
        gz_all = xp.empty(xw.shape, dtype=xw.dtype)
        for t in range(T - 1, -1, -1):
            keep = self._keep(t, xw.dtype)
            if keep is None:
                gz, gc = backend.lstm_cell_backward(gh + g_out[t], gc, self.acts[t], cs[t], cs[t + 1])
                gh = backend.matmul(gz, w_hh)  # dL/dh_{t-1} through z_t = ... + h_{t-1} W_hh^T
            else:  # the cell gets m dL/dh_t, and (1 - m) dL/dh_t passes to h_{t-1}; where m = 0 the cell's
                # gradients are 0 whatever c' is, so cs[t + 1] may stand in for it
                gz, gc_prev = backend.lstm_cell_backward((gh + g_out[t]) * keep, gc * keep, self.acts[t], cs[t],
                                                         cs[t + 1])
                gh, gc = backend.matmul(gz, w_hh) + gh * (1 - keep), gc_prev + gc * (1 - keep)
            gz_all[t] = gz
        g_w = backend.matmul(gz_all.reshape(T * B, 4 * H).T, hs[:T].reshape(T * B, H))  # one big matmul
        return gz_all, gh, gc, g_w

    def composite(self, xw, h0, c0, w_hh):
        return _lstm_layer(xw, h0, c0, w_hh, self.mask)


class GRUSequence(_Sequence):
    """(out (T, B, H), h_T) = a GRU layer run over all T steps of xa (T, B, 3H) = x W_ih^T + b_ih.

    Step t: b_t = h_{t-1} W_hh^T + b_hh (b_hh stays out of xa: its n-part is multiplied by r),
    h_t = gru_cell(xa_t, b_t, h_{t-1}). The backward runs the fused cell backward step by step and
    gets dL/dW_hh as one ``(3H, T*B) @ (T*B, H)`` product and dL/db_hh as one sum. Memory: h for every
    step ((T+1, B, H)) and the gate activations, as the unrolled graph would keep.
    """

    def forward(self, xa, h0, w_hh, b_hh=None):
        backend, xp = self.backend, self.backend.xp
        T, (B, H) = xa.shape[0], h0.shape
        hs = xp.empty((T + 1, B, H), dtype=xa.dtype)
        hs[0] = h0
        out = hs[1:] if self.mask is None else xp.empty((T, B, H), dtype=xa.dtype)
        acts = []
        for t in range(T):
            b = hidden_product(backend, w_hh, hs[t], b_hh)
            keep = self._keep(t, xa.dtype)
            if keep is None:
                hs[t + 1], a = backend.gru_cell_forward(xa[t], b, hs[t])
                if self.mask is not None:
                    out[t] = hs[t + 1]
            else:  # padded sequences keep their state and output 0
                h, a = backend.gru_cell_forward(xa[t], b, hs[t])
                hs[t + 1], out[t] = xp.where(self.mask[t], h, hs[t]), h * keep
            acts.append(a)
        self.save_for_backward(hs, *acts)
        return out, hs[T]

    def backward(self, g_out, g_h):
        return GRUSequenceBackward(self, self.saved_tensors)(g_out, g_h, *self.inputs)


class GRUSequenceBackward(FusedBackward):
    """dL/d(xa, h0, w_hh[, b_hh]) of ``GRUSequence``: the fused cell backward step by step back in time."""

    n_grads = 2

    def __init__(self, op: GRUSequence, saved: tuple[Any, ...]) -> None:
        self.mask, self._keep = op.mask, op._keep
        self.wrt = tuple(range(len(op.inputs)))
        self.hs, *self.acts = saved

    def forward(self, g_out, g_h, xa, h0, w_hh, b_hh=None):
        backend, xp, hs = self.backend, self.backend.xp, self.hs
        T, (B, H) = xa.shape[0], h0.shape
        gh = g_h
        ga_all, gb_all = xp.empty(xa.shape, dtype=xa.dtype), xp.empty(xa.shape, dtype=xa.dtype)
        for t in range(T - 1, -1, -1):
            keep = self._keep(t, xa.dtype)
            g_new = gh + g_out[t] if keep is None else (gh + g_out[t]) * keep
            ga_all[t], gb_all[t], gh_prev = backend.gru_cell_backward(g_new, self.acts[t], hs[t])
            gh_prev = gh_prev + backend.matmul(gb_all[t], w_hh)  # h_{t-1} also reaches h_t through b_t
            gh = gh_prev if keep is None else gh_prev + gh * (1 - keep)  # ... and, when padded, directly
        gb_rows = gb_all.reshape(T * B, 3 * H)
        g_w = backend.matmul(gb_rows.T, hs[:T].reshape(T * B, H))  # one big matmul
        return (ga_all, gh, g_w) if b_hh is None else (ga_all, gh, g_w, gb_rows.sum(axis=0))

    def composite(self, xa, h0, w_hh, b_hh=None):
        return _gru_layer(xa, h0, w_hh, b_hh, self.mask)


# --------------------------------------------------------------------------- functional API
def _check(op: str, gates: Tensor, n: int, state: Tensor) -> None:
    if gates.ndim != 2 or state.ndim != 2 or gates.shape != (state.shape[0], n * state.shape[1]):
        raise shape_error(op, gates.shape, state.shape,
                          expected=f"gates (B, {n}H) and a state (B, H), both 2-d")


def _sequence_mask(op: str, mask: Any, like: Tensor) -> Any:
    """``mask`` (T, B) or (T, B, 1), Tensor or array, as a boolean (T, B, 1) array of ``like``'s backend;
    None when it is None or pads nothing."""
    if mask is None:
        return None
    array = mask.array if isinstance(mask, Tensor) else like.backend.asarray(mask)
    T, B = like.shape[:2]
    if array.shape not in ((T, B), (T, B, 1)):
        raise shape_error(op, like.shape, array.shape, expected=f"a mask of shape ({T}, {B}) or ({T}, {B}, 1)")
    array = array.reshape(T, B, 1).astype(bool, copy=False)
    return None if bool(array.all()) else array


def lstm_cell(z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """One fused LSTM step: ``(h, c)`` from gate pre-activations z (B, 4H) = [i, f, g, o] and c_prev (B, H)."""
    _check("lstm_cell", z, 4, c_prev)
    return LSTMCellFunction()(z, c_prev)


def gru_cell(a: Tensor, b: Tensor, h_prev: Tensor) -> Tensor:
    """One fused GRU step: h from a = x W_ih^T + b_ih, b = h_prev W_hh^T + b_hh (both (B, 3H) = [r, z, n])."""
    _check("gru_cell", a, 3, h_prev)
    if b.shape != a.shape:
        raise shape_error("gru_cell", a.shape, b.shape, expected="a and b of one shape (B, 3H)")
    return GRUCellFunction()(a, b, h_prev)


def lstm_sequence(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, mask: Any = None) -> tuple[Tensor, Tensor, Tensor]:
    """A whole LSTM layer as one op: ``(out (T, B, H), h_T, c_T)`` from the gate inputs
    xw (T, B, 4H) = x W_ih^T + b_ih + b_hh of every step, the initial state h0, c0 (B, H) and W_hh (4H, H).
    ``mask`` (T, B), True where step t lies inside sequence b, runs a padded batch (module docstring).

    >>> import minidl
    >>> out, h, c = lstm_sequence(minidl.zeros(5, 2, 12), minidl.zeros(2, 3), minidl.zeros(2, 3), minidl.zeros(12, 3))
    >>> out.shape, h.shape, float(c.sum())
    (minidl.Size([5, 2, 3]), minidl.Size([2, 3]), 0.0)
    """
    if xw.ndim != 3 or h0.ndim != 2 or xw.shape[1:] != (h0.shape[0], 4 * h0.shape[1]) or c0.shape != h0.shape \
            or w_hh.shape != (4 * h0.shape[1], h0.shape[1]):
        raise shape_error("lstm_sequence", xw.shape, h0.shape, c0.shape, w_hh.shape,
                          expected="xw (T, B, 4H), h0 and c0 (B, H), w_hh (4H, H)")
    return LSTMSequence(_sequence_mask("lstm_sequence", mask, xw))(xw, h0, c0, w_hh)


def gru_sequence(xa: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None = None,
                 mask: Any = None) -> tuple[Tensor, Tensor]:
    """A whole GRU layer as one op: ``(out (T, B, H), h_T)`` from xa (T, B, 3H) = x W_ih^T + b_ih of every
    step, the initial state h0 (B, H), W_hh (3H, H) and b_hh (3H,) or None; ``mask`` as for ``lstm_sequence``.

    >>> import minidl
    >>> out, h = gru_sequence(minidl.zeros(5, 2, 9), minidl.ones(2, 3), minidl.zeros(9, 3))
    >>> out.shape, float(h.sum())  # zero inputs: z = 1/2, n = 0, so h halves every step
    (minidl.Size([5, 2, 3]), 0.1875)
    """
    if xa.ndim != 3 or h0.ndim != 2 or xa.shape[1:] != (h0.shape[0], 3 * h0.shape[1]) \
            or w_hh.shape != (3 * h0.shape[1], h0.shape[1]) or (b_hh is not None and b_hh.shape != (3 * h0.shape[1],)):
        shapes = (xa.shape, h0.shape, w_hh.shape) + (() if b_hh is None else (b_hh.shape,))
        raise shape_error("gru_sequence", *shapes, expected="xa (T, B, 3H), h0 (B, H), w_hh (3H, H), b_hh (3H,)")
    fn = GRUSequence(_sequence_mask("gru_sequence", mask, xa))
    return fn(xa, h0, w_hh) if b_hh is None else fn(xa, h0, w_hh, b_hh)
