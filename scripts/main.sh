#!/usr/bin/env bash
# The project's main job (README): installs the PJRT CPU plugin and regenerates
# the figures in figures/ (noise schedules, forward noising of MNIST digits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/install-pjrt.sh || echo "main: no PJRT plugin; running on the pure-Go backend" >&2
go run ./kernel/cmd/figures -out figures "$@"
