"""Draw the computation graph behind a tensor.

``to_dot(y)`` returns Graphviz DOT text: a box per tensor (name, shape, dtype), an ellipse per op,
edges in the direction data flows. ``render(y, "graph.png")`` runs Graphviz ``dot`` when it is
installed (``apt-get install graphviz``) and says so clearly when it is not.

>>> import minidl
>>> x = minidl.tensor([1.0, 2.0], requires_grad=True); x.name = "x"
>>> print(to_dot((x * x).sum()).splitlines()[0])
digraph minidl {
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from minidl.autograd import Function
from minidl.tensor import Tensor


def _tensor_label(t: Tensor) -> str:
    name = f"{t.name}\\n" if t.name else ""
    return f"{name}{tuple(t.shape)} {t.dtype}"


def to_dot(output: Tensor, show_dtypes: bool = True) -> str:
    """DOT text of every op and tensor that ``output`` depends on (through recorded creators)."""
    lines = ["digraph minidl {", '  rankdir="LR";', '  node [fontname="Helvetica", fontsize=10];']
    seen_tensors: set[int] = set()
    seen_functions: set[int] = set()
    stack: list[Tensor] = [output]

    def add_tensor(t: Tensor) -> None:
        if id(t) in seen_tensors:
            return
        seen_tensors.add(id(t))
        label = _tensor_label(t) if show_dtypes else str(tuple(t.shape))
        color = "lightblue" if t.creator is None and t.requires_grad else "white"
        lines.append(f'  t{id(t)} [label="{label}", shape=box, style=filled, fillcolor={color}];')

    add_tensor(output)
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


def render(output: Tensor, path: str | Path) -> Path:
    """Write the graph as PNG, SVG or PDF (by the file suffix) with Graphviz ``dot``."""
    path = Path(path)
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("render: Graphviz 'dot' is not installed (apt-get install graphviz); "
                           "use minidl.viz.to_dot(tensor) for the DOT text instead")
    fmt = path.suffix.lstrip(".") or "png"
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=to_dot(output).encode(), check=True)
    return path
