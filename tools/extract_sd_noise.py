#!/usr/bin/env python3
"""Extract ODISE's shared seed-42 noise from the fixtures' sd_schedule.safetensors into geocorr's
data file data/sd_noise_seed42.safetensors (same key, raw bytes copied; no torch needed).
The tensor is torch.randn(1,4,64,64, generator=torch.Generator().manual_seed(42)) -- a PyTorch CPU
RNG output that geocorr ships instead of porting torch's mt19937 + Box-Muller sampler."""
import json, struct, sys

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/fixtures/sd_schedule.safetensors"
dst = sys.argv[2] if len(sys.argv) > 2 else "data/sd_noise_seed42.safetensors"
key = "odise.shared_noise_seed42"
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    hdr = json.loads(f.read(n))
    base = 8 + n
    e = hdr[key]
    assert e["dtype"] == "F32" and e["shape"] == [1, 4, 64, 64]
    f.seek(base + e["data_offsets"][0])
    data = f.read(e["data_offsets"][1] - e["data_offsets"][0])
meta = {"source": "torch.randn(1,4,64,64, generator=torch.Generator().manual_seed(42)), torch CPU",
        "extracted_from": "sd_schedule.safetensors (" + key + ")"}
h = json.dumps({"__metadata__": meta, key: {"dtype": "F32", "shape": [1, 4, 64, 64],
                                            "data_offsets": [0, len(data)]}}).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
print("wrote", dst, len(data), "bytes of noise")
