#!/usr/bin/python3
"""PyTorch 1.13 timings of the same-shaped models the C feature pipeline runs (bench/bench_pipeline.c):
CLIP ViT-L/14-336 image tower (x4 crops), SD-1.5 text encoder on 77 tokens (once), ODISE captioner (x4),
DINOv2 ViT-B/14 at 840x840 (once). Random weights (timing only), fp32, eval, no grad, same thread count.
SD-1.5 VAE encoder / UNet need the CompVis ldm or diffusers code, which is not installed here: not timed.
Usage: bench_pipeline_torch.py [threads]"""
import sys, time, resource
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResBlock(nn.Module):  # open_clip ResidualAttentionBlock
    def __init__(self, w, heads, causal=False):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, heads)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), QuickGELU(), nn.Linear(4 * w, w))
        self.causal = causal

    def forward(self, x):  # x [T, 1, W]
        h = self.ln_1(x)
        mask = None
        if self.causal:
            T = x.shape[0]
            mask = torch.full((T, T), float("-inf")).triu_(1)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class ClipVision(nn.Module):
    def __init__(self, S=336, p=14, W=1024, L=24, E=768):
        super().__init__()
        g = S // p
        self.conv1 = nn.Conv2d(3, W, p, p, bias=False)
        self.cls = nn.Parameter(torch.randn(W))
        self.pos = nn.Parameter(torch.randn(1 + g * g, W))
        self.ln_pre, self.ln_post = nn.LayerNorm(W), nn.LayerNorm(W)
        self.blocks = nn.ModuleList([ResBlock(W, W // 64) for _ in range(L)])
        self.proj = nn.Parameter(torch.randn(W, E) / W ** 0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)[0]
        x = torch.cat([self.cls[None], x]) + self.pos
        x = self.ln_pre(x)[:, None]
        for b in self.blocks:
            x = b(x)
        return (self.ln_post(x[:, 0]) @ self.proj)[0]


class ClipText(nn.Module):
    def __init__(self, V=49408, W=768, L=12, T=77):
        super().__init__()
        self.tok = nn.Embedding(V, W)
        self.pos = nn.Parameter(torch.randn(T, W))
        self.blocks = nn.ModuleList([ResBlock(W, W // 64, causal=True) for _ in range(L)])
        self.ln = nn.LayerNorm(W)

    def forward(self, ids):
        x = (self.tok(ids) + self.pos)[:, None]
        for b in self.blocks:
            x = b(x)
        return self.ln(x[:, 0])


class DinoBlock(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc1, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
        self.g1, self.g2 = nn.Parameter(torch.rand(D)), nn.Parameter(torch.rand(D))
        self.h = heads

    def forward(self, x):  # [1, T, D]
        B, T, D = x.shape
        q, k, v = self.qkv(self.n1(x)).reshape(B, T, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        a = torch.softmax((q * (D // self.h) ** -0.5) @ k.transpose(-2, -1), -1) @ v
        x = x + self.g1 * self.proj(a.transpose(1, 2).reshape(B, T, D))
        return x + self.g2 * self.fc2(F.gelu(self.fc1(self.n2(x))))


class Dino(nn.Module):
    def __init__(self, D=768, L=12):
        super().__init__()
        self.pe = nn.Conv2d(3, D, 14, 14)
        self.cls = nn.Parameter(torch.randn(1, 1, D))
        self.pos = nn.Parameter(torch.randn(1, 1370, D))
        self.blocks = nn.ModuleList([DinoBlock(D, D // 64) for _ in range(L)])

    def forward(self, x):
        g = x.shape[-1] // 14
        t = self.pe(x).flatten(2).transpose(1, 2)
        pos = self.pos[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, scale_factor=((g + 0.1) / 37, (g + 0.1) / 37), mode="bicubic", align_corners=False)
        pos = pos.permute(0, 2, 3, 1).reshape(1, g * g, -1)
        x = torch.cat([self.cls, t], 1) + torch.cat([self.pos[:, :1], pos], 1)
        for b in self.blocks:
            x = b(x)
        return x[:, 1:]


def timed(name, fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn()
    dt = time.perf_counter() - t0
    print(f"  {name:36s} {dt:8.2f} s  ({reps} call{'s' if reps > 1 else ''})")
    return dt


with torch.no_grad():
    print(f"PyTorch {torch.__version__}, {threads} threads, fp32, random weights (same shapes as the C bench)")
    crop = torch.rand(1, 3, 512, 512)
    clip = ClipVision().eval()
    text = ClipText().eval()
    dino = Dino().eval()
    capW, capT = nn.Linear(768, 768), nn.Linear(768, 1280)
    U = torch.randn(77, 768)
    ids = torch.tensor([49406] + [49407] * 76)
    tot = 0.0
    tot += timed("text encoder (U, once)", lambda: text(ids), 1)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])[:, None, None]
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])[:, None, None]

    def clip_crop():
        x = F.interpolate(crop, size=[336, 336], mode="bicubic", align_corners=False)
        return clip((x - mean) / std)

    emb = clip_crop()
    tot += timed("CLIP image tower (4 crops)", clip_crop, 4)
    tot += timed("implicit captioner (4 crops)",
                 lambda: (U + torch.tanh(U) * (capW(emb) + U), torch.tanh(capT(emb)) * capT(emb)), 4)
    tot += timed("DINOv2 ViT-B/14 840x840", lambda: dino(torch.rand(1, 3, 840, 840)), 1)
    print(f"  {'total (stages timed)':36s} {tot:8.2f} s")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
