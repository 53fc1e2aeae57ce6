"""Times every convolution shape of the mnist preset's U-Net in PyTorch at
batch 64: forward, input gradient and kernel gradient each alone (median of
20 runs, 2 threads), the counterpart of BenchmarkConvolutions in
internal/convgrad. Run with the bench's Python (scripts/bench/setup.sh):

    .cache/bench-venv/bin/python scripts/bench/torch_convs.py
"""
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def median_ms(f, n=20):
    for _ in range(5):
        f()
    ts = []
    for _ in range(n):
        s = time.perf_counter()
        f()
        ts.append(time.perf_counter() - s)
    ts.sort()
    return 1000 * ts[len(ts) // 2]


SHAPES = [(7, 64, 64, 1, 3), (7, 128, 64, 1, 1), (7, 128, 64, 1, 3), (14, 32, 64, 1, 3), (14, 64, 64, 1, 3),
          (14, 64, 64, 2, 3), (14, 96, 64, 1, 3), (14, 128, 64, 1, 3), (28, 1, 32, 1, 3), (28, 32, 1, 1, 3),
          (28, 32, 32, 1, 3), (28, 32, 32, 2, 3), (28, 64, 32, 1, 3), (28, 96, 32, 1, 3), (28, 96, 32, 1, 1),
          (14, 32, 64, 1, 1), (14, 96, 64, 1, 1), (14, 128, 64, 1, 1), (28, 64, 32, 1, 1)]

for size, cin, cout, st, ks in SHAPES:
    x = torch.randn(64, cin, size, size)
    w = torch.randn(cout, cin, ks, ks)
    pad = ks // 2
    v = torch.randn_like(F.conv2d(x, w, padding=pad, stride=st))

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, padding=pad, stride=st)

    def grad(mask):
        return lambda: torch.ops.aten.convolution_backward(
            v, x, w, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1, mask)

    print(f"{size}-{cin}-{cout}-s{st}-k{ks} fwd {median_ms(fwd):.2f} "
          f"dx {median_ms(grad([True, False, False])):.2f} dk {median_ms(grad([False, True, False])):.2f}")
