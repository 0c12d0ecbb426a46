#!/usr/bin/python3
"""Held-out parity check of `geocorr trace sam` against upstream segment_anything (a checkout given by
--sam-repo, imported in place, never copied) in PyTorch 1.13, on SAM configurations the fixtures do
not cover: random sizes, heads, window sizes (with padding), global blocks, decoder depth / heads and
a seeded random init of EVERY parameter (rel_pos and pos_embed included). The weights are saved with
torch.save(state_dict) (the official .pth layout) plus a config.json; each case runs the trace and
upstream's modules on the same resized image (the trace's `resized_u8`, whose Pillow-exactness the
fixture tests check; torchvision/PIL are not needed here) and compares every tensor by
max|diff| / max|ref| (masks: outside the 1e-3 tie band). Exit status 1 if any exceeds --tol.
Run with Debian's /usr/bin/python3 (torch 1.13, numpy).
Usage: sam_check_torch.py --sam-repo PATH --geocorr build/geocorr [--seed 7] [--tol 1e-4]"""
import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import types
from functools import partial

import numpy as np
import torch

DT = {"F32": np.float32, "F64": np.float64, "U8": np.uint8, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], DT[v["dtype"]]).reshape(v["shape"])
            for k, v in h.items() if k != "__metadata__"}


