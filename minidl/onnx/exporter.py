"""``export``: trace the model on example inputs and save the ONNX model (see the package docstring)."""

from __future__ import annotations

import inspect
import os
from typing import IO, Any

import numpy as np

from minidl.autograd import enable_grad
from minidl.tensor import Tensor

DEFAULT_OPSET = 17


def export(model: Any, args: Any = (), f: str | os.PathLike[str] | IO[bytes] | None = None, *,
           kwargs: dict[str, Any] | None = None, export_params: bool = True, verbose: bool = False,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           opset_version: int | None = None, dynamic_axes: dict[str, Any] | None = None,
           do_constant_folding: bool = True, keep_initializers_as_inputs: bool = False,
           dynamo: bool = False, training: Any = None) -> Any:
    """Export ``model`` to ONNX by running it once on ``args``; write it to ``f`` and return the ``onnx.ModelProto``.

    Args:
        model: a ``minidl.nn.Module`` (it is traced in eval mode; its train/eval flags are restored).
        args: the example input: a Tensor, or a tuple of positional arguments (a dict as the last element
            holds keyword arguments, as in PyTorch). Tensors become graph inputs; other values are fixed.
        f: a file path or a binary file object; None only returns the model.
        kwargs: keyword arguments for ``model`` (fixed values, or Tensors that become inputs).
        input_names: names of the graph's inputs (default: the names of ``forward``'s parameters).
        output_names: names of the graph's outputs (default: ``output``, or ``output_0``, ``output_1``, ...).
        opset_version: the ONNX opset (default 17; 14 or newer).
        dynamic_axes: ``{name: {axis: "dim_name"}}`` or ``{name: [axis, ...]}`` for inputs and outputs
            whose size may change at run time (typically the batch axis).
        export_params: must be True (the weights are stored in the file as initializers).
        verbose: print the graph.
        do_constant_folding: accepted for PyTorch compatibility (the converters write folded weights).
        keep_initializers_as_inputs: accepted for PyTorch compatibility (initializers are not inputs).
        dynamo: accepted for PyTorch compatibility (minidl has one exporter).
        training: accepted for PyTorch compatibility (the model is always traced in eval mode).

    Raises:
        minidl.onnx.UnsupportedOperatorError: a layer or op of the model has no converter (the message
            names it and the module it ran in).
    """
    import onnx
    from onnx import helper

    from minidl.onnx.graph import Graph
    from minidl.onnx.trace import Tracer, flatten

    if not export_params:
        raise NotImplementedError("minidl.onnx.export: export_params=False is not supported (weights are stored)")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not 14 <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"minidl.onnx.export: opset_version {opset} is not supported (14 to "
                         f"{onnx.defs.onnx_opset_version()})")
    positional, kwargs = _split_args(args, kwargs)
    g = Graph(opset)
    tracer = Tracer(model, g)
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in params:  # every op that touches a weight records itself (frozen weights too)
            if p.dtype.kind == "f":
                p.requires_grad_(True)
        names = _input_names(model, positional, kwargs, input_names)
        graph_inputs, call_args, call_kwargs = [], [], {}
        for key, value in [*enumerate(positional), *kwargs.items()]:
            if isinstance(value, Tensor):
                value = value.detach()
                if value.dtype.kind == "f":
                    value.requires_grad_(True)
                name = names.pop(0)
                g.fresh(name)  # reserved: no node output takes an input's name
                tracer.bind(value, name)
                graph_inputs.append((name, value))
            if isinstance(key, int):
                call_args.append(value)
            else:
                call_kwargs[key] = value
        with enable_grad():
            out = model(*call_args, **call_kwargs)
        outputs = list(flatten(out))
        out_names = list(output_names or [])
        out_names += [("output" if len(outputs) == 1 else f"output_{i}") for i in range(len(out_names), len(outputs))]
        produced = []
        for t in outputs:
            name = tracer.value(t)
            if name in g.initializers and not any(t is x for _, x in graph_inputs):
                raise ValueError(f"minidl.onnx.export: an output of the model (shape {tuple(t.shape)}) does not "
                                 f"depend on its inputs through recorded ops (computed in no_grad, or from "
                                 f"raw arrays?); it would be exported as a constant")
            produced.append(name)
    finally:
        tracer.unwrap()
        for m, mode in modes:
            m.training = mode
        for p, flag in params:
            p.requires_grad_(flag)
    dynamic = _dynamic_axes(dynamic_axes)
    nodes = _name_outputs(g, produced, out_names[: len(outputs)], {n for n, _ in graph_inputs})
    nodes = _prune(nodes, out_names[: len(outputs)])
    used = {i for n in nodes for i in n.input}
    graph = helper.make_graph(
        nodes, "minidl", [_value_info(n, t, dynamic) for n, t in graph_inputs],
        [_value_info(n, t, dynamic) for n, t in zip(out_names, outputs)],
        [t for name, t in g.initializers.items() if name in used])
    proto = helper.make_model(graph, producer_name="minidl", opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 10)  # readable by onnxruntime releases of the last two years
    onnx.checker.check_model(proto)
    if verbose:
        print(helper.printable_graph(proto.graph))
    if f is not None:
        onnx.save_model(proto, f if not isinstance(f, os.PathLike) else os.fspath(f))
    return proto


