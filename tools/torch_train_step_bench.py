#!/usr/bin/python3
"""PyTorch side of bench/bench_train_step.sh: one GeoAware-SC training step as the reference computes
it (pck_train.train -> utils_losses.calculate_loss), re-stated with the reference's modules' math:
AggregationNetwork (4 bottleneck blocks, GroupNorm 32, softmaxed mixing weights) on four 3968x60x60
maps in train mode without dropout, per-token normalisation, CLIP loss + Correlation2Displacement
soft-argmax EPE on the full 3600x3600 correlation (as the reference), double and self flip terms,
backward, AdamW. Random values (speed does not depend on them). Run with Debian's /usr/bin/python3
(torch 1.13). Usage: torch_train_step_bench.py [--threads N] [--runs R]"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, cout):
        super().__init__()
        def cgn(i, o, k):
            return nn.ModuleDict({"conv": nn.Conv2d(i, o, k, padding=k // 2, bias=False), "norm": nn.GroupNorm(32, o)})
        self.conv1, self.conv2, self.conv3 = cgn(cin, mid, 1), cgn(mid, mid, 3), cgn(mid, cout, 1)
        self.shortcut = cgn(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = F.relu(self.conv1["norm"](self.conv1["conv"](x)))
        h = F.relu(self.conv2["norm"](self.conv2["conv"](h)))
        h = self.conv3["norm"](self.conv3["conv"](h))
        s = self.shortcut["norm"](self.shortcut["conv"](x)) if self.shortcut is not None else x
        return F.relu(h + s)


class Aggregation(nn.Module):
    def __init__(self, dims=(640, 1280, 1280, 768), proj=768):
        super().__init__()
        self.dims = dims
        self.blocks = nn.ModuleList([Bottleneck(d, proj // 4, proj) for d in dims])
        self.mixing_weights = nn.Parameter(torch.ones(len(dims)))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, x):
        w = F.softmax(self.mixing_weights, dim=0)
        out, start = None, 0
        for i, (b, d) in enumerate(zip(self.blocks, self.dims)):
            y = b(x[:, start:start + d]) * w[i]
            out = y if out is None else out + y
            start += d
        return out


def descriptors(net, x):
    d = net(x).flatten(2).transpose(1, 2)  # 1 x 3600 x 768
    return d / (d.norm(dim=-1, keepdim=True) + 1e-10)


def dense_loss(d1, d2, gx, gy, idx, gt):
    corr = (d1 @ d2.transpose(1, 2)).reshape(3600, 3600)
    m, _ = corr.max(dim=1, keepdim=True)
    p = torch.exp((corr - m) / 0.02)
    p = p / p.sum(dim=1, keepdim=True)
    p = p.reshape(3600, 60, 60)
    ex = (p.sum(dim=1) * gx).sum(dim=1)
    ey = (p.sum(dim=2) * gy).sum(dim=1)
    cells = torch.arange(3600)
    flow = torch.stack([(ex + 1) * 59 / 2 - (cells % 60), (ey + 1) * 59 / 2 - (cells // 60)], dim=-1)
    return torch.norm(flow[idx] - gt, dim=-1).mean()


def clip_loss(f1, f2, scale):
    logits = scale * f1 @ f2.t()
    labels = torch.arange(f1.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Aggregation()
    gx = nn.Parameter(torch.linspace(-1, 1, 60))
    gy = nn.Parameter(torch.linspace(-1, 1, 60))
    opt = torch.optim.AdamW(list(net.parameters()) + [gx, gy], lr=1.25e-3, weight_decay=1e-3)
    maps = [torch.rand(1, 3968, 60, 60) for _ in range(4)]
    idx1 = torch.randint(0, 3600, (20,))
    idx2 = torch.randint(0, 3600, (20,))
    gt = torch.randn(20, 2) * 5
    best = 1e30
    for r in range(a.runs + 1):
        t0 = time.time()
        opt.zero_grad()
        s, t, sf, tf = [descriptors(net, m) for m in maps]
        pair = clip_loss(s[0, idx1], t[0, idx2], net.logit_scale.exp()) + dense_loss(s, t, gx, gy, idx1, gt)
        loss = (pair + dense_loss(sf, tf, gx, gy, idx1, gt) + 0.25 * dense_loss(sf, s, gx, gy, idx1, gt)) / 2.25
        loss.backward()
        opt.step()
        dt = time.time() - t0
        print(f"run {r}: loss {loss.item():.4f}  {dt:.2f} s")
        if r > 0:
            best = min(best, dt)
    print(f"torch train step {best:.2f} s, {a.threads} threads (torch {torch.__version__})")


if __name__ == "__main__":
    main()
