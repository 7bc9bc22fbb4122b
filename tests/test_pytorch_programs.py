"""PyTorch programs run with only their imports changed.

Each program below is written the way PyTorch's examples and tutorials write it (its idioms are
the point: ``x.size(0)``, ``x.view(x.size(0), -1)``, ``output.argmax(dim=1, keepdim=True)``,
``pred.eq(target.view_as(pred))``, ``p.data.add_(p.grad, alpha=-lr)``, ``torch.max(out.data, 1)``,
masks built with ``triu``/``transpose``/``masked_fill``, ``.double()``, ``chunk``/``cat``). The
weights and data are set deterministically *inside* the program, so that minidl and PyTorch start
from the same numbers and must end at the same numbers. The test runs each program with
``import minidl as torch`` and, when PyTorch is installed, with PyTorch itself, and compares.
"""

from __future__ import annotations

import textwrap

import pytest

try:
    import torch as real_torch
except ImportError:
    real_torch = None

PYTORCH_IMPORTS = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
"""
MINIDL_IMPORTS = """
import minidl as torch
import minidl.nn as nn
import minidl.nn.functional as F
import minidl.optim as optim
"""

# Shared by every program: deterministic weights and data, written with PyTorch calls only.
PRELUDE = """
import math

def fill_(model):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            n = p.numel()
            p.copy_(torch.linspace(-0.3, 0.3, n).view_as(p) * math.cos(i + 1))

def data(*shape):
    n = 1
    for s in shape:
        n *= s
    return torch.sin(torch.arange(n, dtype=torch.float32) * 0.37).reshape(shape)
"""

PROGRAMS = {
    "mnist_cnn": """
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.dropout1 = nn.Dropout(0.0)
        self.fc1 = nn.Linear(8 * 5 * 5, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)

device = torch.device("cuda" if torch.cuda.is_available() and False else "cpu")
model = Net().to(device)
fill_(model)
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)
x = data(8, 1, 14, 14).to(device)
target = (torch.arange(8) % 3).to(device)
losses = []
for epoch in range(4):
    model.train()
    optimizer.zero_grad()
    output = model(x)
    loss = F.nll_loss(output, target)
    loss.backward()
    optimizer.step()
    scheduler.step()
    losses.append(loss.item())
model.eval()
with torch.no_grad():
    output = model(x)
    test_loss = F.nll_loss(output, target, reduction="sum").item()
    pred = output.argmax(dim=1, keepdim=True)
    correct = pred.eq(target.view_as(pred)).sum().item()
    _, predicted = torch.max(output.data, 1)
result = {"losses": losses, "test_loss": test_loss, "correct": correct, "predicted": predicted.tolist(),
          "batch": x.size(0), "flat": list(x.view(x.size(0), -1).shape),
          "accuracy": "{:.0f}%".format(100. * correct / len(x))}
""",
    "word_language_model": """
class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers):
        super(RNNModel, self).__init__()
        self.drop = nn.Dropout(0.0)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.0)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, decoded.size(-1))
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))

def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data

def get_batch(source, i, bptt=5):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i+seq_len]
    target = source[i+1:i+1+seq_len].view(-1)
    return data, target

def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)

ntokens = 7
corpus = (torch.arange(83) * 5 % ntokens).long()
train_data = batchify(corpus, 4)
model = RNNModel(ntokens, 6, 8, 2)
fill_(model)
model.rnn.flatten_parameters()
criterion = nn.NLLLoss()
lr = 2.0
losses = []
for epoch in range(4):
    model.train()
    total_loss = 0.
    hidden = model.init_hidden(4)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, 5)):
        data_, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data_, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
    losses.append(total_loss / (batch + 1))
result = {"losses": losses, "ppl": round(math.exp(losses[-1]), 4), "shape": list(train_data.shape)}
""",
    "vae": """
class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(16, 8)
        self.fc21 = nn.Linear(8, 2)
        self.fc22 = nn.Linear(8, 2)
        self.fc3 = nn.Linear(2, 8)
        self.fc4 = nn.Linear(8, 16)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.ones_like(std) * 0.5  # (the program draws torch.randn_like(std); fixed here to compare)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 16))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar

