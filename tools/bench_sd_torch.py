#!/usr/bin/python3
"""PyTorch side of bench/bench_sd.sh: an SD-1.5-shaped UNet (CompVis openaimodel structure, LDM
CrossAttention as einsum + softmax, no xformers) run up to output block 7 with GeoAware's FreeU on
a 64x64 latent, and the SD-1.5 VAE encoder on a 512x512 image; random weights (timing only).
Prints "torch <stage> <seconds>" per stage (best of two calls after a first one, whose time is
<stage>_first: geocorr's bench_sd protocol) and the peak RSS. Use Debian's torch:
/usr/bin/python3 tools/bench_sd_torch.py [threads]"""
import math, resource, sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_timing import timed


class Res(nn.Module):
    def __init__(s, cin, cout, emb, eps):
        super().__init__()
        s.n1, s.c1 = nn.GroupNorm(32, cin, eps), nn.Conv2d(cin, cout, 3, padding=1)
        s.e = nn.Linear(emb, cout) if emb else None
        s.n2, s.c2 = nn.GroupNorm(32, cout, eps), nn.Conv2d(cout, cout, 3, padding=1)
        s.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(s, x, emb=None):
        h = s.c1(F.silu(s.n1(x)))
        if s.e is not None:
            h = h + s.e(F.silu(emb))[:, :, None, None]
        return s.skip(x) + s.c2(F.silu(s.n2(h)))


