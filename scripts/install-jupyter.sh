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

# MathJax for offline reports: the static files of a pinned, hash-checked
# wheel, unpacked into .cache/mathjax (the report command copies them next
# to the reports).
mj="$root/.cache/mathjax"
mjlock="$root/scripts/requirements-mathjax.txt"
mjwant=$(sha256sum "$mjlock" | cut -d' ' -f1)
if [[ ! -f "$mj/.installed" || "$(cat "$mj/.installed")" != "$mjwant" ]]; then
  echo "install-jupyter: unpacking MathJax into $mj"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --require-hashes -r "$mjlock" -d "$tmp"
  rm -rf "$mj" && mkdir -p "$mj"
  "$venv/bin/python" - "$tmp" "$mj" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
prefix = "jupyter_server_mathjax/static/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(name) as src, open(out, "wb") as dst:
                dst.write(src.read())
PY
  rm -rf "$tmp"
  echo "$mjwant" > "$mj/.installed"
fi
