#!/usr/bin/env bash
# The wheels bench/gpu_check.sh installs on a GPU server that has its own Python 3.12 with
# torch, torchvision and Lightning but no internet (and no librosa, soundfile, soxr,
# pytorch-tabular...). Run it here, where pip reaches PyPI:
#
#   bench/make_wheelhouse.sh            # -> bench/wheels/ (git-ignored), about 4 MB
#
# Only what the GPU check's steps import and such a server lacks, no dependencies pulled in
# (--no-deps: each is named), py3.12 manylinux x86_64 wheels, one version each (the ones
# this project is tested with). The whole working tree that travels to the server must stay
# under 64 MiB: the script refuses a wheelhouse over 48 MiB.
#
# The GPU machine's tool copies ignored paths only when asked: name the folder in `carry`
# (carry: ["bench/wheels"]) and run `bench/gpu_check.sh` there; it installs these wheels
# into a temporary folder (pip --target, --no-index) when an import is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-bench/wheels}
PY=${PYTHON:-python3}
mkdir -p "$DEST"

# name==version: what the steps need beyond a CUDA image's torch/Lightning/numpy/scipy/
# scikit-learn/pandas/matplotlib/numba/rich/einops/torchmetrics/pyyaml/tqdm/requests
WHEELS=(
    librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0 audioread==3.1.0 decorator==5.3.2
    pooch==1.9.0 cffi==2.1.1 pycparser==3.12
    pytorch_tabular==1.2.0 pytorch-tabnet==4.1.0 omegaconf==2.4.0 scikit-base==1.2.0
    platformdirs==4.14.9 tomli_w==1.2.0
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64 manylinux_2_5_x86_64; do
    PLATFORMS+=(--platform "$p")
done
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}"

size_kb=$(du -sk "$DEST" | cut -f1)
echo "$DEST: $(ls "$DEST"/*.whl | wc -l) wheels, $((size_kb / 1024)) MiB"
if [ "$size_kb" -gt $((48 * 1024)) ]; then
    echo "error: $DEST is over 48 MiB; the working tree that travels must stay under 64 MiB" >&2
    exit 1
fi
