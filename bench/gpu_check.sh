#!/usr/bin/env bash
# The GPU checks as one unattended command, for one server with an NVIDIA GPU, no internet
# and a Python 3.12 of its own with torch, torchvision and Lightning (within 9 minutes on one
# H100/H200 with 16 cores):
#
#   bench/gpu_check.sh                 # on the GPU server (results in $OUT)
#   QUICK=1 bench/gpu_check.sh         # small sizes: the rehearsal on a CPU machine
#   ONLY=imports,ddp bench/gpu_check.sh # some steps (the others are listed as skipped)
#
# 1. imports: what the steps need; missing ones are installed from bench/wheels/ (made by
#    bench/make_wheelhouse.sh, carried beside the checkout) into a temporary folder
#    (pip --target --no-index), then checked again; nvidia-smi, torch's CUDA build;
# 2. the CUDA tests (the tests that need a GPU, augmentation included; skipped on CPU);
# 3. throughput: the trainer against a plain PyTorch loop, cnn (the default recipe: batch 16,
#    augmentation on) and resnet50 (batch 64, augmentation on; 8 with QUICK);
# 4. the paper study (6 models x 4 seeds on 2,046 synthetic clips; STUDY_EPOCHS, default 20
#    so that the three runs fit, 100 in the paper) sequential and on Ray with 1 and 4 tasks
#    per GPU (bench/study_scale.py); without Ray (its wheel is over the 64 MiB that travels),
#    the sequential study alone (bench/paper_study.py);
# 5. DDP smoke test: torchrun with two processes, a headless run (on two GPUs where there
#    are two, else on the CPU with gloo: one GPU cannot hold two NCCL ranks).
#
# Each step has its own time limit (together under 9 minutes); a failed step is reported
# and the next one still runs. One table at the end; the results folder ($OUT, default
# bench/gpu_results/<time>/) gets at most 8 small text files: summary.txt (the table) and
# one log per step. Scratch (data, caches, run directories) goes to a temporary folder that
# is removed. Exit status: the number of failed steps.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
OUT=${OUT:-bench/gpu_results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/coughscope-gpu-check.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export COUGHSCOPE_DATA_DIR="$SCRATCH/data" COUGHSCOPE_CACHE_DIR="$SCRATCH/cache"
export COUGHSCOPE_CONFIG_DIR="$SCRATCH/config" MPLBACKEND=Agg
if [ -n "${QUICK:-}" ]; then  # the CPU rehearsal: same steps, small sizes
    DEVICE=${DEVICE:-cpu}; STEPS=3; REPEATS=1; FRAMES=64; RESNET_BATCH=8; STUDY_DATA=demo:60
    STUDY_MODELS=${STUDY_MODELS:-ann,cnn}; STUDY_SEEDS=${STUDY_SEEDS:-1}
    STUDY_EPOCHS=${STUDY_EPOCHS:-2}; DDP_DATA=demo:40
    LIMITS=(120 180 150 240 150)
else
    DEVICE=${DEVICE:-cuda}; STEPS=50; REPEATS=3; FRAMES=130; RESNET_BATCH=64
    STUDY_DATA=demo:2046
    STUDY_MODELS=${STUDY_MODELS:-ann,cnn,resnet50,imagenet50,cne,tabnet}
    STUDY_SEEDS=${STUDY_SEEDS:-4}; STUDY_EPOCHS=${STUDY_EPOCHS:-20}; DDP_DATA=demo:200
    LIMITS=(60 100 80 240 60)  # 540 s = 9 min
fi
ROWS=()
failures=0
ONLY=${ONLY:-}  # e.g. ONLY=imports,ddp: the other steps are listed as skipped

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

step() {  # step NAME LIMIT_S COMMAND... : output to $OUT/NAME.txt and the terminal
    local name=$1 limit=$2
    shift 2
    if ! wanted "$name"; then
        ROWS+=("$(printf '%-12s %-12s %6s    %s' "$name" "skipped" "-" "not in ONLY=$ONLY")")
        return
    fi
    echo "== $name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    local took=$((SECONDS - t0)) status=ok
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="TIMEOUT"; elif [ "$rc" -ne 0 ]; then
        status="FAILED ($rc)"; fi
    [ "$rc" -eq 0 ] || failures=$((failures + 1))
    ROWS+=("$(printf '%-12s %-12s %6s s  %s' "$name" "$status" "$took" "$(key_figure "$name")")")
}

skip() {  # skip NAME REASON
    echo "== $1: skipped: $2" | tee "$OUT/$1.txt"
    ROWS+=("$(printf '%-12s %-12s %6s    %s' "$1" "skipped" "-" "$2")")
}

key_figure() {  # the line of a step's log that says what it measured
    local log="$OUT/$1.txt"
    case $1 in
        imports) grep -E '^(torch|device)' "$log" | tr '\n' ';' | cut -c1-110 ;;
        cuda_tests) grep -E '(passed|failed|error|skipped|deselected)' "$log" | tail -1 ;;
        throughput) grep -E '^(cnn|resnet50) ' "$log" | awk '{printf "%s trainer/plain %s; ", $1, $4}' ;;
        study) grep -E '^(sequential |ray, |runner wall time|skipped)' "$log" \
                   | awk '{$1=$1; print}' | tr '\n' ';' | cut -c1-120 ;;
        ddp) grep -oE 'run [a-z]+ in [0-9.]+s' "$log" | tail -1 ;;
    esac
}

