"""Where the hand-written device kernels (``kernels/``: CUDA C sources and the catalogue) live.

In a source checkout or an editable install they are the top-level ``kernels/`` folder; in a wheel
they ship inside the package as ``minidl/_kernels`` (see ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path


def kernel_dir() -> Path:
    """The folder holding ``README.md`` (the kernel catalogue) and the ``*.cu`` sources."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_kernels", here.parent / "kernels"):
        if (candidate / "README.md").is_file():
            return candidate
    raise FileNotFoundError(f"minidl: the kernels folder is missing (looked in {here / '_kernels'} and "
                            f"{here.parent / 'kernels'}); reinstall minidl")


def kernel_source(name: str) -> str:
    """The text of ``kernels/<name>`` (e.g. ``"softmax.cu"``)."""
    return (kernel_dir() / name).read_text()
