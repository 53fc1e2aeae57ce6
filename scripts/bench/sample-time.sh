#!/usr/bin/env bash
# Wall time of `ddpm sample` for 64 digits from the shipped model, start to
# exit (compilation included), for each XLA_FLAGS setting given, alternated
# over rounds; prints one line per run and the medians.
#
#   scripts/bench/sample-time.sh [-rounds 3] [-method dpm-solver++] [-steps 20] [-- "FLAGS" ...]
#
# Each FLAGS is added to XLA_FLAGS for its runs ("" is the default setting).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 method=dpm-solver++ steps=20 extra=()
while (( $# > 0 )); do
  case $1 in
    -rounds) rounds=$2; shift 2 ;;
    -method) method=$2; shift 2 ;;
    -steps) steps=$2; shift 2 ;;
    -precision) extra+=(-precision "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "sample-time: unknown argument $1" >&2; exit 2 ;;
  esac
done
settings=("$@")
(( ${#settings[@]} > 0 )) || settings=("")
go build -o .cache/ddpm ./cmd/ddpm
out=$(mktemp -d)
times=()
for (( r = 1; r <= rounds; r++ )); do
  for i in "${!settings[@]}"; do
    s=${settings[$i]}
    t0=$(date +%s%N)
    XLA_FLAGS="${XLA_FLAGS:-} $s" .cache/ddpm sample -n 64 -method "$method" -steps "$steps" "${extra[@]}" -out "$out/s.png" >/dev/null
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    t=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    echo "round $r, XLA_FLAGS+='$s': $t s"
    times[$i]+="$t "
  done
done
for i in "${!settings[@]}"; do
  echo "median, XLA_FLAGS+='${settings[$i]}': $(tr ' ' '\n' <<<"${times[$i]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') s"
done
rm -rf "$out"
