import re
import shutil

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.viz import plot_grad_flow, render, to_dot


def test_dot_text_names_ops_shapes_and_edges():
    x = minidl.ones(2, 3, requires_grad=True)
    x.name = "x"
    y = (x * 2).sum()
    dot = to_dot(y)
    assert dot.startswith("digraph minidl {") and dot.endswith("}")
    assert '"Mul"' in dot and '"Sum"' in dot
    assert "x\\n(2, 3) float32, numpy\\nleaf" in dot and "() float32, numpy" in dot
    assert dot.count("->") == 5  # x->Mul, const->Mul, Mul->t, t->Sum, Sum->y


def _node_label(dot, fragment):
    return next(line for line in dot.splitlines() if fragment in line)


def test_parameters_named_by_module_path_leaves_marked_outputs_coloured():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    x = minidl.ones(5, 3, dtype=minidl.float64)
    model.double()
    loss = model(x).sum()
    dot = to_dot(loss, params=dict(model.named_parameters()))
    for name, shape in [("0.weight", (4, 3)), ("0.bias", (4,)), ("2.weight", (2, 4))]:
        line = _node_label(dot, f'label="{name}\\n')
        assert f"{shape} float64, numpy\\nleaf" in line and "fillcolor=lightblue" in line
    assert "fillcolor=lightgrey" in _node_label(dot, "(5, 3) float64")  # the input: a constant, not a leaf
    assert "fillcolor=darkolivegreen1" in _node_label(dot, 'label="() float64')  # the output
    ops = re.findall(r'shape=ellipse', dot)
    assert len(ops) >= 4  # two linears, a relu, a sum


def test_graph_of_a_gradient_shows_double_backward():
    x = minidl.tensor([2.0], requires_grad=True)
    y = (x ** 3).sum()
    (dx,) = minidl.grad(y, x, create_graph=True)  # 3 x^2, recorded as a graph of its own
    dot = to_dot(dx, params={"x": x})
    assert 'label="x\\n(1,) float32, numpy\\nleaf"' in dot  # the gradient's graph reaches back to x
    assert '"PowScalar"' in dot and '"Mul"' in dot  # the ops of PowScalar's backward: 3 * x**2 * grad
    both = to_dot([y, dx], params={"x": x})
    assert both.count("fillcolor=darkolivegreen1") == 2
    (ddx,) = minidl.grad(dx, x)  # the graph drawn is the one this second backward walks: 6x = 12
    np.testing.assert_allclose(ddx.numpy(), [12.0])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_render_png_and_svg(tmp_path):
    model = nn.Linear(2, 1)
    y = model(minidl.ones(1, 2)).exp().sum()
    out = render(y, tmp_path / "g.png", params=dict(model.named_parameters()))
    assert out.read_bytes()[:4] == b"\x89PNG"
    svg = render(y, tmp_path / "g.svg", params=dict(model.named_parameters())).read_text()
    assert svg.lstrip().startswith("<?xml") and "weight" in svg and "Exp" in svg


def test_render_without_graphviz_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz 'dot' is not installed"):
        render(minidl.ones(1, requires_grad=True).exp(), tmp_path / "g.png")


def test_plot_grad_flow_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    Image = pytest.importorskip("PIL.Image")
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    with pytest.raises(ValueError, match="backward"):
        plot_grad_flow(model)
    model(minidl.randn(32, 8)).pow(2).mean().backward()
    fig = plot_grad_flow(model, tmp_path / "flow.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "2", "4"]
    heights = [bar.get_height() for bar in ax.patches]
    expected_max = [np.abs(model[i].weight.grad.numpy()).max() for i in (0, 2, 4)]
    expected_mean = [np.abs(model[i].weight.grad.numpy()).mean() for i in (0, 2, 4)]
    np.testing.assert_allclose(heights, expected_max + expected_mean, rtol=1e-6)
    with Image.open(tmp_path / "flow.png") as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 400 and height >= 300
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 100 and pixels.max() > 200  # drawn: dark bars and text on a light background
    assert len(np.unique(pixels)) > 10


def test_plot_grad_flow_leaves_out_rnn_biases_too():
    pytest.importorskip("matplotlib")
    rnn = minidl.nn.RNN(3, 4)
    out, _ = rnn(minidl.ones(5, 2, 3))
    out.sum().backward()
    fig = minidl.viz.plot_grad_flow(rnn)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels and not any("bias" in label for label in labels), labels
    assert any("weight_ih_l0" in label for label in labels), labels
