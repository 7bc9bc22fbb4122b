#!/usr/bin/env bash
# Build the wheel, install it into a clean venv (no source tree on sys.path), import minidl,
# check that kernels/ reached the package, and run one tiny training step.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$(mktemp -d); venv=$(mktemp -d)
.venv/bin/python -m build --wheel --outdir "$dist" . > "$dist/build.log" 2>&1 || { cat "$dist/build.log"; exit 1; }
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q "$dist"/minidl-*.whl
cd "$venv"  # away from the checkout, so the import must come from the wheel
"$venv/bin/python" - <<'PY'
import minidl
from minidl.kernel_files import kernel_dir
assert "site-packages" in minidl.__file__, minidl.__file__
assert (kernel_dir() / "README.md").is_file(), kernel_dir()
w = minidl.randn(4, 3, requires_grad=True)
x, y = minidl.randn(8, 4), minidl.randn(8, 3)
loss = ((x @ w - y) ** 2).mean()
loss.backward()
with minidl.no_grad():
    w2 = w - 0.1 * w.grad
assert float(((x @ w2 - y) ** 2).mean()) < float(loss), "one gradient step should lower the loss"
print("wheel smoke test ok:", minidl.__file__, "loss", float(loss))
PY
