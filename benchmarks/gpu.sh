#!/usr/bin/env bash
# The prepared GPU run (issue 22): the CUDA recipe on CIFAR-10 test 10k (5 folds: accuracy, F1
# at 20% symmetric and 10% class-pair noise, seconds), the default budget on 50,000 images, and
# CPU vs CUDA agreement on digits. Finishes in under 8 minutes on one NVIDIA GPU whose python3
# has torch, numba, pandas and scikit-learn.
#
# Here, once:     make gpu-prep        (wheels into .whl/, CIFAR-10 test into .gpu-data/)
# On the device:  bash benchmarks/gpu.sh   (carry .whl and .gpu-data; tables land in $OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 2
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 DATACHECK_BENCH_DATA="$PWD/.gpu-data"
out="${OUT:-benchmarks/_gpu}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
cd benchmarks
timeout 300 python3 label_noise.py --data cifar --cifar-noise clean 0.2s 0.1p --seeds 0 \
  2>&1 | tee "$out/label_noise_cuda.md"
timeout 150 python3 gpu_checks.py 2>&1 | tee "$out/gpu_checks.md"
