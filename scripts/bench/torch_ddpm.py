#!/usr/bin/env python3
"""PyTorch reference of the ddpm presets, for `ddpm bench -torch`.

The same U-Net as unet (Ho et al. 2020, diffusion_tf/models/unet.py):
ResNet blocks with GroupNorm, SiLU and the timestep embedding, self-attention
at the preset's resolutions, strided-conv downsampling, nearest + conv
upsampling, skip connections; the same training step (forward, MSE on eps,
backward, global-norm clipping, Adam, EMA) and the same sampler steps
(ancestral with fixed-large variance and DDIM eta 0, both clipping x_0), on
random images at the preset's batch size. Prints one JSON object with the
fields of ddpm bench.

-compile runs the network through torch.compile (inductor: generated C++ on
the CPU; the first, compiling step is excluded from the medians as for Go);
-bf16 runs the forward passes under bfloat16 autocast (convolutions and
matrix products in bfloat16; weights, optimizer and EMA in float32). The
impl field names the configuration: pytorch, pytorch-compile, pytorch-bf16,
pytorch-compile-bf16. -device cuda runs it on the GPU (timings wait for the
GPU with torch.cuda.synchronize; autocast is then CUDA's).
"""
import contextlib
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "cifar10": dict(size=32, in_ch=3, ch=128, mult=(1, 2, 2, 2), blocks=2, attn=(16,), dropout=0.1, groups=32, batch=128, lr=2e-4),
    "mnist": dict(size=28, in_ch=1, ch=32, mult=(1, 2, 2), blocks=1, attn=(7,), dropout=0.0, groups=8, batch=64, lr=1e-3),
    "tiny": dict(size=8, in_ch=1, ch=8, mult=(1, 2), blocks=1, attn=(4,), dropout=0.0, groups=4, batch=8, lr=1e-3),
}


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / max(half - 1, 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attn(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.q, self.k, self.v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.proj = nn.Linear(c, c)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x).reshape(B, C, H * W).transpose(1, 2)
        w = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(C), dim=-1)
        out = self.proj(w @ self.v(h)).transpose(1, 2).reshape(B, C, H, W)
        return x + out


class UNet(nn.Module):
    def __init__(self, size, in_ch, ch, mult, blocks, attn, dropout, groups, out_ch=None, **_):
        super().__init__()
        self.ch = ch
        tdim = 4 * ch
        self.temb0, self.temb1 = nn.Linear(ch, tdim), nn.Linear(tdim, tdim)
        self.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.down = nn.ModuleList()
        chans, cur, res = [ch], ch, size
        for level, m in enumerate(mult):
            for _ in range(blocks):
                mods = [ResBlock(cur, ch * m, tdim, groups, dropout)]
                cur = ch * m
                if res in attn:
                    mods.append(Attn(cur, groups))
                self.down.append(nn.ModuleList(mods))
                chans.append(cur)
            if level != len(mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                chans.append(cur)
                res //= 2
        self.mid1, self.mid_attn, self.mid2 = ResBlock(cur, cur, tdim, groups, dropout), Attn(cur, groups), ResBlock(cur, cur, tdim, groups, dropout)
        self.up = nn.ModuleList()
        for level in reversed(range(len(mult))):
            for _ in range(blocks + 1):
                mods = [ResBlock(cur + chans.pop(), ch * mult[level], tdim, groups, dropout)]
                cur = ch * mult[level]
                if res in attn:
                    mods.append(Attn(cur, groups))
                self.up.append(nn.ModuleList(mods))
            if level != 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cur, cur, 3, padding=1)]))
                res *= 2
        self.norm_out = nn.GroupNorm(groups, cur, eps=1e-6)
        self.conv_out = nn.Conv2d(cur, out_ch or in_ch, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)

    def forward(self, x, t):
        temb = self.temb1(F.silu(self.temb0(timestep_embedding(t, self.ch))))
        hs = [self.conv_in(x)]
        for mods in self.down:
            if isinstance(mods[0], ResBlock):
                h = mods[0](hs[-1], temb)
                for m in mods[1:]:
                    h = m(h)
            else:
                h = mods[0](hs[-1])
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(hs[-1], temb)), temb)
        for mods in self.up:
            if isinstance(mods[0], ResBlock):
                h = mods[0](torch.cat([h, hs.pop()], dim=1), temb)
                for m in mods[1:]:
                    h = m(h)
            else:
                h = mods[1](mods[0](h))
        return self.conv_out(F.silu(self.norm_out(h)))


