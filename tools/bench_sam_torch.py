#!/usr/bin/python3
"""PyTorch side of bench/bench_sam.sh: upstream segment_anything's ImageEncoderViT (the code itself,
from a checkout given by --sam-repo, never copied here) built as build_sam_vit_{b,h} builds it, on a
1024x1024 input, timed like geocorr's bench_sam. Speed does not depend on the weight values, so the
default init is used. Only torch is needed: the package's __init__ (which imports torchvision for the
predictor) is bypassed and segment_anything.modeling is imported directly.
Run with Debian's /usr/bin/python3 (torch 1.13).
Usage: bench_sam_torch.py --sam-repo PATH [--model b|h] [--threads N] [--runs 1]"""
import argparse
import importlib
import os
import resource
import sys
import types
from functools import partial

import torch

from bench_timing import timed


def image_encoder_class(repo):
    pkg = types.ModuleType("segment_anything")
    pkg.__path__ = [os.path.join(repo, "segment_anything")]
    sys.modules["segment_anything"] = pkg
    return importlib.import_module("segment_anything.modeling.image_encoder").ImageEncoderViT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam-repo", required=True, help="a checkout of facebookresearch/segment-anything")
    ap.add_argument("--model", choices=["b", "h"], default="b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # build_sam.py: _build_sam(encoder_embed_dim, encoder_depth, encoder_num_heads, encoder_global_attn_indexes)
    dim, depth, heads, glob = (768, 12, 12, [2, 5, 8, 11]) if a.model == "b" else (1280, 32, 16, [7, 15, 23, 31])
    Enc = image_encoder_class(a.sam_repo)
    m = Enc(depth=depth, embed_dim=dim, img_size=1024, mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=heads, patch_size=16, qkv_bias=True, use_rel_pos=True, global_attn_indexes=glob,
            window_size=14, out_chans=256).eval()
    rss_weights = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    img = torch.randn(1, 3, 1024, 1024)
    best, best_cpu, rss, first = timed(lambda: m(img), a.runs)
    print(f"torch {torch.__version__} threads {a.threads}: segment_anything ImageEncoderViT-{a.model.upper()} 1024x1024 "
          f"forward {best:.2f} s  cpu {best_cpu:.2f} s  peak RSS {rss:.0f} MiB (after building the model {rss_weights:.0f} MiB)")
    print(f"  first call: {first[0]:.2f} s wall, {first[1]:.2f} s CPU (forward above: best of the {a.runs} after it)")


if __name__ == "__main__":
    main()
