#!/usr/bin/env bash
# Installs a PJRT plugin for GoMLX's XLA backend into <repo>/.pjrt (git-ignored),
# from a pinned, hash-checked wheel of the Python package index:
#
#   scripts/install-pjrt.sh           the CPU plugin  (scripts/pjrt-cpu.txt)
#   scripts/install-pjrt.sh cuda12    the CUDA 12 GPU plugin (scripts/pjrt-cuda12.txt)
#   scripts/install-pjrt.sh cuda13    the CUDA 13 GPU plugin (scripts/pjrt-cuda13.txt)
#
# Idempotent: does nothing when the installed plugin matches the pin.
# backend finds .pjrt by itself (a CUDA plugin is preferred over the CPU one);
# PJRT_PLUGIN_LIBRARY_PATH=<repo>/.pjrt works for other GoMLX programs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${1:-cpu}
case "$kind" in
  cpu) name=cpu ;;
  cuda12|cuda13) name=cuda ;;
  *) echo "install-pjrt: unknown plugin $kind: valid values are cpu, cuda12, cuda13" >&2; exit 2 ;;
esac
dest="${PJRT_INSTALL_DIR:-$root/.pjrt}"
pin="$root/scripts/pjrt-$kind.txt"
plugin="$dest/pjrt_c_api_${name}_plugin.so"
stamp="$dest/.installed-$name"
want=$(grep -v '^#' "$pin" | sha256sum | cut -d' ' -f1)
if [[ -f "$plugin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "install-pjrt: PJRT $kind plugin already installed: $plugin"
  exit 0
fi
python=${PYTHON:-python3}
if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "install-pjrt: $python with pip is needed to fetch the plugin wheel" >&2
  exit 1
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-pjrt: downloading the PJRT $kind plugin wheel"
"$python" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  --platform manylinux_2_27_x86_64 --python-version 3.11 --implementation py \
  -r "$pin" -d "$tmp"
"$python" - "$tmp" "$plugin" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, plugin = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    (name,) = [n for n in z.namelist() if n.endswith(".so") and "plugin" in os.path.basename(n)]
    part = plugin + ".part"
    with z.open(name) as src, open(part, "wb") as dst:
        shutil.copyfileobj(src, dst)
os.chmod(part, 0o755)
os.replace(part, plugin)
PY
echo "$want" > "$stamp"
echo "install-pjrt: installed $plugin"
