#!/usr/bin/env bash
# Compile-check every CUDA C source under kernels/ to PTX for sm_80 and sm_90 (no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(kernels/*.cu)
if [ ${#files[@]} -eq 0 ]; then echo "no .cu files"; exit 0; fi
if ! command -v nvcc > /dev/null; then
  if [ -n "${CI:-}" ]; then echo "nvcc is missing on the CI machine"; exit 1; fi
  echo "nvcc not found: skipping the compile check"; exit 0
fi
out=$(mktemp -d)
for f in "${files[@]}"; do
  for arch in 80 90; do
    nvcc --ptx -arch=sm_$arch -std=c++17 -o "$out/$(basename "$f" .cu).sm_$arch.ptx" "$f"
  done
  echo "ok: $f"
done