def st_write(path, tensors):
    names = {np.float32: "F32", np.uint8: "U8", np.int32: "I32"}
    h, off, blobs = {}, 0, []
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        b = a.tobytes()
        h[k] = {"dtype": names[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(h).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def modeling(repo):
    pkg = types.ModuleType("segment_anything")
    pkg.__path__ = [os.path.join(repo, "segment_anything")]
    sys.modules["segment_anything"] = pkg
    return importlib.import_module("segment_anything.modeling")


def build(M, c, seed):
    ie, pe, md = c["image_encoder"], c["prompt_encoder"], c["mask_decoder"]
    t = md["transformer"]
    sam = M.Sam(
        image_encoder=M.ImageEncoderViT(
            depth=ie["depth"], embed_dim=ie["embed_dim"], img_size=ie["img_size"], mlp_ratio=ie["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=ie["num_heads"], patch_size=16,
            qkv_bias=True, use_rel_pos=True, global_attn_indexes=ie["global_attn_indexes"],
            window_size=ie["window_size"], out_chans=ie["out_chans"]),
        prompt_encoder=M.PromptEncoder(embed_dim=pe["embed_dim"], image_embedding_size=tuple(pe["image_embedding_size"]),
                                       input_image_size=tuple(pe["input_image_size"]), mask_in_chans=16),
        mask_decoder=M.MaskDecoder(
            num_multimask_outputs=3,
            transformer=M.TwoWayTransformer(depth=t["depth"], embedding_dim=t["embedding_dim"], mlp_dim=t["mlp_dim"],
                                            num_heads=t["num_heads"]),
            transformer_dim=md["transformer_dim"], iou_head_depth=3, iou_head_hidden_dim=md["iou_head_hidden_dim"]),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()
    g = torch.Generator().manual_seed(seed)
    u = lambda p, off, sc: p.copy_(off + sc * (2 * torch.rand(p.shape, generator=g) - 1))
    norms = {f"{n}.weight" for n, m in sam.named_modules() if isinstance(m, (torch.nn.LayerNorm, M.common.LayerNorm2d))}
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if name in norms:
                u(p, 1.0, 0.2)                      # LayerNorm weights 1 +- 0.2
            elif "rel_pos" in name:
                u(p, 0.0, (3.0 / p.shape[1]) ** 0.5)   # relative position tables: sqrt(3 / head dim)
            elif p.dim() == 1:
                u(p, 0.0, 0.1)                      # biases
            elif "weight" in name.split(".")[-1] and "embed" not in name and "token" not in name:
                u(p, 0.0, (3.0 / p[0].numel()) ** 0.5)  # Linear / Conv: sqrt(3 / fan_in)
            else:
                u(p, 0.0, 1.0)                      # pos_embed, point / mask / iou embeddings
        u(sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix, 0.0, 3 ** 0.5)
    return sam


def upstream(sam, resized_u8, hw, prompt, multimask):
    """SamPredictor.set_torch_image + predict_torch on an already resized image (transform included)."""
    h, w = hw
    x = torch.as_tensor(resized_u8.copy()).permute(2, 0, 1).contiguous()[None]
    out = {}
    hooks = [sam.image_encoder.patch_embed.register_forward_hook(lambda m, i, o: out.__setitem__("patch_embed", o))]
    for k, b in enumerate(sam.image_encoder.blocks):
        hooks.append(b.register_forward_hook(lambda m, i, o, k=k: out.__setitem__(f"block{k}", o)))
    with torch.no_grad():
        inp = sam.preprocess(x)
        out["input_image"] = inp
        emb = sam.image_encoder(inp)
        out["image_embeddings"] = emb
        newh, neww = resized_u8.shape[:2]
        coords = labels = box = None
        if "box" in prompt:
            b = prompt["box"].astype(float).reshape(-1, 2, 2).copy()
            b[..., 0] *= neww / w
            b[..., 1] *= newh / h
            box = torch.as_tensor(b.reshape(-1, 4), dtype=torch.float)
        if "point_coords" in prompt:
            c = prompt["point_coords"].astype(float).copy()
            c[..., 0] *= neww / w
            c[..., 1] *= newh / h
            coords = torch.as_tensor(c, dtype=torch.float)[None]
            labels = torch.as_tensor(prompt["point_labels"], dtype=torch.int)[None]
        sparse, dense = sam.prompt_encoder(points=(coords, labels) if coords is not None else None, boxes=box, masks=None)
        out["sparse_embeddings"], out["dense_embeddings"] = sparse, dense
        out["dense_pe"] = sam.prompt_encoder.get_dense_pe()
        low, iou = sam.mask_decoder(image_embeddings=emb, image_pe=out["dense_pe"], sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=multimask)
        out["low_res_masks"], out["iou_predictions"] = low, iou
        out["masks_logits"] = sam.postprocess_masks(low, (newh, neww), (h, w))
    for hk in hooks:
        hk.remove()
    return {k: v.detach().numpy() for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sam-repo", required=True)
    ap.add_argument("--geocorr", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_num_threads(2)
    M = modeling(a.sam_repo)
    # held-out sizes: 320 input (g 20, window 6 -> padded to 24), 3 heads of 32, globals 1 and 4,
    # decoder 3 layers x 4 heads, embedding width 48
    cfg = {"image_encoder": {"img_size": 320, "patch_size": 16, "embed_dim": 96, "depth": 5, "num_heads": 3,
                             "mlp_ratio": 2.5, "out_chans": 48, "window_size": 6, "global_attn_indexes": [1, 4]},
           "prompt_encoder": {"embed_dim": 48, "image_embedding_size": [20, 20], "input_image_size": [320, 320]},
           "mask_decoder": {"transformer_dim": 48, "iou_head_hidden_dim": 40,
                            "transformer": {"depth": 3, "embedding_dim": 48, "num_heads": 4, "mlp_dim": 80}}}
    sam = build(M, cfg, a.seed)
    rng = np.random.default_rng(a.seed)
    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(f"{d}/w")
        torch.save(sam.state_dict(), f"{d}/w/sam_vit_x.pth")
        json.dump(cfg, open(f"{d}/w/config.json", "w"))
        cases = [("shrunk_box_multimask", (400, 530), {"box": np.array([40, 30, 350, 380], np.float32)}, 1),
                 ("enlarged_points_multimask", (150, 230), {"point_coords": np.array([[100, 70], [20, 140]], np.float32),
                                                            "point_labels": np.array([1, 0], np.int32)}, 1),
                 ("portrait_box_points", (300, 170), {"box": np.array([10.5, 20.25, 160, 280], np.float32),
                                                      "point_coords": np.array([[80, 150]], np.float32),
                                                      "point_labels": np.array([1], np.int32)}, 0)]
        for name, (h, w), prompt, mm in cases:
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            img = (img.astype(np.float32) * 0.3 + np.linspace(0, 170, w, dtype=np.float32)[None, :, None]).astype(np.uint8)
            inp = dict(prompt, image_u8=img, multimask=np.array(mm, np.uint8))
            st_write(f"{d}/in.safetensors", inp)
            r = subprocess.run([a.geocorr, "trace", "sam", "--weights", f"{d}/w", "--inputs", f"{d}/in.safetensors",
                                "--out", f"{d}/out.safetensors"], capture_output=True, text=True)
            if r.returncode:
                print(name, "trace failed:", r.stderr)
                return 1
            got = st_read(f"{d}/out.safetensors")
            ref = upstream(sam, got["resized_u8"], (h, w), prompt, bool(mm))
            print(f"{name}: image {h}x{w} -> {got['resized_u8'].shape[:2]}, multimask {mm}")
            for k, v in ref.items():
                e = float(np.abs(got[k].reshape(v.shape) - v).max() / max(np.abs(v).max(), 1e-30))
                worst = max(worst, e)
                print(f"  {k:20s} rel {e:.2e}")
            L = ref["masks_logits"].reshape(got["masks"].shape)
            tie = np.abs(L) < 1e-3 * np.abs(L).max()
            bad = int(((got["masks"] != (L > 0)) & ~tie).sum())
            print(f"  {'masks':20s} {bad} pixels differ outside the tie band")
            worst = max(worst, float(bad))
    print(f"worst {worst:.2e} (tolerance {a.tol})")
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
