#!/usr/bin/env python3
"""Pillow timings of what bench/bench_preprocess.c times: decode (Image.open(p).convert('RGB')) and the
reference resize(img, S) (LANCZOS + centred zero padding), median of 9 runs, milliseconds.
Usage: bench_preprocess_pillow.py FIXTURES_DIR  (needs Pillow and numpy, e.g. Debian python3-pil)."""
import sys
import time

import numpy as np
from PIL import Image

RUNS = 9


def median_ms(f):
    t = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return 1e3 * sorted(t)[RUNS // 2]


def resize(img, S):  # utils_correspondence.resize(img, S, resize=True, to_pil=True), edge=False
    W, H = img.size
    canvas = np.zeros([S, S, 3], dtype=np.uint8)
    if H <= W:
        im = np.asarray(img.resize((S, int(np.around(S * H / W))), Image.Resampling.LANCZOS))
        canvas[(S - im.shape[0]) // 2:(S + im.shape[0]) // 2] = im
    else:
        im = np.asarray(img.resize((int(np.around(S * W / H)), S), Image.Resampling.LANCZOS))
        canvas[:, (S - im.shape[1]) // 2:(S + im.shape[1]) // 2] = im
    return Image.fromarray(canvas)


def main():
    fx = sys.argv[1]
    print(f"Pillow {Image.__version__} (median of {RUNS} runs)")
    for name in ["antelope.jpg", "unicorn.jpg"]:
        path = f"{fx}/images/{name}"
        img = Image.open(path).convert("RGB")
        print(f"{name:14s} {img.size[0]}x{img.size[1]}  decode            "
              f"{median_ms(lambda: Image.open(path).convert('RGB')):8.2f} ms")
        for S in (840, 960):
            print(f"{name:14s} {img.size[0]}x{img.size[1]}  canvas {S}         {median_ms(lambda: resize(img, S)):8.2f} ms")


if __name__ == "__main__":
    main()
