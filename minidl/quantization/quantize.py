"""PyTorch's eager-mode workflow: ``fuse_modules``, ``prepare``, calibrate, ``convert``; ``prepare_qat``;
``quantize_dynamic``.

Post-training static quantization::

    model = nn.Sequential(QuantStub(), nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 26 * 26, 10),
                          DeQuantStub())
    model.eval()
    model = fuse_modules(model, [["1", "2"]])           # Conv2d + ReLU -> one ConvReLU2d
    model.qconfig = get_default_qconfig("x86")
    prepare(model, inplace=True)                          # observers after every quantizable layer
    for x, _ in calibration_batches: model(x)              # they record the ranges
    convert(model, inplace=True)                          # int8 layers; QuantStub -> Quantize

``prepare`` gives each layer that will be quantized (per ``qconfig``, inherited from the parent) an
``activation_post_process`` observer, called by a forward hook on the layer's output. ``convert``
swaps each module for its quantized twin (``from_float``) through a mapping from class to class; the
observers go away with the float layers. ``prepare_qat`` first swaps layers for their QAT versions
(fake-quantized weights), then attaches ``FakeQuantize`` modules to the outputs; after training,
``convert`` works as above. ``quantize_dynamic`` swaps ``Linear``/``LSTM`` for dynamic int8 layers.
"""

from __future__ import annotations

import copy
from typing import Any

import minidl.nn as nn
from minidl.nn.module import Module
from minidl.quantization.qconfig import default_dynamic_qconfig
from minidl.quantization.qtensor import QDtype, qint8
from minidl.quantization.stubs import DeQuantStub, QuantStub

# The quantized layers (minidl.ao.nn) import this package's tensors and observers, so this module imports
# them inside the functions below: importing either package first then works.


def get_default_static_quant_module_mappings() -> dict[type, type]:
    """float (or QAT) class -> static quantized class, used by ``convert``."""
    from minidl.ao.nn import intrinsic as nni
    from minidl.ao.nn import qat as nnqat
    from minidl.ao.nn import quantized as nnq
    from minidl.ao.nn.intrinsic import qat as nniqat
    from minidl.ao.nn.intrinsic import quantized as nniq

    return {
        QuantStub: nnq.Quantize, DeQuantStub: nnq.DeQuantize,
        nn.Linear: nnq.Linear, nn.Conv2d: nnq.Conv2d, nni.LinearReLU: nniq.LinearReLU,
        nni.ConvReLU2d: nniq.ConvReLU2d, nnqat.Linear: nnq.Linear, nnqat.Conv2d: nnq.Conv2d,
        nniqat.LinearReLU: nniq.LinearReLU, nniqat.ConvReLU2d: nniq.ConvReLU2d,
        nn.ReLU: nnq.ReLU, nn.MaxPool2d: nnq.MaxPool2d, nn.Flatten: nnq.Flatten,
    }


def get_default_qat_module_mappings() -> dict[type, type]:
    """float class -> QAT class, used by ``prepare_qat``."""
    from minidl.ao.nn import intrinsic as nni
    from minidl.ao.nn import qat as nnqat
    from minidl.ao.nn.intrinsic import qat as nniqat

    return {nn.Linear: nnqat.Linear, nn.Conv2d: nnqat.Conv2d, nni.LinearReLU: nniqat.LinearReLU,
            nni.ConvReLU2d: nniqat.ConvReLU2d}


def get_default_dynamic_quant_module_mappings() -> dict[type, type]:
    """float class -> dynamic quantized class, used by ``quantize_dynamic``."""
    from minidl.ao.nn.quantized import dynamic as nnqd

    return {nn.Linear: nnqd.Linear, nn.LSTM: nnqd.LSTM}


def _fused() -> tuple[type, type]:
    from minidl.ao.nn import intrinsic as nni

    return nni.LinearReLU, nni.ConvReLU2d


def _fusions() -> dict[tuple[type, type], type]:
    linear_relu, conv_relu = _fused()
    return {(nn.Linear, nn.ReLU): linear_relu, (nn.Conv2d, nn.ReLU): conv_relu}


def _copy(model: Module, inplace: bool) -> Module:
    return model if inplace else copy.deepcopy(model)


def fuse_modules(model: Module, modules_to_fuse: list[Any], inplace: bool = False) -> Module:
    """Replace each list of submodule names (``["conv", "relu"]``) by one fused module; the others become
    ``nn.Identity``. Supported pairs: Conv2d + ReLU, Linear + ReLU."""
    model = _copy(model, inplace)
    groups = [modules_to_fuse] if modules_to_fuse and isinstance(modules_to_fuse[0], str) else modules_to_fuse
    for names in groups:
        mods = [model.get_submodule(n) for n in names]
        fusions = _fusions()
        fused = fusions.get(tuple(type(m) for m in mods))
        if fused is None:
            raise ValueError(f"fuse_modules: cannot fuse {[type(m).__name__ for m in mods]} ({names}); supported: "
                             + ", ".join(f"{a.__name__} + {b.__name__}" for a, b in fusions))
        _set_submodule(model, names[0], fused(*mods))
        for n in names[1:]:
            _set_submodule(model, n, nn.Identity())
    return model


