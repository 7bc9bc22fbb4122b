"""``RNN``, ``LSTM`` and ``GRU`` as ONNX's RNN, LSTM and GRU ops, one node per layer.

The ONNX ops compute the same recurrences with the gates stacked in another order, so the weight
rows are reordered block by block when they are written:

    LSTM  PyTorch/minidl [i, f, g, o]  ->  ONNX [i, o, f, c]     (c is PyTorch's g)
    GRU   PyTorch/minidl [r, z, n]     ->  ONNX [z, r, h]        with linear_before_reset=1, which is
                                           PyTorch's n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))

Per layer: W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) = [b_ih, b_hh]; D = 2 for bidirectional (forward
first, as PyTorch's ``_reverse`` weights). ONNX's Y is (T, D, B, H): Transpose + Reshape give PyTorch's
(T, B, D*H), which feeds the next layer; the final states of all layers are concatenated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.onnx.graph import host

ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _reorder(a: np.ndarray, mode: str) -> np.ndarray:
    blocks = np.split(a, len(ORDER[mode]))
    return np.concatenate([blocks[i] for i in ORDER[mode]])


def recurrent(tr: Any, m: Any, path: str, a: dict[str, Any], out: Any) -> Any:
    from minidl.onnx.errors import UnsupportedOperatorError

    if a.get("lengths") is not None:
        raise UnsupportedOperatorError(f"minidl.onnx.export: {type(m).__name__} with lengths= has no ONNX converter "
                                       f"(export the model on full-length sequences)")
    g, mode, x_t = tr.g, m.mode, a["input"]
    batched, D, H = x_t.ndim == 3, 2 if m.bidirectional else 1, m.hidden_size
    x = tr.value(x_t)
    x = g.unsqueeze(x, [1]) if not batched else (g.transpose(x, [1, 0, 2]) if m.batch_first else x)
    hx = a.get("hx")
    states = [] if hx is None else [tr.value(s) for s in (hx if mode == "LSTM" else (hx,))]
    if not batched:
        states = [g.unsqueeze(s, [1]) for s in states]
    op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    attrs: dict[str, Any] = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if op == "RNN":
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * D
    prefix = f"{path}." if path else ""
    finals: list[list[str]] = [[], []]
    for layer in range(m.num_layers):
        suffixes = ["", "_reverse"][:D]
        W = np.stack([_reorder(host(m._parameters[f"weight_ih_l{layer}{s}"]), mode) for s in suffixes])
        R = np.stack([_reorder(host(m._parameters[f"weight_hh_l{layer}{s}"]), mode) for s in suffixes])
        B = ""
        if m.bias:
            B = g.initializer(np.stack([np.concatenate([_reorder(host(m._parameters[f"{b}_l{layer}{s}"]), mode)
                                                        for b in ("bias_ih", "bias_hh")]) for s in suffixes]),
                              f"{prefix}B_l{layer}")
        init = [g.node("Slice", [s, g.ints([layer * D]), g.ints([(layer + 1) * D]), g.ints([0])]) for s in states]
        outs = g.node(op, [x, g.initializer(W, f"{prefix}W_l{layer}"), g.initializer(R, f"{prefix}R_l{layer}"),
                           B, "", *init], outputs=3 if op == "LSTM" else 2, **attrs)
        x = g.reshape(g.transpose(outs[0], [0, 2, 1, 3]), [0, 0, -1])  # (T, D, B, H) -> (T, B, D * H)
        for i, state in enumerate(outs[1:]):
            finals[i].append(state)
    output = g.squeeze(x, [1]) if not batched else (g.transpose(x, [1, 0, 2]) if m.batch_first else x)
    last = [f[0] if len(f) == 1 else g.node("Concat", f, axis=0) for f in finals if f]
    if not batched:
        last = [g.squeeze(s, [1]) for s in last]
    return (output, (last[0], last[1])) if mode == "LSTM" else (output, last[0])
