"""docs/vision-lenet.md: PyTorch's CIFAR-10 tutorial and the minidl program differ in their imports only, and the
minidl program runs end to end (on small CIFAR-10 files in the binary format, generated here; nothing downloaded)."""

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from minidl.data.datasets import cifar

PAGE = Path(__file__).parents[2] / "docs" / "vision-lenet.md"
IMPORTS = {  # PyTorch's import -> minidl's
    "import torch": "import minidl as torch",
    "import torchvision": "import minidl.vision as torchvision",
    "import torchvision.transforms as transforms": "import minidl.vision.transforms as transforms",
    "import torch.nn as nn": "import minidl.nn as nn",
    "import torch.nn.functional as F": "import minidl.nn.functional as F",
    "import torch.optim as optim": "import minidl.optim as optim",
}


def program(heading: str) -> str:
    section = PAGE.read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_programs_differ_in_their_imports_only():
    pytorch, ours = program("PyTorch's program").splitlines(), program("The same program on minidl").splitlines()
    assert len(pytorch) == len(ours) > 150
    changed = [(a, b) for a, b in zip(pytorch, ours) if a != b]
    assert changed == list(IMPORTS.items())


@pytest.fixture
def cifar_in_data(tmp_path, monkeypatch):
    """./data/cifar-10-batches-bin with 10 records per file (each file holds every class once)."""
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", 10)
    folder = tmp_path / "data" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
        folder.joinpath(name).write_bytes(b"".join(bytes([y]) + x.tobytes()
                                                   for y, x in zip(rng.permutation(10), images)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_minidl_program_runs(cifar_in_data, monkeypatch, capsys):
    shown = []
    pyplot = types.ModuleType("matplotlib.pyplot")  # no window: record what the tutorial would show
    pyplot.imshow = lambda a: shown.append(np.asarray(a))
    pyplot.show = lambda: None
    matplotlib = types.ModuleType("matplotlib")
    matplotlib.pyplot = pyplot
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    exec(compile(program("The same program on minidl"), str(PAGE), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    # two grids of 4 images: 3 x (32 + 2 + 2) rows, (4 * (32 + 2) + 2) columns, unnormalized into [0, 1]
    assert [a.shape for a in shown] == [(36, 138, 3)] * 2 and all(0 <= a.min() and a.max() <= 1 for a in shown)
    classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
    assert all(word in classes for word in out[0].split())
    assert "Finished Training" in out and (cifar_in_data / "cifar_net.pth").is_file()
    assert out[out.index("Finished Training") + 1].startswith("GroundTruth: ")
    assert re.fullmatch(r"Accuracy of the network on the 10000 test images: \d+ %", out[-12])
    assert [line.split(" is ")[0] for line in out[-11:-1]] == [f"Accuracy for class: {c:5s}" for c in classes]
    assert out[-1] == "cpu"
