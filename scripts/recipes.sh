#!/usr/bin/env bash
# The recipe A/B of docs/recipes.md: the mnist preset trained with one change
# at a time, every run with the same steps and seed, each evaluated on
# bits/dim and sample quality. Runs whose results exist are skipped, so the
# script can be stopped and run again.
#
#   scripts/recipes.sh            # every variant, in the order below
#   scripts/recipes.sh base v     # only the named ones
#
# RECIPE_STEPS (1200, the preset's budget) sets the training steps of every
# run. Results (JSON reports, sample grids, times) go to results/recipes; the
# table is printed by `go run ./kernel/cmd/recipes`.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${RECIPE_STEPS:-1200}
OUT=runs/recipes
RES=results/recipes
mkdir -p "$OUT" "$RES"
go build -o "$OUT/ddpm.new" ./cmd/ddpm && mv "$OUT/ddpm.new" "$OUT/ddpm" # a running training keeps the old binary
DDPM="$OUT/ddpm"

# name | flags over the mnist preset (base-seed-2 measures the seed-to-seed
# noise that a difference must exceed; steps-2400, twice the steps, is the
# preset at batch-128's work) (eps, L_simple, linear schedule, uniform
# timesteps, lr 1e-3, batch 64, EMA 0.995, 32 channels)
VARIANTS=(
  "base|"
  "base-seed-2|-seed 2"
  "min-snr-5|-min-snr 5"
  "v|-prediction v"
  "cosine|-schedule cosine"
  "lr-3e-4|-lr 3e-4"
  "lr-2e-3|-lr 2e-3"
  "no-ema|-ema 0"
  "bf16|-precision bfloat16"
  "vlb|-loss vlb"
  "bf16-activations|-precision bfloat16-activations"
  "vlb-importance|-loss vlb -timesteps loss-second-moment"
  "batch-128|-batch 128"
  "channels-16|-channels 16"
  "channels-48|-channels 48"
  "v-cosine-min-snr-5|-prediction v -schedule cosine -min-snr 5"
  "steps-2400|-steps 2400"
)

TIMES=$RES/times.tsv
source scripts/lib.sh

[[ -f runs/classifier/mnist.ddpm ]] || "$DDPM" classifier -out runs/classifier/mnist.ddpm

for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  read -r -a flags <<<"${v#*|}"
  if (( $# > 0 )) && [[ ! " $* " == *" $name "* ]]; then continue; fi
  [[ -f $RES/$name.json ]] && { echo "recipes: $name done"; continue; }
  echo "recipes: $name (${flags[*]:-preset})"
  timed "train/$name" "$DDPM" train -preset mnist -steps "$STEPS" -seed 1 -log-every 100 \
    -dir "$OUT/$name" "${flags[@]}"
  extra=()
  [[ $name == base ]] && extra=(-baselines)
  # Bits/dim: the stratified bound on 500 test digits; sample quality: 1000
  # samples of DPM-Solver++ at 20 evaluations against the 10,000 test digits.
  timed "eval/$name" json "$RES/$name.json" "$DDPM" eval -dir "$OUT/$name" -n 500 -strata 20 \
    -samples 1000 -method dpm-solver++ -steps 20 "${extra[@]}" -grid "$RES/$name.png" -json
  cp "$OUT/$name/metrics.jsonl" "$RES/$name.metrics.jsonl"
done
