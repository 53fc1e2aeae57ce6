#!/usr/bin/env bash
# The likelihood-versus-sample-quality study of the README (issue: measure sample
# quality and likelihood the way the paper does). Four mnist-preset models trained
# with the same budget, each evaluated on sample quality and bits/dim; one model's
# sample quality against DDIM step counts.
#
#   scripts/study.sh train   # the four training runs (about 12 min each here)
#   scripts/study.sh eval    # classifier, metrics, results in runs/study/*.json
#   scripts/study.sh         # both
#
# STUDY_STEPS (600) sets the training budget of every run; STUDY_SAMPLES (128) the
# number of samples each model draws for the sample-quality metrics.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STUDY_STEPS:-600}
SAMPLES=${STUDY_SAMPLES:-128}
OUT=runs/study
mkdir -p "$OUT"
go build -o "$OUT/ddpm" ./cmd/ddpm
DDPM="$OUT/ddpm"

# name  loss  variance
RUNS=(
  "simple-fixed-large simple fixed-large"
  "simple-fixed-small simple fixed-small"
  "vlb-fixed-large    vlb    fixed-large"
  "hybrid-learned     hybrid learned-range"
)

TIMES=$OUT/times.tsv
source scripts/lib.sh

phase=${1:-all}
if [[ $phase == train || $phase == all ]]; then
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    timed "train/$name" "$DDPM" train -preset mnist -steps "$STEPS" -loss "$loss" \
      -variance "$variance" -dir "$OUT/$name"
  done
fi

if [[ $phase == eval || $phase == all ]]; then
  # Results (JSON reports and sample grids) go to results/study, which is
  # committed: the README's table and notebook 4 read them.
  RES=results/study
  mkdir -p "$RES"
  [[ -f runs/classifier/mnist.ddpm ]] || timed classifier "$DDPM" classifier -out runs/classifier/mnist.ddpm
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    extra=()
    [[ $name == simple-fixed-large ]] && extra=(-baselines)
    # Bits/dim: the stratified estimate (21 passes per image) on 512 test digits;
    # sample quality: SAMPLES samples from the 1000-step ancestral sampler.
    timed "eval/$name" json "$RES/$name.json" "$DDPM" eval -dir "$OUT/$name" -n 512 -strata 20 \
      -samples "$SAMPLES" "${extra[@]}" -grid "$RES/$name.png" -json
  done
  # The full chain (all 1000 terms) for one model, on 64 test digits.
  timed "eval/full-chain" json "$RES/full-chain.json" "$DDPM" eval -dir "$OUT/simple-fixed-large" -n 64 -json
  # DDIM (eta 0) step counts against sample quality, same model.
  for steps in 10 20 50 100 1000; do
    timed "eval/ddim$steps" json "$RES/ddim$steps.json" "$DDPM" eval -dir "$OUT/simple-fixed-large" -bpd=false \
      -samples "$SAMPLES" -method ddim -steps "ddim$steps" -grid "$RES/ddim$steps.png" -json
  done
  cp "$OUT/times.tsv" "$RES/times.tsv"
fi
