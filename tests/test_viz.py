import shutil

import pytest

import minidl
from minidl.viz import render, to_dot


def test_dot_text_names_ops_shapes_and_edges():
    x = minidl.ones(2, 3, requires_grad=True)
    x.name = "x"
    y = (x * 2).sum()
    dot = to_dot(y)
    assert dot.startswith("digraph minidl {") and dot.endswith("}")
    assert '"Mul"' in dot and '"Sum"' in dot
    assert "x\\n(2, 3) float32" in dot and "() float32" in dot
    assert dot.count("->") == 5  # x->Mul, const->Mul, Mul->t, t->Sum, Sum->y


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_render_png(tmp_path):
    y = (minidl.ones(2, requires_grad=True).exp()).sum()
    out = render(y, tmp_path / "g.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
