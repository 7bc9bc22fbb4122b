"""The contributor guide (docs/contributing.md) is true, and a forgotten file is named by a failing test.

The guide's worked example (a ``hardswish`` op, its ``nn.Hardswish`` layer and their test) is run as
written: ``minidl`` is copied into a temporary folder, each snippet is appended to the file its title names,
and the test snippet runs there under pytest. The exports need no edit (``minidl/nn/__init__.py`` collects
the layers, ``minidl/nn/functional.py`` the op families' functions); the checks below keep that so.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "contributing.md"

# exported names that tests reach under a computed name (getattr(nn, f"{kind}Pad{d}d"), a shared op)
TESTED_UNDER_ANOTHER_NAME = {
    "ConstantPad3d", "ZeroPad3d", "ReflectionPad1d", "ReflectionPad3d", "ReplicationPad2d", "CircularPad2d",
    "CircularPad3d",  # tests/ops/test_padding.py: every mode x dimension against torch.nn
    "Dropout1d", "dropout1d", "dropout2d", "dropout3d",  # F.dropout_nd, tested through nn.Dropout2d
    "RNNBase",  # the base class of RNN, LSTM and GRU
}


def snippets() -> dict[str, str]:
    """The guide's titled code blocks: {the file it goes to: the code}."""
    blocks = re.findall(r'```python title="([^"]+)"\n(.*?)```', GUIDE.read_text(), re.S)
    return dict(blocks)


def untested(test_roots: list[Path]) -> list[str]:
    """One message per ``F`` function and ``nn`` layer that no ``.py`` file under ``test_roots`` names."""
    import minidl.nn as nn
    import minidl.nn.functional as F

    text = "\n".join(p.read_text() for root in test_roots for p in sorted(root.rglob("*.py"))
                     if p.name != "test_contributing.py")  # this file names the guide's example
    messages = []
    for name in F.__all__:
        fn = getattr(F, name)
        family = fn.__module__.rsplit(".", 1)[-1]
        if name not in TESTED_UNDER_ANOTHER_NAME and not re.search(rf"\b{name}\b", text):
            messages.append(f"F.{name} ({fn.__module__.replace('.', '/')}.py) is named by no test: add an OpCase "
                            f"to tests/ops/test_{family}.py")
    for name in nn.__all__:
        layer = getattr(nn, name)
        if not (inspect.isclass(layer) and issubclass(layer, nn.Module)) or name in TESTED_UNDER_ANOTHER_NAME:
            continue
        family = layer.__module__.rsplit(".", 1)[-1]
        if not re.search(rf"\b{name}\b", text):
            messages.append(f"nn.{name} ({layer.__module__.replace('.', '/')}.py) is named by no test: add one "
                            f"to tests/ops/test_{family}.py, beside its op's OpCase")
    return messages


def test_every_function_and_layer_is_named_by_a_test():
    assert untested([ROOT / "tests"]) == []


def test_every_layer_of_minidl_nn_is_exported():
    """Every public Module subclass defined under minidl/nn is nn.<Name>: no list to forget."""
    import importlib
    import pkgutil

    import minidl.nn as nn

    for info in pkgutil.iter_modules(nn.__path__):
        module = importlib.import_module(f"minidl.nn.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__:
                if not name.startswith("_"):
                    assert getattr(nn, name, None) is obj, f"minidl/nn/{info.name}.py: {name} is not nn.{name}"


def test_functional_exports_every_op_of_its_families_and_its_helper_list_is_current():
    import importlib

    import minidl.nn.functional as F

    for family in F.FAMILIES:
        module = importlib.import_module(f"minidl.ops.{family}")
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_"):
                assert name in F.NOT_FUNCTIONAL or getattr(F, name) is obj, f"{name} of minidl/ops/{family}.py"
    defined = {n for f in F.FAMILIES for n in vars(importlib.import_module(f"minidl.ops.{f}"))}
    stale = F.NOT_FUNCTIONAL - defined
    assert not stale, f"minidl/nn/functional.py: NOT_FUNCTIONAL names what no family defines any more: {stale}"
    assert len(F.__all__) == len(set(F.__all__)), "minidl/nn/functional.py exports a name twice"


def test_the_guide_names_three_files_and_imports_what_its_snippets_use():
    import ast
    import builtins

    files = snippets()
    assert list(files) == ["minidl/ops/activation.py", "minidl/nn/activation.py", "tests/ops/test_activation.py"]
    for path, code in files.items():
        assert (ROOT / path).exists(), path
        tree = ast.parse(code, path)
        defined = set(dir(builtins))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert used <= defined, f"docs/contributing.md: the {path} snippet uses {used - defined} without importing it"


WORKED_EXAMPLE_CHECK = """
import sys
from pathlib import Path
import minidl, minidl.nn as nn, minidl.nn.functional as F
assert Path(minidl.__file__).is_relative_to(Path.cwd()), minidl.__file__  # the copy, not the checkout
sys.path.insert(0, sys.argv[1])
from test_contributing import untested
assert nn.Hardswish.__module__ == "minidl.nn.activation" and F.hardswish.__module__ == "minidl.ops.activation"
root_tests, copy_tests = Path(sys.argv[1]), Path.cwd() / "tests"
assert untested([root_tests, copy_tests]) == [], untested([root_tests, copy_tests])
print("\\n".join(untested([root_tests])))  # the test file forgotten
"""


def test_the_guides_worked_example_adds_an_op_and_a_layer_in_three_files(tmp_path):
    shutil.copytree(ROOT / "minidl", tmp_path / "minidl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "kernels", tmp_path / "kernels")  # the catalogue: minidl.backends.KERNELS is read from it
    for path, code in snippets().items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.write_text(target.read_text() + "\n\n" + code)
        else:
            target.write_text(code)  # the test file: the snippet alone, so that only it runs
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}

    check = subprocess.run([sys.executable, "-c", WORKED_EXAMPLE_CHECK, str(ROOT / "tests")], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == [
        "F.hardswish (minidl/ops/activation.py) is named by no test: add an OpCase to tests/ops/test_activation.py",
        "nn.Hardswish (minidl/nn/activation.py) is named by no test: add one to tests/ops/test_activation.py, "
        "beside its op's OpCase",
    ]

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          "tests/ops/test_activation.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", run.stdout).group(1))
    assert passed >= 1 + 3 * 3, run.stdout[-500:]  # the layer test + forward/backward/double x 3 dtypes (numpy)
