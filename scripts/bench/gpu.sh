#!/usr/bin/env bash
# The cifar10 preset's speed on an NVIDIA GPU, end to end, against the paper's
# TPU v3-8 (21 training steps/s at batch 128; 256 samples in 17 s) and against
# PyTorch on the same GPU (docs/performance.md, "On a GPU").
#
#   scripts/bench/gpu.sh [DDPM_BINARY]
#
# Go: 300 training steps of the cifar10 preset at batch 128 on 256 random
# 32x32 images (the step's time does not depend on the pixels), with each
# logged step's time in metrics.jsonl; the same in bfloat16; then
# `ddpm sample` of 256 images with the 1000-step ancestral sampler in one
# batch, timed end to end (model load and compilation included). PyTorch:
# scripts/bench/torch_ddpm.py -device cuda, eager, float32 and bfloat16
# autocast, at batch 128 and 256.
#
# The XLA CUDA plugin: scripts/install-pjrt.sh cuda13 (or cuda12) installs it
# into .pjrt, where the backend finds it. A machine with JAX for CUDA already
# installed can use that one instead, with its NVIDIA libraries:
#   GOMLX_BACKEND=xla:<site-packages>/jax_plugins/xla_cuda13/xla_cuda_plugin.so
#   XLA_FLAGS=--xla_gpu_cuda_data_dir=<site-packages>/nvidia/cu13
#   GOPJRT_CUDA_CHECKS=0
# (this script sets them when it finds python3's jax-cuda13-pjrt and no
# GOMLX_BACKEND). Python with PyTorch for CUDA: $PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
DDPM=${1:-}
if [[ -z $DDPM ]]; then
  DDPM=.cache/ddpm-gpu
  go build -o "$DDPM" ./cmd/ddpm || exit 1
fi
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
secs() { awk "BEGIN{printf \"%.1f\", $2 - $1}"; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [[ -z ${GOMLX_BACKEND:-} && ! -f .pjrt/pjrt_c_api_cuda_plugin.so ]]; then
  sp=$("$PYTHON" -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
  if [[ -f $sp/jax_plugins/xla_cuda13/xla_cuda_plugin.so ]]; then
    export GOMLX_BACKEND="xla:$sp/jax_plugins/xla_cuda13/xla_cuda_plugin.so" GOPJRT_CUDA_CHECKS=0
    export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_cuda_data_dir=$sp/nvidia/cu13"
  fi
fi
"$DDPM" info | grep -E "^(details|devices)"

"$PYTHON" - "$WORK/imgs" <<'PY'
import os, sys
import numpy as np
from PIL import Image
os.makedirs(sys.argv[1], exist_ok=True)
r = np.random.default_rng(1)
for i in range(256):
    Image.fromarray(r.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(f"{sys.argv[1]}/{i:03d}.png")
PY

# median seconds per training step over the logged steps after the first
steady() { "$PYTHON" -c "
import json, statistics, sys
s = [json.loads(l)['seconds'] for l in open(sys.argv[1])][1:]
m = statistics.median(s)
print(f'{m * 1000:.1f} ms/step ({1 / m:.1f} steps/s), median of {len(s)} logged steps')" "$1"; }

for prec in float32 bfloat16; do
  t0=$(date +%s.%N)
  "$DDPM" train -preset cifar10 -precision "$prec" -data "folder:$WORK/imgs" -dir "$WORK/c10-$prec" \
    -steps 300 -log-every 25 -checkpoint-every 100000 > "$WORK/train-$prec.log" 2>&1 || { tail -5 "$WORK/train-$prec.log"; exit 1; }
  t1=$(date +%s.%N)
  echo "go cifar10 training, batch 128, $prec: $(steady "$WORK/c10-$prec/metrics.jsonl"); 300 steps in $(secs "$t0" "$t1") s with compilation"
done
t0=$(date +%s.%N)
"$DDPM" sample -dir "$WORK/c10-float32" -n 256 -batch 256 -out "$WORK/samples.png" | tail -1
t1=$(date +%s.%N)
echo "go cifar10 sampling: 256 images, 1000 ancestral steps, one batch of 256: $(secs "$t0" "$t1") s end to end"

for extra in "" "-bf16"; do
  for b in 128 256; do
    "$PYTHON" scripts/bench/torch_ddpm.py -presets cifar10 -device cuda -batch "$b" -train-steps 50 -sample-steps 50 $extra 2>/dev/null |
      "$PYTHON" -c "
import json, sys
r = json.loads(sys.stdin.read())
print(f\"{r['impl']} cifar10, batch {r['batch']}: training {r['train_step_seconds'] * 1000:.1f} ms/step ({1 / r['train_step_seconds']:.1f} steps/s); \"
      f\"1000 ancestral steps {r['ancestral_step_seconds'] * 1000:.1f} s ({r['backend']})\")"
  done
done
