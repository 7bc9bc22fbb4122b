"""The training workloads W1-W5 (from the seed programs), built identically in minidl and PyTorch.

Each builder returns ``step()``: one full training step (forward, loss, backward, optimizer update)
on fixed random data of the workload's shape, float32 throughout, same seed in both frameworks.

| id | model | batch | optimizer |
|----|-------|-------|-----------|
| W1 | MNIST CNN: Conv2d 1->32 3x3, ReLU, MaxPool2, Linear 5408->128, ReLU, Linear 128->10 | 64, 256 | Adam 1e-3 |
| W2 | LeNet: 3x32x32, Conv 6@5x5, pool, Conv 16@5x5, pool, 120, 84, 10 | 4, 64 | SGD 1e-3 m=0.9 |
| W3 | LSTM LM: Embedding 65->128, LSTM 128->256, Linear 256->65, seq 64 | 32 | Adam |
| W4 | char GPT: vocab 65, d_model 128, 4 heads, 2 pre-LN blocks, GELU MLP 4x, seq 64 | 16 | AdamW |
| W5 | MLP 784-512-512-10 | 128 | SGD 1e-2 |
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

WORKLOADS: dict[str, tuple[str, int]] = {
    "W1-B64": ("cnn", 64), "W1-B256": ("cnn", 256), "W2-B4": ("lenet", 4), "W2-B64": ("lenet", 64),
    "W3": ("lstm", 32), "W4": ("gpt", 16), "W5": ("mlp", 128),
}
# PyTorch 2.13 CPU, 2 threads, measured on this machine by the author (ms per step).
TORCH_REFERENCE_MS = {"W1-B64": 12.9, "W1-B256": 44, "W2-B4": 1.5, "W2-B64": 4.6, "W3": 23.7, "W4": 22.1, "W5": 2.4}


def _data(kind: str, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "cnn":
        return rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch)
    if kind == "lenet":
        return rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, batch)
    if kind == "mlp":
        return rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)
    tokens = rng.integers(0, 65, (batch, 65))
    return tokens[:, :-1], tokens[:, 1:]


def minidl_step(name: str, backend: str = "numpy") -> Callable[[], float]:
    import minidl
    import minidl.nn as nn
    import minidl.nn.functional as F
    from minidl import optim

    kind, batch = WORKLOADS[name]
    minidl.manual_seed(0)
    with minidl.use_backend(backend):
        if kind == "cnn":
            model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
            opt = optim.Adam(model.parameters(), lr=1e-3)
        elif kind == "lenet":
            model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                                  nn.ReLU(), nn.Linear(84, 10))
            opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        elif kind == "mlp":
            model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
            opt = optim.SGD(model.parameters(), lr=1e-2)
        elif kind == "lstm":
            model = _MinidlLSTMLM()
            opt = optim.Adam(model.parameters(), lr=1e-3)
        else:
            from minidl.models import GPT, GPTConfig

            model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128, dropout=0.0))
            opt = optim.AdamW(model.parameters(), lr=1e-3)
        x_np, y_np = _data(kind, batch)
        x, y = minidl.tensor(x_np), minidl.tensor(y_np)

    def step() -> float:
        out = model(x)
        if isinstance(out, tuple):
            out = out[0]
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


class _MinidlLSTMLM:
    def __new__(cls):
        import minidl.nn as nn

        class LSTMLM(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(65, 128)
                self.lstm = nn.LSTM(128, 256, batch_first=True)
                self.head = nn.Linear(256, 65)

            def forward(self, idx):
                h, _ = self.lstm(self.emb(idx))
                return self.head(h)

        return LSTMLM()


def torch_step(name: str, threads: int = 2, device: str = "cpu") -> Callable[[], float]:
    """One PyTorch training step of workload ``name``; ``device="cuda"`` for the GPU comparison."""
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tF

    torch.set_num_threads(threads)
    kind, batch = WORKLOADS[name]
    torch.manual_seed(0)
    if kind == "cnn":
        model = tnn.Sequential(tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                               tnn.Linear(5408, 128), tnn.ReLU(), tnn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    elif kind == "lenet":
        model = tnn.Sequential(tnn.Conv2d(3, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                               tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                               tnn.ReLU(), tnn.Linear(84, 10))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    elif kind == "mlp":
        model = tnn.Sequential(tnn.Linear(784, 512), tnn.ReLU(), tnn.Linear(512, 512), tnn.ReLU(), tnn.Linear(512, 10))
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    elif kind == "lstm":
        class LSTMLM(tnn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb, self.lstm, self.head = tnn.Embedding(65, 128), tnn.LSTM(128, 256, batch_first=True), \
                    tnn.Linear(256, 65)

            def forward(self, idx):
                return self.head(self.lstm(self.emb(idx))[0])

        model = LSTMLM()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        model = _TorchGPT()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x_np, y_np = _data(kind, batch)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(np.asarray(y_np)).to(device)
    model.to(device)

    def step() -> float:
        out = model(x)
        loss = tF.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _TorchGPT():
    import torch
    import torch.nn as tnn

    class Block(tnn.Module):
        def __init__(self, d: int, h: int) -> None:
            super().__init__()
            self.ln1, self.ln2 = tnn.LayerNorm(d), tnn.LayerNorm(d)
            self.attn = tnn.MultiheadAttention(d, h, batch_first=True)
            self.mlp = tnn.Sequential(tnn.Linear(d, 4 * d), tnn.GELU(), tnn.Linear(4 * d, d))

        def forward(self, x):
            t = x.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1)
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = tnn.Embedding(65, 128), tnn.Embedding(64, 128)
            self.blocks = tnn.Sequential(Block(128, 4), Block(128, 4))
            self.ln, self.head = tnn.LayerNorm(128), tnn.Linear(128, 65, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
            return self.head(self.ln(self.blocks(x)))

    return GPT()