def median(v):
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-presets", default="mnist")
    ap.add_argument("-batch", type=int, default=0)
    ap.add_argument("-train-steps", type=int, default=5)
    ap.add_argument("-sample-steps", type=int, default=10)
    ap.add_argument("-compile", action="store_true", help="torch.compile the network")
    ap.add_argument("-bf16", action="store_true", help="bfloat16 autocast for the forward passes")
    ap.add_argument("-device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    impl = "pytorch" + ("-compile" if a.compile else "") + ("-bf16" if a.bf16 else "")
    dev = torch.device(a.device)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    p = PRESETS[a.presets]
    B = a.batch or p["batch"]
    torch.manual_seed(1)
    model = UNet(**p).to(dev)
    ema = UNet(**p).to(dev)
    ema.load_state_dict(model.state_dict())
    for q in ema.parameters():
        q.requires_grad_(False)
    params = sum(q.numel() for q in model.parameters())
    net, ema_net = (torch.compile(model), torch.compile(ema)) if a.compile else (model, ema)
    opt = torch.optim.Adam(model.parameters(), lr=p["lr"])
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    cuda_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else ""
    betas, alphas, abar = betas.to(dev), alphas.to(dev), abar.to(dev)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64, device=dev), abar[:-1]])
    x0 = torch.rand(B, p["in_ch"], p["size"], p["size"], device=dev) * 2 - 1
    sqrt_abar, sqrt_1m = abar.sqrt().float(), (1 - abar).sqrt().float()

    def train_step():
        t = torch.randint(0, T, (B,), device=dev)
        noise = torch.randn_like(x0)
        xt = sqrt_abar[t][:, None, None, None] * x0 + sqrt_1m[t][:, None, None, None] * noise
        with autocast():
            pred = net(xt, t)
        loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - 0.995)
        return loss

    times = []
    for i in range(a.train_steps + 1):
        sync()
        s = time.perf_counter()
        train_step()
        sync()
        times.append(time.perf_counter() - s)
        print(f"\r{impl} {a.presets}: training step {i + 1}/{a.train_steps + 1}", end="", file=sys.stderr)
    step = median(times[1:])

    # Sampler steps (eps prediction, x_0 clipped), on the EMA model.
    post_var = torch.cat([betas[1:2], betas[1:]])  # fixed-large: beta_t, with betatilde_1 at t = 0 as the official code
    post_var[0] = betas[1] * (1 - abar_prev[1]) / (1 - abar[1])
    c1 = (betas * abar_prev.sqrt() / (1 - abar)).float()
    c2 = ((1 - abar_prev) * alphas.sqrt() / (1 - abar)).float()
    logvar = post_var.log().float()
    abar_f, abar_prev_f = abar.float(), abar_prev.float()

    @torch.inference_mode()
    def ancestral(x, i):
        t = torch.full((B,), i, dtype=torch.long, device=dev)
        with autocast():
            eps = ema_net(x, t).float()
        x0p = ((x - sqrt_1m[i] * eps) / sqrt_abar[i]).clamp(-1, 1)
        mean = c1[i] * x0p + c2[i] * x
        z = torch.randn_like(x) if i > 0 else torch.zeros_like(x)
        return mean + (0.5 * logvar[i]).exp() * z

    @torch.inference_mode()
    def ddim(x, i, prev):
        t = torch.full((B,), i, dtype=torch.long, device=dev)
        with autocast():
            eps = ema_net(x, t).float()
        x0p = ((x - sqrt_1m[i] * eps) / sqrt_abar[i]).clamp(-1, 1)
        eps = (x - sqrt_abar[i] * x0p) / sqrt_1m[i]
        ap = abar_f[prev] if prev >= 0 else torch.tensor(1.0, device=dev)
        return ap.sqrt() * x0p + (1 - ap).sqrt() * eps

    def time_loop(fn, name):
        x = torch.randn(B, p["in_ch"], p["size"], p["size"], device=dev)
        ts = []
        steps = list(range(T - 1, -1, -T // (a.sample_steps + 1)))[: a.sample_steps + 1]
        for k, i in enumerate(steps):
            sync()
            s = time.perf_counter()
            x = fn(x, i) if name == "ddpm" else fn(x, i, i - T // (a.sample_steps + 1))
            sync()
            ts.append(time.perf_counter() - s)
            print(f"\r{impl} {a.presets}: {name} step {k + 1}/{len(steps)}   ", end="", file=sys.stderr)
        return ts

    anc = time_loop(ancestral, "ddpm")
    dd = time_loop(ddim, "ddim")
    print(file=sys.stderr)
    anc_s, ddim_s = median(anc[1:]), median(dd[1:])
    print(json.dumps(dict(
        impl=impl, preset=a.presets,
        backend=(f"PyTorch {torch.__version__} {cuda_name}" if cuda_name else
                 f"PyTorch {torch.__version__} CPU (oneDNN {torch.backends.mkldnn.is_available()})") + f", Python {platform.python_version()}",
        parameters=params, batch=B, threads=torch.get_num_threads(),
        train_step_seconds=step, train_images_per_sec=B / step, train_compile_seconds=times[0] - step,
        ancestral_step_seconds=anc_s, ancestral1000_images_per_sec=B / (1000 * anc_s),
        ddim_step_seconds=ddim_s, ddim50_images_per_sec=B / (50 * ddim_s),
        sample_compile_seconds=anc[0] - anc_s,
        train_steps_timed=a.train_steps, sample_steps_timed=a.sample_steps,
    )))


if __name__ == "__main__":
    main()