# ---- 1. imports, installed from the wheelhouse where missing
IMPORTS="import torch, torchvision, lightning_fabric, pytorch_lightning, numpy, scipy, sklearn, pandas, matplotlib, librosa, soundfile, soxr, pytorch_tabular, platformdirs, tomli_w"
check_imports() {
    "$PY" - <<PY
import importlib, sys
missing = []
for name in "$IMPORTS".replace("import ", "").split(", "):
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 -- a broken package is as missing
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
print("python", sys.version.split()[0], sys.executable)
if missing:
    print("missing:", "; ".join(missing))
    sys.exit(1)
import torch
print("torch", torch.__version__, "CUDA build", torch.version.cuda, "available",
      torch.cuda.is_available(), "devices", torch.cuda.device_count())
from engine.devices import describe_device, precision_for, resolve_device
device, notice = resolve_device("auto")
print("device", device, describe_device(device), precision_for(device), notice or "")
PY
}
imports() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    if check_imports; then return 0; fi
    if ! ls bench/wheels/*.whl >/dev/null 2>&1; then
        echo "no bench/wheels/: make it with bench/make_wheelhouse.sh where pip reaches PyPI"
        return 1
    fi
    echo "installing $(ls bench/wheels/*.whl | wc -l) wheels from bench/wheels into $SCRATCH/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target \
        "$SCRATCH/site" bench/wheels/*.whl || return 1
    check_imports
}
export -f check_imports imports
export PY IMPORTS SCRATCH
# the wheels' folder goes on the path for every later step (installed or not: it is empty then)
export PYTHONPATH="$PYTHONPATH:$SCRATCH/site"
step imports "${LIMITS[0]}" bash -c imports

# ---- 2. the CUDA tests (skipped without a GPU; collection must not need a GPU)
step cuda_tests "${LIMITS[1]}" "$PY" -m pytest -q -rs -p no:cacheprovider -o addopts="" \
    -k "cuda or bf16 or gpu" tests/test_trainer.py tests/test_devices.py tests/test_augment.py \
    tests/test_runner.py tests/test_predict.py tests/test_tabular.py

# ---- 3. trainer vs plain loop: cnn at the default recipe, resnet50
throughput() {
    "$PY" bench/train_throughput.py --device "$DEVICE" --models cnn --batch-size 16 --augment \
        --steps "$STEPS" --repeats "$REPEATS" --frames "$FRAMES" &&
    "$PY" bench/train_throughput.py --device "$DEVICE" --models resnet50 --batch-size "$RESNET_BATCH" \
        --augment --steps "$STEPS" --repeats "$REPEATS" --frames "$FRAMES" | tail -n +2
}
export -f throughput
export DEVICE STEPS REPEATS FRAMES RESNET_BATCH
step throughput "${LIMITS[2]}" bash -c throughput

# ---- 4. the paper study: sequential, and on Ray with 1 and 4 tasks per GPU
STUDY=(--models "$STUDY_MODELS" --seeds "$STUDY_SEEDS" --epochs "$STUDY_EPOCHS")
if ! wanted study; then
    step study 0 true
elif [ ! -f bench/study_scale.py ]; then
    skip study "bench/study_scale.py missing"
elif ! "$PY" -c "import ray" >/dev/null 2>&1; then
    echo "ray is not installed (its wheel is over the 64 MiB that travels): sequential only"
    n=${STUDY_DATA#demo:}
    step study "${LIMITS[3]}" "$PY" bench/paper_study.py --n "$n" "${STUDY[@]}" \
        --device "$DEVICE" --workdir "$SCRATCH/study"
else
    step study "${LIMITS[3]}" "$PY" bench/study_scale.py --data "$STUDY_DATA" "${STUDY[@]}" \
        --tasks-per-gpu 1,4 --device "$DEVICE" --json-out "$OUT/study.json"
fi

# ---- 5. two processes under torchrun: on two GPUs where there are two, else the CPU (gloo)
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
DDP_DEVICE=cpu
[ "${GPUS:-0}" -ge 2 ] && [ "$DEVICE" = cuda ] && DDP_DEVICE=cuda
step ddp "${LIMITS[4]}" env OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --standalone \
    --nnodes 1 --nproc_per_node 2 -m engine --headless --data "$DDP_DATA" --models cnn2,ann \
    --seeds 1 --epochs 2 --oof-folds 2 --device "$DDP_DEVICE" --runs-dir "$SCRATCH/runs"

# ---- the table
{
    echo
    echo "coughscope GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)${QUICK:+ (QUICK: small sizes)}," \
         "device $DEVICE, study $STUDY_MODELS x $STUDY_SEEDS seeds x $STUDY_EPOCHS epochs" \
         "on $STUDY_DATA, DDP on $DDP_DEVICE"
    printf '%-12s %-12s %8s  %s\n' step status time "what it measured"
    printf '%s\n' "${ROWS[@]}"
    echo "$failures step(s) failed; logs in $OUT"
} | tee "$OUT/summary.txt"
exit "$failures"
