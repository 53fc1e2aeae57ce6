"""Sums the per-shape convolution timings of the mnist preset's U-Net,
weighted by how often each shape occurs in the network (35 convolutions),
for PyTorch (the output of torch_convs.py) and Go (the output of
`go test -run '^$' -bench Convolutions -benchtime 10x ./internal/convgrad/`):

    python3 scripts/bench/sum_convs.py torch.txt go.txt
"""
import re
import sys

# (size, in, out, stride, kernel): occurrences in the mnist preset's U-Net.
COUNTS = {(7, 64, 64, 1, 3): 8, (7, 128, 64, 1, 1): 2, (7, 128, 64, 1, 3): 2, (14, 32, 64, 1, 3): 1,
          (14, 64, 64, 1, 3): 4, (14, 64, 64, 2, 3): 1, (14, 96, 64, 1, 3): 1, (14, 128, 64, 1, 3): 1,
          (28, 1, 32, 1, 3): 1, (28, 32, 1, 1, 3): 1, (28, 32, 32, 1, 3): 4, (28, 32, 32, 2, 3): 1,
          (28, 64, 32, 1, 3): 1, (28, 96, 32, 1, 3): 1, (28, 96, 32, 1, 1): 1, (14, 32, 64, 1, 1): 1,
          (14, 96, 64, 1, 1): 1, (14, 128, 64, 1, 1): 1, (28, 64, 32, 1, 1): 1}
MODES = ("fwd", "dx", "dk")


def key(name):
    return tuple(int(p.lstrip("sk")) for p in name.split("-"))


def load_torch(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) == 7:
            out[key(f[0])] = {f[1]: float(f[2]), f[3]: float(f[4]), f[5]: float(f[6])}
    return out


def load_go(path):
    out = {}
    for line in open(path):
        m = re.match(r"BenchmarkConvolutions/(\S+)/(fwd|dx|dk)-\d+\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            out.setdefault(key(m.group(1)), {})[m.group(2)] = float(m.group(3)) / 1e6
    return out


torch, go = load_torch(sys.argv[1]), load_go(sys.argv[2])
sums = {"pytorch": dict.fromkeys(MODES, 0.0), "go": dict.fromkeys(MODES, 0.0)}
for shape, n in COUNTS.items():
    for impl, data in (("pytorch", torch), ("go", go)):
        for mode in MODES:
            sums[impl][mode] += n * data[shape][mode]
    print("-".join(map(str, shape)), "x%d" % n,
          "  ".join(f"{m} {go[shape][m]:.2f} vs {torch[shape][m]:.2f}" for m in MODES))
for impl in ("go", "pytorch"):
    print(impl, "  ".join(f"{m} {sums[impl][m]:.1f} ms" for m in MODES))
