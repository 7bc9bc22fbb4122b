"""Look at a model: the computation graph behind a tensor, and how gradients flow through the layers.

``to_dot(y)`` returns Graphviz DOT text: a box per tensor (its name, shape, dtype and backend), an
ellipse per op, edges in the direction data flows. Leaves that require a gradient (parameters,
inputs) are blue and say ``leaf``, constants grey, the outputs green. Given the model's parameters
(``params=dict(model.named_parameters())``, as torchviz's ``make_dot`` takes them) the boxes of the
parameters carry their module path (``features.0.weight``). The graph of a gradient computed with
``create_graph=True`` is drawn the same way: that is the graph a double backward walks.

``render(y, "graph.svg")`` runs Graphviz ``dot`` when it is installed (``apt-get install graphviz``)
and says so clearly when it is not. ``plot_grad_flow(model, "flow.png")`` draws the mean and max
``|grad|`` of each layer (matplotlib): the picture of vanishing and exploding gradients.

>>> import minidl
>>> x = minidl.tensor([1.0, 2.0], requires_grad=True); x.name = "x"
>>> print(to_dot((x * x).sum()).splitlines()[0])
digraph minidl {
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from minidl.autograd import Function
from minidl.tensor import Tensor

_LEAF, _CONSTANT, _OUTPUT, _INTERMEDIATE = "lightblue", "lightgrey", "darkolivegreen1", "white"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _tensor_label(t: Tensor, name: str | None, show_dtypes: bool) -> str:
    lines = [_quote(name)] if name else []
    shape = str(tuple(t.shape))
    lines.append(f"{shape} {t.dtype}, {t.backend.name}" if show_dtypes else shape)
    if t.creator is None and t.requires_grad:
        lines.append("leaf")
    return "\\n".join(lines)


def to_dot(output: Tensor | Sequence[Tensor], params: Mapping[str, Tensor] | None = None,
           show_dtypes: bool = True) -> str:
    """DOT text of every op and tensor that ``output`` (one tensor or several) depends on.

    ``params`` maps names to tensors (``dict(model.named_parameters())``); a tensor found there is
    labelled with its name, any other with its ``.name`` if it has one.

    >>> import minidl, minidl.nn as nn
    >>> model = nn.Sequential(nn.Linear(3, 2))
    >>> dot = to_dot(model(minidl.ones(1, 3)).sum(), params=dict(model.named_parameters()))
    >>> '0.weight\\\\n(2, 3) float32, numpy\\\\nleaf' in dot
    True
    """
    outputs = [output] if isinstance(output, Tensor) else list(output)
    names = {id(t): name for name, t in (params or {}).items()}
    output_ids = {id(t) for t in outputs}
    lines = ["digraph minidl {", '  rankdir="LR";', '  node [fontname="Helvetica", fontsize=10];']
    seen_tensors: set[int] = set()
    seen_functions: set[int] = set()
    stack: list[Tensor] = list(outputs)

    def add_tensor(t: Tensor) -> None:
        if id(t) in seen_tensors:
            return
        seen_tensors.add(id(t))
        if id(t) in output_ids:
            color = _OUTPUT
        elif t.creator is None:
            color = _LEAF if t.requires_grad else _CONSTANT
        else:
            color = _INTERMEDIATE
        label = _tensor_label(t, names.get(id(t), t.name), show_dtypes)
        lines.append(f'  t{id(t)} [label="{label}", shape=box, style=filled, fillcolor={color}];')

    for t in outputs:
        add_tensor(t)
    while stack:
        t = stack.pop()
        f: Function | None = t.creator
        if f is None:
            continue
        if id(f) not in seen_functions:
            seen_functions.add(id(f))
            lines.append(f'  f{id(f)} [label="{f.name}", shape=ellipse, style=filled, fillcolor=lightyellow];')
            for x in f.inputs or ():
                add_tensor(x)
                lines.append(f"  t{id(x)} -> f{id(f)};")
                stack.append(x)
        lines.append(f"  f{id(f)} -> t{id(t)};")
    lines.append("}")
    return "\n".join(dict.fromkeys(lines))  # drop repeated edges, keep order


def render(output: Tensor | Sequence[Tensor], path: str | Path, params: Mapping[str, Tensor] | None = None,
           show_dtypes: bool = True) -> Path:
    """Write the graph of ``to_dot`` as PNG, SVG or PDF (chosen by the file suffix) with Graphviz ``dot``."""
    path = Path(path)
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("render: Graphviz 'dot' is not installed (apt-get install graphviz, or see "
                           "graphviz.org); use minidl.viz.to_dot(tensor) for the DOT text instead")
    fmt = path.suffix.lstrip(".") or "png"
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=to_dot(output, params, show_dtypes).encode(),
                   check=True)
    return path


def plot_grad_flow(model: Any, path: str | Path | None = None, include_bias: bool = False,
                   log_scale: bool = False) -> Any:
    """Bars of the mean and the max ``|grad|`` of each layer's parameters, input side on the left.

    Call it after ``loss.backward()``. Layers whose bars shrink towards the input have vanishing
    gradients (a deep sigmoid net, an unclipped RNN); a bar that towers over the rest is exploding.
    Biases are left out unless ``include_bias``; ``log_scale`` helps when the layers differ by orders
    of magnitude. Returns the matplotlib ``Figure`` (drawn with the Agg canvas: no window, no pyplot
    state), saved as PNG (or by ``path``'s suffix) when ``path`` is given. Needs matplotlib.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_grad_flow needs matplotlib: pip install matplotlib") from None
    import numpy as np

    names, means, maxes = [], [], []
    for name, p in model.named_parameters():
        if p.grad is None or not p.requires_grad or (not include_bias and name.rpartition(".")[2].startswith("bias")):
            continue
        g = np.abs(p.grad.backend.to_numpy(p.grad.array).astype(np.float64))
        names.append(name if include_bias else name.removesuffix(".weight"))
        means.append(float(g.mean()) if g.size else 0.0)
        maxes.append(float(g.max()) if g.size else 0.0)
    if not names:
        raise ValueError("plot_grad_flow: no parameter has a gradient; call loss.backward() first")
    fig = Figure(figsize=(max(6.0, 0.5 * len(names) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(names))
    ax.bar(positions, maxes, width=0.8, color="tab:cyan", alpha=0.6, label="max |grad|")
    ax.bar(positions, means, width=0.8, color="tab:blue", alpha=0.9, label="mean |grad|")
    ax.set_xticks(positions, names, rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.75, len(names) - 0.25)
    if log_scale:
        ax.set_yscale("log")
    else:
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylim(bottom=0)
    ax.set_xlabel("layer")
    ax.set_ylabel("|gradient|")
    ax.set_title("Gradient flow")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
