"""End-to-end checks through minidl's ops: small graphs whose forward and backward run the GPU
backends' kernels, compared with the NumPy backend (float64).

Kernel cases (``kernel_cases.py``) check each kernel alone; these check that the backend is wired into the
ops the way the ops call it (argument order, saved state such as flash attention's lse, in-place
optimizer updates). Run by ``gpu_selftest`` and ``benchmarks/gpu_smoke.py``; tiny shapes, for the simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _params(backend: str, shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict:
    import minidl

    rng = np.random.default_rng(seed)
    return {k: minidl.tensor(rng.standard_normal(s) * 0.5, requires_grad=True, backend=backend)
            for k, s in shapes.items()}


def vision_graph(backend: str) -> list[np.ndarray]:
    """conv2d -> relu -> max_pool2d -> linear -> cross_entropy: the loss and every gradient."""
    import minidl
    import minidl.nn.functional as F

    p = _params(backend, {"x": (2, 1, 6, 6), "w1": (3, 1, 3, 3), "b1": (3,), "w2": (27, 4)})
    h = F.max_pool2d(F.relu(F.conv2d(p["x"], p["w1"], p["b1"], padding=1)), 2)
    loss = F.cross_entropy(h.reshape(2, 27) @ p["w2"], minidl.tensor(np.array([1, 3]), backend=backend))
    loss.backward()
    return [loss.detach().numpy()] + [t.grad.numpy() for t in p.values()]


def sequence_graph(backend: str) -> list[np.ndarray]:
    """embedding -> layer_norm -> causal attention -> LSTM cell -> GRU cell -> cross_entropy."""
    import minidl
    import minidl.nn.functional as F
    from minidl.ops.rnn import gru_cell, lstm_cell

    p = _params(backend, {"emb": (7, 8), "ln_w": (8,), "ln_b": (8,), "wz": (8, 12), "wa": (3, 9), "wb": (3, 9),
                          "wo": (3, 7)})
    tokens = minidl.tensor(np.array([[1, 4, 4, 0, 6], [2, 2, 5, 1, 3]]), backend=backend)
    x = F.layer_norm(F.embedding(tokens, p["emb"]), 8, p["ln_w"], p["ln_b"])
    heads = x.reshape(2, 5, 2, 4).permute(0, 2, 1, 3)  # (batch, heads, time, head size)
    att = F.scaled_dot_product_attention(heads, heads, heads, is_causal=True).permute(0, 2, 1, 3).reshape(10, 8)
    h, _ = lstm_cell(att @ p["wz"], minidl.zeros(10, 3, backend=backend, dtype=np.float64))
    h = gru_cell(h @ p["wa"], h @ p["wb"], h)
    targets = minidl.tensor(np.array([0, 1, 2, 3, 4, 5, 6, 0, 1, 2]), backend=backend)
    loss = F.cross_entropy(h @ p["wo"], targets)
    loss.backward()
    return [loss.detach().numpy()] + [t.grad.numpy() for t in p.values()]


def optimizer_steps(backend: str) -> list[np.ndarray]:
    """Three steps each of SGD with Nesterov momentum and AdamW on the same fixed gradients."""
    from minidl import optim

    p = _params(backend, {"a": (4, 5), "b": (5,)})
    grads = _params("numpy", {"a": (4, 5), "b": (5,)}, seed=1)
    for opt in (optim.SGD(list(p.values()), lr=0.1, momentum=0.9, nesterov=True),
                optim.AdamW(list(p.values()), lr=0.01, weight_decay=0.1)):
        for _ in range(3):
            for k, t in p.items():
                t.grad = grads[k].detach().to(backend)
            opt.step()
    return [t.detach().numpy() for t in p.values()]


CHECKS: list[Callable[[str], list[np.ndarray]]] = [vision_graph, sequence_graph, optimizer_steps]


def check(fn: Callable[[str], list[np.ndarray]], backend: str) -> None:
    """``fn`` on ``backend`` against the NumPy backend (raises AssertionError)."""
    got, want = fn(backend), fn("numpy")
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11, err_msg=f"{fn.__name__}: output {i}")