def _split_args(args: Any, kwargs: dict[str, Any] | None) -> tuple[list[Any], dict[str, Any]]:
    positional = [args] if isinstance(args, Tensor) else list(args)
    kwargs = dict(kwargs or {})
    if positional and isinstance(positional[-1], dict):  # PyTorch: a trailing dict holds keyword arguments
        kwargs.update(positional.pop())
    return positional, kwargs


def _input_names(model: Any, positional: list[Any], kwargs: dict[str, Any], given: list[str] | None) -> list[str]:
    """The given names, then the names of ``forward``'s parameters (``input``/``input_i`` for ``*args``)."""
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()]
    except (TypeError, ValueError):
        params = []
    fixed = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    tensors = [i for i, v in enumerate(positional) if isinstance(v, Tensor)]
    names = [fixed[i] if i < len(fixed) else ("input" if len(tensors) == 1 else f"input_{i}") for i in tensors]
    names += [k for k, v in kwargs.items() if isinstance(v, Tensor)]
    given = list(given or [])
    return given + names[len(given):]


def _dynamic_axes(spec: dict[str, Any] | None) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for name, axes in (spec or {}).items():
        if isinstance(axes, dict):
            out[name] = {int(a): str(d) for a, d in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
    return out


def _value_info(name: str, t: Tensor, dynamic: dict[str, dict[int, str]]) -> Any:
    from onnx import helper

    axes = dynamic.get(name, {})
    shape = [axes.get(i, axes.get(i - t.ndim, n)) for i, n in enumerate(t.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype)), shape)


def _name_outputs(g: Any, produced: list[str], wanted: list[str], inputs: set[str]) -> list[Any]:
    """Rename each output's value to its wanted name (an Identity where the value is an input or reused)."""
    from onnx import helper

    renames: dict[str, str] = {}
    nodes = list(g.nodes)
    made_by_node = {o for n in nodes for o in n.output}
    for have, want in zip(produced, wanted):
        if have in made_by_node and have not in renames and have not in inputs:
            renames[have] = want
        else:
            nodes.append(helper.make_node("Identity", [renames.get(have, have)], [want], name=g.fresh("Identity")))
    for n in nodes:
        for i, v in enumerate(n.input):
            if v in renames:
                n.input[i] = renames[v]
        for i, v in enumerate(n.output):
            if v in renames:
                n.output[i] = renames[v]
    return nodes


def _prune(nodes: list[Any], outputs: list[str]) -> list[Any]:
    """Drop the nodes no output depends on (a layer's unused second output, say)."""
    needed, kept = set(outputs), []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed.update(i for i in n.input if i)
    return kept[::-1]
