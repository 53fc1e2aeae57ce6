#!/usr/bin/env bash
# Installs the PyTorch reference of `ddpm bench -torch` into .cache/bench-venv.
# The Linux wheels on the package index carry CUDA libraries (about 3 GB in
# all) that a CPU run loads but does not use. The tests never need this.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.cache/bench-venv
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/bench/requirements.txt
fi
"$VENV/bin/python" -c 'import torch; print("PyTorch", torch.__version__, "threads", torch.get_num_threads())'
