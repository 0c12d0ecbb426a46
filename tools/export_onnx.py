#!/usr/bin/python3
"""ONNX models for bench/compare.sh: the same-shaped PyTorch models the benches time (random
weights; speed does not depend on the values), exported with Debian's torch 1.13 so that ONNX Runtime
runs exactly the shapes geocorr runs:
  dinov2_840.onnx   DINOv2 ViT-B/14 on 840x840 (tools/torch_dinov2_bench.py; the interpolated position
                    table, a constant for a fixed input size, is computed once before export)
  vae_512.onnx      SD-1.5 VAE encoder on 512x512 (tools/bench_sd_torch.py)
Usage: /usr/bin/python3 tools/export_onnx.py OUT_DIR"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sd_torch import VAEEncoder  # noqa: E402
from torch_dinov2_bench import ViT  # noqa: E402


class ViTFixed(nn.Module):
    """ViT with its position table interpolated once for a size x size input."""

    def __init__(self, vit, size):
        super().__init__()
        self.vit = vit
        g, hp = vit.grid, size // 14
        with torch.no_grad():
            pe = vit.pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
            pe = F.interpolate(pe, scale_factor=((hp + 0.1) / g, (hp + 0.1) / g), mode="bicubic")
            self.register_buffer("pos", torch.cat([vit.pos_embed[:, :1], pe.flatten(2).transpose(1, 2)], 1))

    def forward(self, img):
        v = self.vit
        x = v.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([v.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in v.blocks:
            x = b(x)
        return x


def export(model, shape, path, name):
    with torch.no_grad():
        torch.onnx.export(model.eval(), torch.randn(*shape), path, opset_version=14, input_names=[name],
                          output_names=["out"])
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB)")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    export(ViTFixed(ViT(), 840), (1, 3, 840, 840), os.path.join(out, "dinov2_840.onnx"), "pixel_values")
    export(VAEEncoder(), (1, 3, 512, 512), os.path.join(out, "vae_512.onnx"), "image")


if __name__ == "__main__":
    main()
