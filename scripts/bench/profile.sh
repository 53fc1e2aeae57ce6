#!/usr/bin/env bash
# Profiles the mnist training step (or another preset's) with perf and names
# where the time goes: oneDNN's kernels by the names oneDNN gives its JIT
# code (ONEDNN_JIT_PROFILE=2), and XLA's own kernels by matching the machine
# code at the hottest addresses (read from the live process with gdb)
# against the object files XLA dumps for each kernel (--xla_dump_to).
# Needs perf, gdb and objcopy; Linux only. With a precision other than
# float32 it profiles `ddpm train -precision P` on the preset's data instead
# of the bench's random images. With `sample` as the fourth argument it
# profiles the ancestral sampler's steps instead (batch 64; the mnist preset
# samples the shipped model, another preset the bench's untrained network):
# the network's forward pass, with no gradients.
#
#   scripts/bench/profile.sh [preset] [seconds] [precision] [train|sample]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${1:-mnist}
seconds=${2:-20}
precision=${3:-float32}
part=${4:-train}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/ddpm" ./cmd/ddpm
if [[ $part == sample && $preset == mnist ]]; then
	cmd=("$work/ddpm" sample -method ddpm -steps 1000 -n 64 -batch 64 -precision "$precision" -out "$work/samples.png")
	started="" # no progress lines: wait for the compiled program instead
elif [[ $part == sample ]]; then
	[[ $precision == float32 ]] || { echo "profile: sampling another preset than mnist profiles float32 only" >&2; exit 2; }
	cmd=("$work/ddpm" bench -worker -presets "$preset" -bf16=false -train-steps 1 -sample-steps 900)
	started="ddpm step 3/"
elif [[ $precision == float32 ]]; then
	cmd=("$work/ddpm" bench -worker -presets "$preset" -bf16=false -train-steps 100000 -sample-steps 1)
	started="training step 3/"
else
	cmd=("$work/ddpm" train -preset "$preset" -precision "$precision" -steps 100000 -log-every 1 -dir "$work/run")
	started="step 3/"
fi
XLA_FLAGS="--xla_dump_to=$work/dump" ONEDNN_JIT_PROFILE=2 "${cmd[@]}" >"$work/log" 2>&1 &
pid=$!
# Wait for the first steps (compilation done): their progress line, or else
# the object code XLA dumps once a program is compiled, and a few seconds.
if [[ -n $started ]]; then
	until grep -q "$started" "$work/log" 2>/dev/null; do
		kill -0 $pid || { cat "$work/log"; exit 1; }
		sleep 1
	done
else
	until compgen -G "$work/dump/*.o" >/dev/null; do
		kill -0 $pid || { cat "$work/log"; exit 1; }
		sleep 1
	done
	sleep 5
fi
perf record -q -F 999 -p $pid -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null
perf script -i "$work/perf.data" -F ip,sym,dso 2>/dev/null >"$work/samples"
python3 - "$work" $pid <<'EOF'
import collections, glob, os, re, subprocess, sys
work, pid = sys.argv[1], sys.argv[2]
kinds, jit = collections.Counter(), collections.Counter()
for line in open(f"{work}/samples"):
    f = line.split()
    if not f:
        continue
    sym, dso = " ".join(f[1:-1]), f[-1]
    if "jit_" in sym:
        kinds["oneDNN " + re.sub(r"\.\d+$", "", sym)] += 1
    elif "perf-" in dso:
        kinds["XLA kernels"] += 1
        jit[int(f[0], 16)] += 1
    else:
        kinds[os.path.basename(dso.strip("()"))] += 1
total = sum(kinds.values())
print(f"{total} samples")
for k, n in kinds.most_common(8):
    print(f"{100 * n / total:5.1f}%  {k}")
top = jit.most_common(500)
with open(f"{work}/gdb", "w") as g:
    for a, _ in top:
        g.write(f"x/16xb {a:#x}\n")
out = subprocess.run(["gdb", "-p", pid, "-batch", "-x", f"{work}/gdb"], capture_output=True, text=True).stdout
code, wanted, base = {}, {a for a, _ in top}, None
for l in out.splitlines():  # Two lines of 8 bytes per address, the first one labelled with it.
    m = re.match(r"(0x[0-9a-f]+)(?: <[^>]*>)?:\s+(.*)", l)
    if m:
        if int(m.group(1), 16) in wanted:
            base = int(m.group(1), 16)
        if base is not None:
            code[base] = code.get(base, b"") + bytes(int(x, 16) for x in m.group(2).split())
texts = {}
for o in glob.glob(f"{work}/dump/*.o"):
    b = f"{o}.bin"
    subprocess.run(["objcopy", "-O", "binary", "-j", ".ltext", "-j", ".text", o, b], capture_output=True)
    if os.path.exists(b):
        texts[re.sub(r".*obj-file\.(__compute_module_)?", "", o[:-2])] = open(b, "rb").read()
names = collections.Counter()
for a, n in top:
    hits = sorted({re.sub(r"(_kernel_module)?(\.\d+)?(_kernel_module)?$", "", k) for k, t in texts.items() if code.get(a, b"")[:12] in t}) if code.get(a) else []
    names[" | ".join(hits[:3]) if hits else "(not matched)"] += n
covered = sum(n for _, n in top)
print(f"\nXLA kernels by kind ({100 * sum(jit.values()) / total:.1f}% of all samples, {100 * covered / total:.1f}% "
      "at the 500 hottest addresses, matched here; shares of all samples):")
for k, n in names.most_common(25):
    print(f"{100 * n / total:5.1f}%  {k}")
EOF
