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
# STUDY_STEPS (600) sets the training budget of every run; STUDY_SAMPLES (256) the
# number of samples each model draws for the sample-quality metrics.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STUDY_STEPS:-600}
SAMPLES=${STUDY_SAMPLES:-256}
OUT=runs/study
mkdir -p "$OUT"
go build -o "$OUT/ddpm" ./ddpm/cmd/ddpm
DDPM="$OUT/ddpm"

# name  loss  variance
RUNS=(
  "simple-fixed-large simple fixed-large"
  "simple-fixed-small simple fixed-small"
  "vlb-fixed-large    vlb    fixed-large"
  "hybrid-learned     hybrid learned-range"
)

timed() { # timed NAME CMD...: runs CMD, appends its wall time to $OUT/times.tsv
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo -e "$name\t$(( $(date +%s) - t0 ))\t$*" >>"$OUT/times.tsv"
}

phase=${1:-all}
if [[ $phase == train || $phase == all ]]; then
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    timed "train/$name" "$DDPM" train -preset mnist -steps "$STEPS" -loss "$loss" \
      -variance "$variance" -dir "$OUT/$name"
  done
fi
