#!/usr/bin/python3
"""The reference's matching operations in PyTorch (CPU), timed on the shapes of bench/bench_match.c:
zero-shot descriptors (3968 channels) of source, flipped source and target; 30 points through
calculate_keypoint_transformation with SOFT_EVAL (get_flow over the full 3600x3600 similarity, window 5);
get_distance_mutual_nn; get_distance (IMD, its per-pixel loop) with masks of about the same area.
Written from REFERENCE.md §3.3-3.4, §6 (the operations as the reference performs them).
Usage: python3 tools/bench_match_torch.py [threads]"""
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
g = torch.Generator().manual_seed(0)


def maps():
    return [torch.rand((1, c, s, s), generator=g) * (2 + i) - (1 + i / 2) for i, (c, s) in
            enumerate([(640, 60), (1280, 30), (1280, 15), (768, 60)])]


def zeroshot(m):
    s3, s4, s5, dino = m
    up = lambda x: F.interpolate(x, size=(60, 60), mode='bilinear', align_corners=False)
    fused = torch.cat([s3, up(s4), up(s5), dino], dim=1).reshape(1, 3968, -1).permute(0, 2, 1)
    sd, dn = fused[..., :3200], fused[..., 3200:]
    f = torch.cat([sd / (sd.norm(dim=-1, keepdim=True) + 1e-10), dn / (dn.norm(dim=-1, keepdim=True) + 1e-10)], -1)
    return f / (f.norm(dim=-1, keepdim=True) + 1e-10)


def get_flow(corr, w=5, n=60):
    idx = corr.argmax(-1)
    off = torch.arange(-w, w + 1)
    oy, ox = torch.meshgrid(off, off, indexing='ij')
    px = (idx % n)[:, None] + ox.flatten()[None]
    py = (idx // n)[:, None] + oy.flatten()[None]
    mask = torch.zeros(corr.shape[0], n, n)
    mask[torch.arange(corr.shape[0])[:, None], py.clamp(0, n - 1), px.clamp(0, n - 1)] = 1
    c = (corr.view(-1, n, n) * mask).view(n, n, -1).permute(2, 0, 1)[None]  # (1, targets, hs, ws)
    p = torch.softmax(c / 0.02, dim=1).view(1, n, n, n, n)
    lin = torch.linspace(-1, 1, n, dtype=torch.float64).float()
    gx = (p.sum(1) * lin.view(1, n, 1, 1)).sum(1)
    gy = (p.sum(2) * lin.view(1, n, 1, 1)).sum(1)
    return gx, gy


def match(src, trg, kps):
    sim = src[0] @ trg[0].T
    gx, gy = get_flow(sim)
    cells = (kps[:, 1] * (60 / 840)).long() * 60 + (kps[:, 0] * (60 / 840)).long()
    x = ((gx.flatten()[cells] + 1) * 59 / 2).clamp(0, 59) * 14 + 7
    y = ((gy.flatten()[cells] + 1) * 59 / 2).clamp(0, 59) * 14 + 7
    return torch.stack([x, y], 1)


def mnn(a, b):
    d = torch.cdist(a, b)[0]
    n12, n21 = d.argmin(1), d.argmin(0)
    mutual = torch.zeros(len(n12), dtype=torch.bool)
    for i in range(len(n12)):
        if n21[n12[i]] == i:
            mutual[i] = True
    return d.min(1)[0][mutual].mean()


def imd(a, b, ma, mb, r=64, limit=64):
    """get_distance; the per-pixel loop runs over the first `limit` masked pixels only (the full loop
    takes ~20 minutes on 2 cores) and returns (mean of those minima, extrapolation factor)."""
    fa = F.interpolate(a[0].T.reshape(1, -1, 60, 60), size=(r, r), mode='bilinear')[0]
    fb = F.interpolate(b[0].T.reshape(1, -1, 60, 60), size=(r, r), mode='bilinear')[0]
    ra = F.interpolate(ma[None, None], size=(r, r), mode='nearest')[0, 0]
    rb = F.interpolate(mb[None, None], size=(r, r), mode='nearest')[0, 0]
    fa, fb = fa * ra, fb * rb
    fa[fa == 0] = -100000
    fb[fb == 0] = -100000
    fa, fb = fa.reshape(fa.shape[0], -1).T, fb.reshape(fb.shape[0], -1).T
    mins = []
    masked = [p for p in range(r * r) if ra[p // r, p % r] == 1]
    for p in masked[:limit]:
        d = torch.linalg.norm(fb - fa[p], dim=1)
        mins.append(d[d.argmin()].item())
    return torch.tensor(mins).mean(), len(masked) / min(limit, len(masked))


def ellipse(cx, cy, rx, ry):
    y, x = torch.meshgrid(torch.arange(960.), torch.arange(960.), indexing='ij')
    return (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1).float()


ms = [maps() for _ in range(3)]
t = time.time()
s, f, tr = (zeroshot(m) for m in ms)
t_desc = time.time() - t
kps = torch.tensor([[200. + 15 * k, 300. + 7 * (k % 9)] for k in range(30)])
t = time.time()
match(s, tr, kps)
t_match = time.time() - t
t = time.time()
match(f, tr, kps)
mnn(s, tr), mnn(f, tr)
t_mnn = t_match + time.time() - t
t = time.time()
match(f, tr, kps)
t_imd = t_match + time.time() - t
for src, cx in ((s, 420), (f, 540)):
    t = time.time()
    _, factor = imd(src, tr, ellipse(cx, 480, 300, 200), ellipse(480, 450, 250, 250))
    t_imd += (time.time() - t) * factor
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
print(f"  zero-shot descriptors (3 images):                       {1e3 * t_desc:9.1f} ms")
print(f"  match 30 points (full get_flow, w=5):                   {1e3 * t_match:9.1f} ms")
print(f"  30 points + pose alignment, MNN (get_distance_mutual_nn): {1e3 * t_mnn:9.1f} ms")
print(f"  30 points + pose alignment, IMD (get_distance loop):      {1e3 * t_imd:9.1f} ms"
      " (loop timed on 64 masked pixels, scaled to all)")