def _set_submodule(model: Module, target: str, module: Module) -> None:
    parent, _, name = target.rpartition(".")
    _replace(model.get_submodule(parent) if parent else model, name, module)


def _replace(parent: Module, name: str, module: Module) -> None:
    """Put ``module`` in the place of the child ``name``, keeping the order of the children (a Sequential's
    order is its computation; ``add_module`` would move a re-added name to the end)."""
    parent._modules[name] = module


def _propagate_qconfig(module: Module, parent_qconfig: Any = None) -> None:
    """Every module gets its own ``qconfig`` or else its parent's (None: stays float)."""
    qconfig = module.__dict__.get("qconfig", parent_qconfig)
    module.qconfig = qconfig
    if isinstance(module, _fused()):
        return  # a fused pair is one unit: its children are not observed one by one
    for child in module.children():
        _propagate_qconfig(child, qconfig)


def _observer_hook(module: Module, inputs: Any, output: Any) -> Any:
    return module.activation_post_process(output)


def _add_observers(module: Module) -> None:
    observed = (QuantStub, nn.Linear, nn.Conv2d, *_fused())  # the layers whose quantized twins need an output scale
    for child in module.children():
        if isinstance(child, observed) and getattr(child, "qconfig", None) is not None:
            if child.qconfig.activation is not None:
                child.activation_post_process = child.qconfig.activation()
                child.register_forward_hook(_observer_hook)
        if not isinstance(child, _fused()):
            _add_observers(child)


def prepare(model: Module, inplace: bool = False) -> Module:
    """Attach an ``activation_post_process`` observer (from ``qconfig.activation``) to every quantizable layer
    with a qconfig; run calibration batches through the result, then ``convert``."""
    model = _copy(model, inplace)
    if getattr(model, "qconfig", None) is None and not any(getattr(m, "qconfig", None) for m in model.modules()):
        raise ValueError("prepare: no qconfig on the model or its children; set model.qconfig = "
                         "minidl.quantization.get_default_qconfig('x86') first")
    _propagate_qconfig(model)
    _add_observers(model)
    return model


def _swap(module: Module, mapping: dict[type, type]) -> None:
    """Replace the children found in ``mapping`` by ``mapped.from_float(child)`` (recursively)."""
    for name, child in list(module.named_children()):
        target = mapping.get(type(child))
        if target is not None and getattr(child, "qconfig", None) is not None:
            _replace(module, name, target.from_float(child))
        else:
            _swap(child, mapping)


def prepare_qat(model: Module, mapping: dict[type, type] | None = None, inplace: bool = False) -> Module:
    """Swap layers for their QAT versions (fake-quantized weights) and attach ``FakeQuantize`` modules to the
    outputs (``qconfig = get_default_qat_qconfig()``); the model must be in training mode."""
    model = _copy(model, inplace)
    if not model.training:
        raise ValueError("prepare_qat: the model is in eval mode; call model.train() first (QAT trains it)")
    _propagate_qconfig(model)
    _swap(model, mapping or get_default_qat_module_mappings())
    _add_observers(model)
    return model


def _remove_qconfig(module: Module) -> None:
    for m in module.modules():
        m.__dict__.pop("qconfig", None)


def convert(model: Module, mapping: dict[type, type] | None = None, inplace: bool = False) -> Module:
    """Swap every prepared (or QAT) layer for its int8 twin: Linear/Conv2d (+ReLU) -> quantized layers with
    per-channel int8 weights and the observed output scale, QuantStub -> Quantize, DeQuantStub -> DeQuantize,
    ReLU/MaxPool2d/Flatten -> their QTensor versions. The result runs in eval mode."""
    model = _copy(model, inplace)
    _swap(model, mapping or get_default_static_quant_module_mappings())
    _remove_qconfig(model)
    return model.eval()


def quantize_dynamic(model: Module, qconfig_spec: Any = None, dtype: QDtype = qint8,
                     mapping: dict[type, type] | None = None, inplace: bool = False) -> Module:
    """Post-training dynamic quantization: every submodule whose class is in ``qconfig_spec`` (default
    ``{nn.Linear, nn.LSTM}``) becomes its dynamic int8 version (int8 weights per output channel,
    activations quantized per batch at run time). No calibration is needed."""
    if dtype is not qint8:
        raise ValueError(f"quantize_dynamic: dtype={dtype!r}; minidl supports qint8 weights only")
    model = _copy(model, inplace)
    mapping = mapping or get_default_dynamic_quant_module_mappings()
    classes = set(qconfig_spec or mapping)
    unknown = [c.__name__ for c in classes if isinstance(c, type) and c not in mapping]
    if unknown:
        raise ValueError(f"quantize_dynamic: no dynamic quantized version of {unknown}; supported: "
                         + ", ".join(c.__name__ for c in mapping))

    def swap(module: Module) -> None:
        for name, child in list(module.named_children()):
            if type(child) in classes:
                child.qconfig = default_dynamic_qconfig
                _replace(module, name, mapping[type(child)].from_float(child))
            else:
                swap(child)

    if type(model) in classes:
        model.qconfig = default_dynamic_qconfig
        return mapping[type(model)].from_float(model)
    swap(model)
    return model.eval()
