#!/usr/bin/env bash
# Sample quality against network evaluations (NFE) for every sampler, on the
# shipped MNIST model (or the model file or run folder in DDPM_MODEL): one
# `ddpm eval -json` report per sampler and budget in results/sampling, named
# <method>_<nfe>_s<seed>.json. Notebook 3 and docs/sampling.md read them.
#
#   scripts/sampling.sh            # the default set below
#   scripts/sampling.sh dpm-solver++:20:2 ddim:50:1   # chosen runs (method:nfe:seed)
#
# SAMPLES (1000) sets the number of samples of each run; reports already there
# are kept (delete one to measure it again).
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLES=${SAMPLES:-1000}
OUT=${OUT:-results/sampling}
mkdir -p "$OUT" .cache
go build -o .cache/ddpm ./cmd/ddpm
DDPM=.cache/ddpm
[[ -f runs/classifier/mnist.ddpm ]] || "$DDPM" classifier
model=()
if [[ -n ${DDPM_MODEL:-} ]]; then
  if [[ -d $DDPM_MODEL ]]; then model=(-dir "$DDPM_MODEL"); else model=(-ckpt "$DDPM_MODEL"); fi
fi

RUNS=("$@")
if [[ ${#RUNS[@]} -eq 0 ]]; then
  RUNS=(
    dpm-solver++:5:1 dpm-solver++:10:1 dpm-solver++:20:1 dpm-solver++:50:1 dpm-solver++:20:2
    ddim:10:1 ddim:20:1 ddim:50:1 ddim:100:1
    heun:9:1 heun:19:1 heun:49:1
    dpm-solver++-sde:10:1 dpm-solver++-sde:20:1 dpm-solver++-sde:50:1 dpm-solver++-sde:20:2
    ddpm:100:1 ddpm:1000:1 ddpm:1000:2
  )
fi
for r in "${RUNS[@]}"; do
  IFS=: read -r method nfe seed <<<"$r"
  file="$OUT/${method}_${nfe}_s${seed}.json"
  [[ -f $file ]] && { echo "sampling: $file is there, kept"; continue; }
  extra=()
  # The baselines (real digits and noise; no sampling of their own) with two runs.
  [[ $method == ddpm && $nfe == 1000 && $seed == 1 || $method == dpm-solver++ && $nfe == 20 && $seed == 1 ]] && extra=(-baselines)
  steps=$nfe
  [[ $method == ddpm && $nfe == 1000 ]] && steps=""
  echo "sampling: $method, $nfe evaluations, seed $seed"
  /usr/bin/time -f "%e s" "$DDPM" eval "${model[@]}" -bpd=false -samples "$SAMPLES" -method "$method" \
    -steps "$steps" -seed "$seed" "${extra[@]}" -json >"$file.tmp"
  mv "$file.tmp" "$file"
done
