#!/usr/bin/env bash
# Opens every HTML report in headless Chromium with name resolution switched
# off (so that nothing can load from the web) and checks what a reader sees:
# MathJax typeset the equations (rendered formulas, no TeX delimiters left
# in the text, no "Math Processing Error"), and no script or stylesheet is
# fetched from the web. Screenshots of each report's first screen go to
# $SHOTS (default .cache/report-shots) for a look.
#
#   scripts/check-reports-offline.sh [reports]
#
# Needs chromium (Debian: apt-get install chromium) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-reports}
SHOTS=${SHOTS:-.cache/report-shots}
mkdir -p "$SHOTS"
command -v chromium >/dev/null || { echo "chromium not found (apt-get install chromium)" >&2; exit 2; }
offline=(--headless=new --no-sandbox --disable-gpu --host-resolver-rules="MAP * ~NOTFOUND" --virtual-time-budget=30000)
status=0
for f in "$DIR"/*.html; do
  url="file://$(realpath "$f")"
  timeout 180 chromium "${offline[@]}" --dump-dom "$url" 2>/dev/null >"$SHOTS/dom.html"
  timeout 180 chromium "${offline[@]}" --window-size=1100,1400 --screenshot="$SHOTS/$(basename "$f" .html).png" "$url" >/dev/null 2>&1
  python3 - "$f" "$SHOTS/dom.html" <<'PY' || status=1
import re, sys
src, dom = open(sys.argv[1]).read(), open(sys.argv[2]).read()
remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', src)
# The prose: code (in <pre>) may hold \( or $$ as code, not as TeX.
text = re.sub(r'<[^>]+>', '', re.sub(r'<(script|style|pre)\b.*?</\1>', '', dom, flags=re.S))
formulas = dom.count('class="MathJax"') + dom.count('class="MathJax_Display"')
raw = text.count('$$') + len(re.findall(r'\\\(|\\\[', text))
err = 'Math Processing Error' in text
ok = not remote and raw == 0 and not err
print(f"{'ok  ' if ok else 'FAIL'} {sys.argv[1]}: {formulas} formulas typeset, {raw} raw TeX delimiters in the prose, "
      f"{'a' if err else 'no'} MathJax error, {len(remote)} scripts/stylesheets from the web {remote[:3]}")
sys.exit(0 if ok else 1)
PY
done
rm -f "$SHOTS/dom.html"
exit $status