def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 16), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD

model = VAE()
fill_(model)
optimizer = optim.Adam(model.parameters(), lr=1e-2)
x = (data(6, 1, 4, 4) + 1) / 2
losses = []
for step in range(5):
    optimizer.zero_grad()
    recon_batch, mu, logvar = model(x)
    loss = loss_function(recon_batch, x, mu, logvar)
    loss.backward()
    optimizer.step()
    losses.append(loss.item() / len(x))
n = min(x.size(0), 4)
comparison = torch.cat([x[:n], recon_batch.view(6, 1, 4, 4)[:n]])
result = {"losses": losses, "comparison": list(comparison.shape)}
""",
    "time_sequence_prediction": """
class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 6)
        self.lstm2 = nn.LSTMCell(6, 6)
        self.linear = nn.Linear(6, 1)

    def forward(self, input, future = 0):
        outputs = []
        h_t = torch.zeros(input.size(0), 6, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 6, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 6, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 6, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs

wave = data(3, 12).double()
input = wave[:, :-1]
target = wave[:, 1:]
seq = Sequence()
seq.double()
fill_(seq)
criterion = nn.MSELoss()
optimizer = optim.SGD(seq.parameters(), lr=0.5)
losses = []
for i in range(4):
    optimizer.zero_grad()
    out = seq(input)
    loss = criterion(out, target)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
with torch.no_grad():
    future = 3
    pred = seq(input[:2], future=future)
    y = pred.detach().numpy()
result = {"losses": losses, "pred_shape": list(y.shape), "last": [round(float(v), 6) for v in y[:, -1]]}
""",
    "transformer_mask": """
def generate_square_subsequent_mask(sz):
    mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
    mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))
    return mask

mask = generate_square_subsequent_mask(4)
scores = data(4, 4)
attn = F.softmax(scores + mask, dim=-1)
values, indices = attn.max(dim=-1)
top = scores.topk(2, dim=1)  # (scores: ties, such as attn's zeros, have no fixed order in PyTorch)
result = {"mask": mask.tolist(), "attn": [[round(v, 6) for v in row] for row in attn.tolist()],
          "indices": indices.tolist(), "top": top.indices.tolist(),
          "sorted": scores.sort(dim=1, descending=True)[1].tolist()}
""",
    "quickstart": """
classes = ["T-shirt/top", "Trouser", "Pullover"]
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"

class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits

model = NeuralNetwork().to(device)
fill_(model)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)
X, y = data(10, 1, 4, 4).to(device), (torch.arange(10) % 3).to(device)
for step in range(3):
    model.train()
    pred = model(X)
    loss = loss_fn(pred, y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
model.eval()
with torch.no_grad():
    pred = model(X)
    correct = (pred.argmax(1) == y).type(torch.float).sum().item()
    first = classes[pred[0].argmax(0)]
result = {"loss": round(loss.item(), 6), "correct": correct, "first": first,
          "msg": f"Accuracy: {(100*correct/len(X)):>0.1f}%, Avg loss: {loss.item():>8f}"}
""",
}


def run_program(name: str, imports: str) -> dict:
    namespace: dict = {}
    exec(compile(imports + PRELUDE + textwrap.dedent(PROGRAMS[name]), f"<program {name}>", "exec"), namespace)
    return namespace["result"]


def _close(a, b, tol=2e-4):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or abs(a - b) <= tol * max(1.0, abs(b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    return a == b


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_runs_with_minidl(name):
    result = run_program(name, MINIDL_IMPORTS)
    losses = result.get("losses")
    if losses:
        assert losses[-1] < losses[0], f"{name}: training did not lower the loss: {losses}"


@pytest.mark.skipif(real_torch is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_gives_pytorchs_numbers(name):
    mine = run_program(name, MINIDL_IMPORTS)
    theirs = run_program(name, PYTORCH_IMPORTS)
    assert _close(mine, theirs), f"{name}:\nminidl  {mine}\nPyTorch {theirs}"
