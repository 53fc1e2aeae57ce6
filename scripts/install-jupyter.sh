#!/usr/bin/env bash
# Installs Jupyter's nbconvert (pinned, with its dependencies locked in
# scripts/requirements-notebooks.txt) into <repo>/.cache/venv, and the GoNB
# kernel with kernel/install.sh into <repo>/.cache/jupyter (JUPYTER_DATA_DIR),
# so the headless runner never touches the user's own Jupyter set-up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.cache/venv"
lock="$root/scripts/requirements-notebooks.txt"
stamp="$venv/.installed"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "install-jupyter: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$lock"
  echo "$want" > "$stamp"
fi
export JUPYTER_DATA_DIR="${JUPYTER_DATA_DIR:-$root/.cache/jupyter}"
"$root/kernel/install.sh"
