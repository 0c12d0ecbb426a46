#!/usr/bin/python3
"""PyTorch side of bench/bench_dinov2.sh: a ViT with the shapes of DINOv2 ViT-B/14 (upstream block
structure: pre-LN, qkv + proj with bias, LayerScale, exact-GELU MLP, plain softmax attention as
torch 1.13 computes it) on an 840x840 input, timed like geocorr's bench. Speed does not depend on
the weight values, so the default init is used. Run with Debian's /usr/bin/python3 (torch 1.13).
Usage: torch_dinov2_bench.py [--threads N] [--size 840] [--runs 1] (a first call, then RUNS timed)"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_timing import timed


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ls1 = nn.Parameter(torch.ones(d))
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.ls2 = nn.Parameter(torch.ones(d))

    def attn(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (C // self.heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, C))

    def forward(self, x):
        x = x + self.ls1 * self.attn(self.norm1(x))
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, d=768, depth=12, heads=12, patch=14, grid=37):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, d))
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(depth)])
        self.grid = grid

    def forward(self, img):
        x = self.patch_embed(img)
        B, D, hp, wp = x.shape
        x = torch.cat([self.cls_token.expand(B, -1, -1), x.flatten(2).transpose(1, 2)], 1)
        pe = self.pos_embed[:, 1:].reshape(1, self.grid, self.grid, D).permute(0, 3, 1, 2)
        pe = F.interpolate(pe, scale_factor=((hp + 0.1) / self.grid, (wp + 0.1) / self.grid), mode="bicubic")
        x = x + torch.cat([self.pos_embed[:, :1], pe.flatten(2).transpose(1, 2)], 1)
        for b in self.blocks:
            x = b(x)
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=840)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = ViT().eval()
    img = torch.randn(1, 3, a.size, a.size)
    best, best_cpu, rss, first = timed(lambda: m(img), a.runs)
    print(f"torch {torch.__version__} threads {a.threads}: forward {best:.2f} s  cpu {best_cpu:.2f} s  peak RSS {rss:.0f} MiB")
    print(f"  first call: {first[0]:.2f} s wall, {first[1]:.2f} s CPU (forward above: best of the {a.runs} after it)")


if __name__ == "__main__":
    main()