class Attn(nn.Module):
    def __init__(s, c, ctx, heads):
        super().__init__()
        s.h, s.scale = heads, (c // heads) ** -0.5
        s.q, s.k, s.v = nn.Linear(c, c, bias=False), nn.Linear(ctx, c, bias=False), nn.Linear(ctx, c, bias=False)
        s.o = nn.Linear(c, c)

    def forward(s, x, ctx=None):
        ctx = x if ctx is None else ctx
        b, n, c = x.shape
        q, k, v = (t.reshape(b, -1, s.h, c // s.h).permute(0, 2, 1, 3).reshape(b * s.h, -1, c // s.h)
                   for t in (s.q(x), s.k(ctx), s.v(ctx)))
        sim = torch.einsum("b i d, b j d -> b i j", q, k) * s.scale
        out = torch.einsum("b i j, b j d -> b i d", sim.softmax(dim=-1), v)
        return s.o(out.reshape(b, s.h, n, c // s.h).permute(0, 2, 1, 3).reshape(b, n, c))


class ST(nn.Module):
    def __init__(s, c, ctx, heads):
        super().__init__()
        s.norm, s.pin, s.pout = nn.GroupNorm(32, c, 1e-6), nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        s.l1, s.l2, s.l3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        s.a1, s.a2 = Attn(c, c, heads), Attn(c, ctx, heads)
        s.f1, s.f2 = nn.Linear(c, 8 * c), nn.Linear(4 * c, c)

    def forward(s, x, ctx):
        b, c, h, w = x.shape
        t = s.pin(s.norm(x)).flatten(2).transpose(1, 2)
        t = t + s.a1(s.l1(t))
        t = t + s.a2(s.l2(t), ctx)
        a, g = s.f1(s.l3(t)).chunk(2, dim=-1)
        t = t + s.f2(a * F.gelu(g))
        return s.pout(t.transpose(1, 2).reshape(b, c, h, w)) + x


class Block(nn.Module):
    def __init__(s, layers):
        super().__init__()
        s.layers = nn.ModuleList(layers)

    def forward(s, x, emb, ctx):
        for l in s.layers:
            x = l(x, emb) if isinstance(l, Res) else l(x, ctx) if isinstance(l, ST) else l(x)
        return x


class Up(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(s, x):
        return s.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def fourier(x, scale):
    X = torch.fft.fftshift(torch.fft.fftn(x, dim=(-2, -1)), dim=(-2, -1))
    B, C, H, W = X.shape
    mask = torch.ones((B, C, H, W))
    mask[..., H // 2 - 1:H // 2 + 1, W // 2 - 1:W // 2 + 1] = scale
    return torch.fft.ifftn(torch.fft.ifftshift(X * mask, dim=(-2, -1)), dim=(-2, -1)).real


class UNet(nn.Module):
    def __init__(s, mc=320, mult=(1, 2, 4, 4), ctx=768, heads=8):
        super().__init__()
        s.mc, E = mc, 4 * mc
        s.temb = nn.Sequential(nn.Linear(mc, E), nn.SiLU(), nn.Linear(E, E))
        s.inp, chans, ch = nn.ModuleList([Block([nn.Conv2d(4, mc, 3, padding=1)])]), [mc], mc
        for l, m in enumerate(mult):
            for _ in range(2):
                s.inp.append(Block([Res(ch, mc * m, E, 1e-5)] + ([ST(mc * m, ctx, heads)] if l < 3 else [])))
                ch = mc * m
                chans.append(ch)
            if l < 3:
                s.inp.append(Block([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                chans.append(ch)
        s.mid = Block([Res(ch, ch, E, 1e-5), ST(ch, ctx, heads), Res(ch, ch, E, 1e-5)])
        s.out = nn.ModuleList()
        for l in reversed(range(4)):
            for j in range(3):
                layers = [Res(ch + chans.pop(), mc * mult[l], E, 1e-5)]
                ch = mc * mult[l]
                if l < 3:
                    layers.append(ST(ch, ctx, heads))
                if l > 0 and j == 2:
                    layers.append(Up(ch))
                s.out.append(Block(layers))

    def forward(s, z, t, ctx, last=7):
        half = s.mc // 2
        f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        a = torch.tensor([float(t)])[:, None] * f[None]
        emb = s.temb(torch.cat([torch.cos(a), torch.sin(a)], dim=-1))
        hs, h = [], z
        for b in s.inp:
            h = b(h, emb, ctx)
            hs.append(h)
        h, feats = s.mid(h, emb, ctx), {}
        for k, b in enumerate(s.out):
            if k in (2, 5, 8, 11):
                feats[k] = h
            skip = hs.pop()
            if h.shape[1] == 4 * s.mc:
                h[:, :2 * s.mc] *= 1.2
                skip = fourier(skip, 0.9)
            elif h.shape[1] == 2 * s.mc:
                h[:, :s.mc] *= 1.4
                skip = fourier(skip, 0.2)
            if k > last:
                break
            h = b(torch.cat([h, skip], dim=1), emb, ctx)
        return feats


class VAEEncoder(nn.Module):
    def __init__(s, ch=128, mult=(1, 2, 4, 4)):
        super().__init__()
        s.cin, layers, c = nn.Conv2d(3, ch, 3, padding=1), [], ch
        for l, m in enumerate(mult):
            for _ in range(2):
                layers.append(Res(c, ch * m, 0, 1e-6))
                c = ch * m
            if l < 3:
                layers.append(nn.Conv2d(c, c, 3, stride=2))
        s.layers = nn.ModuleList(layers)
        s.m1, s.m2 = Res(c, c, 0, 1e-6), Res(c, c, 0, 1e-6)
        s.an = nn.GroupNorm(32, c, 1e-6)
        s.q, s.k, s.v, s.p = (nn.Conv2d(c, c, 1) for _ in range(4))
        s.nout, s.cout, s.quant = nn.GroupNorm(32, c, 1e-6), nn.Conv2d(c, 8, 3, padding=1), nn.Conv2d(8, 8, 1)

    def forward(s, x):
        h = s.cin(x)
        for l in s.layers:
            h = l(F.pad(h, (0, 1, 0, 1))) if isinstance(l, nn.Conv2d) else l(h)
        h = s.m1(h)
        b, c, hh, ww = h.shape
        n = s.an(h)
        q, k, v = (m(n).reshape(b, c, hh * ww) for m in (s.q, s.k, s.v))
        w_ = torch.bmm(q.permute(0, 2, 1), k) * (int(c) ** (-0.5))
        h = h + s.p(torch.bmm(v, w_.softmax(dim=2).permute(0, 2, 1)).reshape(b, c, hh, ww))
        h = s.m2(h)
        return 0.18215 * s.quant(s.cout(F.silu(s.nout(h))))[:, :4]


def report(name, t):
    """The keys of geocorr's bench_sd: best of the calls after the first, and the first call."""
    best, best_cpu, _, first = t
    print("torch %s %.3f\ntorch %s_cpu %.3f\ntorch %s_first %.3f\ntorch %s_first_cpu %.3f"
          % (name, best, name, best_cpu, name, first[0], name, first[1]), flush=True)


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    vae = VAEEncoder().eval()
    img = torch.rand(1, 3, 512, 512) * 2 - 1
    report("vae_encoder_512", timed(lambda: vae(img), 2))
    del vae
    unet = UNet().eval()
    ctx = torch.randn(1, 77, 768)
    z = torch.randn(1, 4, 64, 64)
    report("unet_to_block7_64", timed(lambda: unet(z, 50, ctx, last=7), 2))
    print("torch params %d" % sum(p.numel() for p in unet.parameters()))
    print("torch peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
