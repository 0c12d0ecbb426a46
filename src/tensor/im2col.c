#include "tensor/im2col.h"

#include <string.h>

void gc_im2col(float *col, const float *x, int64_t C, int64_t H, int64_t W, int64_t k) {
    const int64_t p = k / 2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < C * k * k; r++) {
        const int64_t c = r / (k * k), ky = (r / k) % k, kx = r % k;
        float *dst = col + r * H * W;
        for (int64_t y = 0; y < H; y++) {
            const int64_t sy = y + ky - p;
            float *d = dst + y * W;
            if (sy < 0 || sy >= H) {
                memset(d, 0, (size_t)W * sizeof(float));
                continue;
            }
            const float *s = x + (c * H + sy) * W;
            for (int64_t xx = 0; xx < W; xx++) {
                const int64_t sx = xx + kx - p;
                d[xx] = (sx >= 0 && sx < W) ? s[sx] : 0.0f;
            }
        }
    }
}

void gc_col2im(float *dx, const float *col, int64_t C, int64_t H, int64_t W, int64_t k) {
    const int64_t p = k / 2;
    /* one thread per input channel, taps in a fixed order: the sums do not depend on threads */
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        float *d = dx + c * H * W;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t t = 0; t < k * k; t++) {
            const int64_t ky = t / k, kx = t % k;
            const float *src = col + (c * k * k + t) * H * W;
            for (int64_t y = 0; y < H; y++) {
                const int64_t sy = y + ky - p;
                if (sy < 0 || sy >= H) continue;
                for (int64_t xx = 0; xx < W; xx++) {
                    const int64_t sx = xx + kx - p;
                    if (sx >= 0 && sx < W) d[sy * W + sx] += src[y * W + xx];
                }
            }
        }
    }
}
