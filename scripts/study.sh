#!/usr/bin/env bash
# The likelihood-versus-sample-quality study of docs/study.md: the paper's four
# objectives on the mnist preset, at the shipped model's budget (23,194 steps of
# batch 64, EMA 0.9995, seed 1), each evaluated on sample quality and bits/dim.
# L_simple's two rows are the shipped model itself (pretrained/README.md: the
# same flags): L_simple does not involve the reverse variance, so fixed-large and
# fixed-small are one training, evaluated with each variance. The bound and the
# hybrid are trained here, keeping a checkpoint every 1000 steps for their
# bits/dim curves. Training resumes from the newest checkpoint when run again.
#
#   scripts/study.sh train   # the two training runs (about 3.5 hours each, quiet)
#   scripts/study.sh curves  # bits/dim of every kept checkpoint (also part of eval;
#                            # run it before a run's folder is lost between machines)
#   scripts/study.sh eval    # metrics, results in results/study
#   scripts/study.sh eval simple-fixed-large hybrid-learned   # only these rows
#                            # (and curves: only these runs' checkpoints)
#   scripts/study.sh         # all three
#
# STUDY_STEPS (23194) sets the training budget of the trained runs.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STUDY_STEPS:-23194}
SAMPLES=${STUDY_SAMPLES:-128}
OUT=runs/study
mkdir -p "$OUT"
# Built beside and moved into place: a training that runs the old binary keeps it.
go build -o "$OUT/ddpm.new" ./cmd/ddpm && mv "$OUT/ddpm.new" "$OUT/ddpm"
DDPM="$OUT/ddpm"

# name  loss  variance (trained here; L_simple is the shipped model)
RUNS=(
  "hybrid-learned     hybrid learned-range"
  "vlb-fixed-large    vlb    fixed-large"
)

TIMES=$OUT/times.tsv
source scripts/lib.sh

phase=${1:-all}
shift || true
ONLY=("$@") # eval: the rows to evaluate (none named: all)
selected() { [[ ${#ONLY[@]} -eq 0 ]] || [[ " ${ONLY[*]} " == *" $1 "* ]]; }
if [[ $phase == train || $phase == all ]]; then
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    timed "train/$name" "$DDPM" train -preset mnist -steps "$STEPS" -loss "$loss" \
      -variance "$variance" -ema 0.9995 -seed 1 -log-every 100 -checkpoint-every 1000 -keep 0 \
      -dir "$OUT/$name"
  done
fi

RES=${STUDY_RESULTS:-results/study} # where the reports go (STUDY_RESULTS: elsewhere, until every row is done)
CURVES=results/study/curves # committed as they are measured: a run's checkpoints do not travel
if [[ $phase == curves || $phase == eval || $phase == all ]]; then
  mkdir -p "$CURVES"
  # Bits/dim against training steps: every kept checkpoint, on the same 256
  # test digits with the same noise (so differences between steps are paired).
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    selected "$name" || continue
    for ck in "$OUT/$name"/ckpt-*.ddpm; do
      [[ -f $ck ]] || continue # no checkpoint yet
      step=$(basename "$ck" .ddpm); step=$((10#${step#ckpt-}))
      out=$CURVES/$name-$step.json
      [[ -f $out ]] || json "$out" "$DDPM" eval -ckpt "$ck" -n 256 -strata 20 -json
    done
  done
fi

if [[ $phase == eval || $phase == all ]]; then
  mkdir -p "$RES"
  # Results (JSON reports and sample grids) go to results/study, which is
  # committed: docs/study.md and notebook 4 read them.
  [[ -f runs/classifier/mnist.ddpm ]] || timed classifier "$DDPM" classifier -out runs/classifier/mnist.ddpm
  # name | model flags (none: the shipped model)
  EVALS=(
    "simple-fixed-large|-variance fixed-large"
    "simple-fixed-small|-variance fixed-small"
    "hybrid-learned|-dir $OUT/hybrid-learned"
    "vlb-fixed-large|-dir $OUT/vlb-fixed-large"
  )
  fresh() { grep -qs "\"step\": $STEPS," "$1"; } # a report of a model at this budget
  for e in "${EVALS[@]}"; do
    name=${e%%|*}
    selected "$name" || continue
    read -r -a model <<<"${e#*|}"
    # A report of a model at this budget is kept (one from an older study,
    # at another step count, is replaced).
    fresh "$RES/$name.json" && { echo "study: $name done"; continue; }
    extra=()
    [[ $name == simple-fixed-large ]] && extra=(-baselines)
    # Bits/dim: the stratified bound (21 passes per digit) on 1000 test digits;
    # sample quality: 1000 samples of the ancestral sampler respaced to 100
    # steps (the variance matters only to it: the ODE solvers use the mean).
    timed "eval/$name" json "$RES/$name.json" "$DDPM" eval "${model[@]}" -n 1000 -strata 20 \
      -samples 1000 -steps 100 "${extra[@]}" -grid "$RES/$name.png" -json
  done
  # The likelihood-trained model on all 10,000 test digits, and the full chain
  # (all 1000 terms) on 128 of them as a check of the estimate.
  if selected hybrid-learned; then
    fresh "$RES/hybrid-test10k.json" || timed "eval/hybrid-test10k" json "$RES/hybrid-test10k.json" \
      "$DDPM" eval -dir "$OUT/hybrid-learned" -n 10000 -strata 20 -json
    fresh "$RES/full-chain.json" || timed "eval/full-chain" json "$RES/full-chain.json" \
      "$DDPM" eval -dir "$OUT/hybrid-learned" -n 128 -json
  fi
  # The loss curves: the trained runs' metrics (the shipped model's are
  # committed as simple.metrics.jsonl).
  for r in "${RUNS[@]}"; do
    read -r name loss variance <<<"$r"
    if selected "$name"; then cp "$OUT/$name/metrics.jsonl" "$RES/$name.metrics.jsonl"; fi
  done
  cp "$OUT/times.tsv" "$RES/times.tsv"
fi
