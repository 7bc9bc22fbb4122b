"""LBFGS against PyTorch's: the same problems, the same starting weights (float64), every step compared.

The two libraries compute dot products and ``p + t d`` with different summation orders and fused
multiply-adds, so the iterates differ in the last bits, and L-BFGS amplifies such differences like any
perturbation of its start (PyTorch against itself from a start moved by one ulp diverges as much). The
problems and step counts below are ones where that amplification stays small, so the tolerances are
tight; the number of closure calls and of iterations, which any difference of logic would change, must
match exactly.
"""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import optim

torch = pytest.importorskip("torch")


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def run_pair(ours, theirs, loss_ours, loss_theirs, steps, **kw):
    """Step both optimizers ``steps`` times; check counters and returned losses; return the max difference."""
    opt_ours, opt_theirs = optim.LBFGS(ours, **kw), torch.optim.LBFGS(theirs, **kw)

    def closure_ours():
        opt_ours.zero_grad()
        loss = loss_ours()
        loss.backward()
        return loss

    def closure_theirs():
        opt_theirs.zero_grad()
        loss = loss_theirs()
        loss.backward()
        return loss

    worst = 0.0
    for step in range(steps):
        first_ours, first_theirs = opt_ours.step(closure_ours), opt_theirs.step(closure_theirs)
        assert first_ours.item() == pytest.approx(first_theirs.item(), rel=1e-9, abs=1e-12)
        s_ours, s_theirs = opt_ours.state[ours[0]], opt_theirs.state[theirs[0]]
        assert (s_ours["func_evals"], s_ours["n_iter"]) == (s_theirs["func_evals"], s_theirs["n_iter"]), step
        assert len(s_ours["old_dirs"]) == len(s_theirs["old_dirs"])
        for a, b in zip(ours, theirs):
            worst = max(worst, float(np.abs(a.array - b.detach().numpy()).max()))
    return worst


@pytest.mark.parametrize("steps, kw", [(6, dict(line_search_fn="strong_wolfe")),
                                       (6, dict(line_search_fn="strong_wolfe", lr=0.5, history_size=3, max_iter=7)),
                                       (3, dict(lr=0.1)),
                                       (10, dict(lr=0.1, history_size=2, max_iter=5, max_eval=4))],
                         ids=["strong_wolfe", "strong_wolfe-short-history", "fixed-step", "fixed-step-max_eval"])
def test_rosenbrock_matches_torch(steps, kw):
    start = np.array([-1.5, 2.0])
    ours = [minidl.tensor(start, requires_grad=True)]
    theirs = [torch.tensor(start, requires_grad=True)]
    worst = run_pair(ours, theirs, lambda: rosenbrock(ours[0]), lambda: rosenbrock(theirs[0]), steps=steps, **kw)
    assert worst < 1e-8
    assert rosenbrock(ours[0]).item() < 0.5 * rosenbrock(minidl.tensor(start)).item()  # it made progress


def mlp_pair(seed=0):
    """A 3-8-2 tanh MLP in both libraries with the same float64 weights, and a regression data set."""
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    rng = np.random.default_rng(seed)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        value = rng.standard_normal(tuple(q.shape)) * 0.5
        p.array[...] = value
        with torch.no_grad():
            q.copy_(torch.tensor(value))
    X = rng.standard_normal((32, 3))
    Y = np.stack([np.sin(X[:, 0]) + X[:, 1] * X[:, 2], np.cos(X[:, 1])], axis=1)
    return ours, theirs, X, Y


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_mlp_regression_matches_torch(line_search_fn):
    ours, theirs, X, Y = mlp_pair()
    xo, yo, xt, yt = minidl.tensor(X), minidl.tensor(Y), torch.tensor(X), torch.tensor(Y)
    kw = dict(lr=1 if line_search_fn else 0.2, history_size=10, line_search_fn=line_search_fn)
    worst = run_pair(list(ours.parameters()), list(theirs.parameters()),
                     lambda: nn.functional.mse_loss(ours(xo), yo), lambda: torch.nn.functional.mse_loss(theirs(xt), yt),
                     steps=3, **kw)
    assert worst < 1e-8
    assert nn.functional.mse_loss(ours(xo), yo).item() < 0.2 * nn.functional.mse_loss(mlp_pair()[0](xo), yo).item()


class _Sequence:
    """pytorch/examples' time_sequence_prediction model, small: two LSTMCells and a Linear, in either library."""

    def __init__(self, lib, hidden=6):
        self.lib, self.hidden = lib, hidden
        self.lstm1, self.lstm2 = lib.nn.LSTMCell(1, hidden), lib.nn.LSTMCell(hidden, hidden)
        self.linear = lib.nn.Linear(hidden, 1)
        self.modules = [self.lstm1, self.lstm2, self.linear]
        for m in self.modules:
            m.double()

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def __call__(self, input, future=0):
        lib, outputs = self.lib, []
        h_t = c_t = h_t2 = c_t2 = lib.zeros(input.size(0), self.hidden, dtype=lib.float64)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return lib.cat(outputs, dim=1)


def test_sine_wave_lstm_example_matches_torch():
    rng = np.random.default_rng(2)
    T, L, N = 20, 12, 4
    x = np.arange(L + 1)[None, :] + rng.integers(-4 * T, 4 * T, N)[:, None]
    data = np.sin(x / T)
    ours, theirs = _Sequence(minidl), _Sequence(torch)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        value = rng.uniform(-0.4, 0.4, tuple(q.shape))
        p.array[...] = value
        with torch.no_grad():
            q.copy_(torch.tensor(value))
    inp_o, tgt_o = minidl.tensor(data[:, :-1]), minidl.tensor(data[:, 1:])
    inp_t, tgt_t = torch.tensor(data[:, :-1]), torch.tensor(data[:, 1:])
    worst = run_pair(ours.parameters(), theirs.parameters(),
                     lambda: nn.functional.mse_loss(ours(inp_o), tgt_o),
                     lambda: torch.nn.functional.mse_loss(theirs(inp_t), tgt_t), steps=2, lr=0.8)
    assert worst < 1e-8
    with minidl.no_grad(), torch.no_grad():  # the example's prediction of the future
        np.testing.assert_allclose(ours(inp_o, future=5).array, theirs(inp_t, future=5).numpy(), atol=1e-8)
