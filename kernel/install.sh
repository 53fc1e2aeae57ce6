#!/usr/bin/env bash
# Installs the Go notebook kernel for this project: GoNB, goimports and gopls at
# the versions pinned in kernel/tools/go.mod, built into <repo>/.cache/bin, and
# registers them with Jupyter as the kernel "gonb-ddpm" (in $JUPYTER_DATA_DIR
# when set, else the user's Jupyter data folder), leaving any other kernel,
# a plain GoNB "gonb" included, as it was. The kernel's environment carries PATH (go,
# goimports, gopls) and PJRT_PLUGIN_LIBRARY_PATH (<repo>/.pjrt), so notebooks
# run on XLA without further set-up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/.cache/bin"
mkdir -p "$bin"
echo "kernel: building GoNB, goimports and gopls (pinned in kernel/tools/go.mod)"
(cd "$root/kernel/tools" && GOBIN="$bin" go install tool)
gobin=$(dirname "$(command -v go)")
export PATH="$bin:$gobin:$PATH"
# GoNB always writes kernels/gonb: let it write into a scratch folder and
# take its kernel.json from there.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
JUPYTER_DATA_DIR="$scratch" "$bin/gonb" --install >/dev/null 2>&1 || JUPYTER_DATA_DIR="$scratch" "$bin/gonb" --install
datadir="${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}"
name=gonb-ddpm
mkdir -p "$datadir/kernels/$name"
spec="$datadir/kernels/$name/kernel.json"
python3 - "$scratch/kernels/gonb/kernel.json" "$spec" "$bin:$gobin" "$root/.pjrt" <<'PY'
import json, os, sys
src, spec, path, pjrt = sys.argv[1:5]
with open(src) as f:
    k = json.load(f)
k["display_name"] = "Go (GoNB, ddpm)"
env = k.setdefault("env", {})
env["PATH"] = path + ":/usr/local/bin:/usr/bin:/bin"
env["PJRT_PLUGIN_LIBRARY_PATH"] = pjrt
for var in ("GOPATH", "GOMODCACHE", "GOCACHE", "GOFLAGS", "GOMLX_BACKEND", "HOME"):
    if os.environ.get(var):
        env[var] = os.environ[var]
tmp = spec + ".tmp"
with open(tmp, "w") as f:
    json.dump(k, f, indent=1)
os.replace(tmp, spec)
PY
echo "kernel: registered $spec"
