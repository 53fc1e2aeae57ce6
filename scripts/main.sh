#!/usr/bin/env bash
# The project's main job (README): installs the PJRT CPU plugin, Jupyter and the
# GoNB kernel, executes the notebooks headless into reports/*.html (failing when
# any cell fails), and regenerates the figures in figures/ (those of the study
# from results/study).
# DDPM_FULL=1 runs the notebooks at full size instead of the small default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/install-pjrt.sh || echo "main: no PJRT plugin; running on the pure-Go backend" >&2
./scripts/install-jupyter.sh
export JUPYTER_DATA_DIR="$PWD/.cache/jupyter"
# Huge pages for XLA's per-run scratch memory, in the notebooks' processes as
# in the ddpm command (see cmd/ddpm/hugepages_linux.go); a value set by
# the caller wins.
export GLIBC_TUNABLES="${GLIBC_TUNABLES-glibc.malloc.hugetlb=1}"
go run ./kernel/cmd/figures -out figures
# The study's figures, from its committed reports (scripts/study.sh makes them).
if [[ -f results/study/simple-fixed-large.json ]]; then
  go run ./kernel/cmd/study -dir results/study -figures figures >/dev/null
fi
# The sampling curve's figure, from its committed reports (scripts/sampling.sh makes them).
if compgen -G "results/sampling/*_*_s*.json" >/dev/null; then
  go run ./kernel/cmd/sampling -dir results/sampling -figures figures >/dev/null
fi
go run ./kernel/cmd/report -reports reports "$@"
