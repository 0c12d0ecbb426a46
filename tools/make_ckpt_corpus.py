#!/usr/bin/python3
"""Seed corpora for fuzz/fuzz_torch_zip.c and fuzz/fuzz_unpickler.c: small checkpoints written by
Debian's torch (1.13) covering the shapes the reader handles: views with offsets/strides, every
storage dtype, 0-d and empty tensors, Parameters, nested containers, protocol 4, the legacy format,
OrderedDict state dicts with _metadata, numpy / optimizer objects. The unpickler corpus holds the
raw data.pkl of each zip checkpoint plus the legacy stream, each followed by the fuzzer's selector
byte (0: zip persistent ids, 1: legacy).

usage: /usr/bin/python3 tools/make_ckpt_corpus.py [fuzz/corpus]"""
import collections, io, os, sys, zipfile

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus")
zdir, pdir = os.path.join(out, "torch_zip"), os.path.join(out, "unpickler")
os.makedirs(zdir, exist_ok=True)
os.makedirs(pdir, exist_ok=True)
torch.manual_seed(0)

big = torch.arange(24, dtype=torch.float32).reshape(4, 6)
lin = torch.nn.Linear(3, 2)
opt = torch.optim.AdamW(lin.parameters(), lr=1e-3)
lin(torch.ones(1, 3)).sum().backward()
opt.step()

objects = {
    "views": {"a": big, "b": big[:, 1::2], "c": big.t(), "d": big[1:3], "e": big[0:1].expand(3, 6), "again": big},
    "dtypes": collections.OrderedDict(
        [(str(dt).split(".")[1], torch.arange(4).to(dt)) for dt in
         (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool)]),
    "scalars_empty": {"s": torch.tensor(2.5), "i": torch.tensor(-7), "e0": torch.zeros(0), "e30": torch.zeros(3, 0),
                      "p": torch.nn.Parameter(torch.ones(2))},
    "state_dict": lin.state_dict(),
    "nested": {"model": lin.state_dict(), "opt": opt.state_dict(), "step": 3, "lr": [1e-3, 2.5], "name": "x",
               7: None, True: (1, 2), "np": np.float64(0.5), "arr": np.arange(3)},
    "single": torch.ones(3),
}
for name, obj in objects.items():
    path = os.path.join(zdir, name + ".pth")
    torch.save(obj, path)
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        open(os.path.join(pdir, name + ".pkl"), "wb").write(z.read(pkl) + b"\0")
buf = io.BytesIO()
torch.save(objects["views"], buf, pickle_protocol=4)
open(os.path.join(zdir, "proto4.pth"), "wb").write(buf.getvalue())
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    open(os.path.join(pdir, "proto4.pkl"), "wb").write(z.read("archive/data.pkl") + b"\0")
torch.save({"a": big[1:], "h": torch.ones(2, dtype=torch.float16)}, os.path.join(zdir, "legacy.pth"),
           _use_new_zipfile_serialization=False)
open(os.path.join(pdir, "legacy.pkl"), "wb").write(open(os.path.join(zdir, "legacy.pth"), "rb").read() + b"\1")
print("wrote", len(os.listdir(zdir)), "checkpoints to", zdir, "and", len(os.listdir(pdir)), "pickles to", pdir)
