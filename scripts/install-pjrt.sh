#!/usr/bin/env bash
# Installs the PJRT CPU plugin for GoMLX's XLA backend into <repo>/.pjrt
# (git-ignored), from the pinned, hash-checked wheel in scripts/pjrt-cpu.txt.
# Idempotent: does nothing when the installed plugin matches the pin.
# ddpm/backend finds .pjrt by itself; PJRT_PLUGIN_LIBRARY_PATH=<repo>/.pjrt also works.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.pjrt"
pin="$root/scripts/pjrt-cpu.txt"
stamp="$dest/.installed"
want=$(grep -v '^#' "$pin" | sha256sum | cut -d' ' -f1)
if [[ -f "$dest/pjrt_c_api_cpu_plugin.so" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "install-pjrt: PJRT CPU plugin already installed in $dest"
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
echo "install-pjrt: downloading the PJRT CPU plugin wheel (about 60 MB)"
"$python" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  --platform manylinux_2_27_x86_64 --python-version 3.11 --implementation py \
  -r "$pin" -d "$tmp"
"$python" - "$tmp" "$dest" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    (name,) = [n for n in z.namelist() if n.endswith("pjrt_c_api_cpu_plugin.so")]
    part = os.path.join(dest, ".plugin.part")
    with z.open(name) as src, open(part, "wb") as dst:
        shutil.copyfileobj(src, dst)
os.chmod(part, 0o755)
os.replace(part, os.path.join(dest, "pjrt_c_api_cpu_plugin.so"))
PY
echo "$want" > "$stamp"
echo "install-pjrt: installed $dest/pjrt_c_api_cpu_plugin.so"
