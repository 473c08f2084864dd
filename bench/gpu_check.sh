#!/usr/bin/env bash
# The GPU checks of issue 12, as one command, for a machine with an NVIDIA GPU:
#
#   bench/gpu_check.sh            # everything (about 15-20 min on one H100/H200)
#   QUICK=1 bench/gpu_check.sh    # a reduced paper study (2 seeds x 20 epochs), ~5 min
#
# 1. the environment: nvidia-smi, torch's CUDA build, what coughscope resolves;
# 2. the CUDA tests (tests/*: -k cuda; they are skipped on machines without a GPU), plus the
#    DDP tests on CPU;
# 3. bench/train_throughput.py on cuda: trainer vs plain loop (goal >= 0.9x for cnn and
#    resnet50), torch.compile, and pytorch-tabular cne on CPU vs GPU;
# 4. with 2+ GPUs: a headless run under torchrun on every GPU;
# 5. bench/paper_study.py: 6 models x 4 seeds x 100 epochs on 2,046 clips (goal <= 10 min).
#
# Every step's output goes to $OUT (default bench/gpu_results/<time>/) and to the terminal;
# a step that fails is reported and the next one still runs. Exit status: the failures.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python)}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
OUT=${OUT:-bench/gpu_results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failures=0

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
    [ "$rc" -eq 0 ] || failures=$((failures + 1))
}

step environment 120 bash -c "nvidia-smi; $PY - <<'PY'
import torch
from engine.devices import describe_device, precision_for, resolve_device
print('torch', torch.__version__, 'CUDA build', torch.version.cuda,
      'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count())
device, notice = resolve_device('auto')
print('coughscope device', device, describe_device(device), precision_for(device), notice or '')
if torch.cuda.is_available():
    print('capability', torch.cuda.get_device_capability(),
          'native bf16', torch.cuda.is_bf16_supported(including_emulation=False))
PY"

step cuda_tests 900 "$PY" -m pytest -q -rs -p no:cacheprovider -k "cuda or bf16" \
    tests/test_trainer.py tests/test_devices.py tests/test_runner.py tests/test_predict.py
step ddp_tests 600 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_ddp.py

step throughput 1200 "$PY" bench/train_throughput.py --device cuda --steps 50 --repeats 3 \
    --models ann,cnn,resnet50 --compile --tabular

GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [ "${GPUS:-0}" -ge 2 ]; then
    step torchrun 900 "$PY" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" \
        -m engine --headless --data demo:400 --models cnn,resnet50,cne --seeds 1 --epochs 3 \
        --no-pretrained --runs-dir "$OUT/runs" --json
fi

if [ -n "${QUICK:-}" ]; then
    step paper_study 1800 "$PY" bench/paper_study.py --seeds 2 --epochs 20 --workdir "$OUT/study"
else
    step paper_study 3600 "$PY" bench/paper_study.py --workdir "$OUT/study"
fi
rm -rf "$OUT/study/set" "$OUT/study/cache" "$OUT/study/data"  # the synthetic audio: big, remade

echo "results in $OUT; $failures step(s) failed" | tee -a "$OUT/summary.txt"
exit "$failures"
