#include "tensor/im2col.h"

#include <string.h>

#include "base/base.h"

GC_CLONES static void im2col_band_v(float *col, int64_t ldc, const float *x, int64_t C, int64_t H, int64_t W, int64_t k,
                                    int64_t stride, gc_pad2d pad, int64_t Wo, int64_t r0, int64_t r1) {
    const int64_t n = (r1 - r0) * Wo, rows = C * k * k;
    /* a pure copy: threads split the rows, so the bytes never depend on them. Inside gc_conv2d's
     * parallel bands this region is nested and runs on the calling thread. */
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t row = 0; row < rows; row++) {
        const int64_t c = row / (k * k), ky = (row / k) % k, kx = row % k;
        const float *xc = x + c * H * W;
        float *dst = col + row * ldc;
        for (int64_t r = r0; r < r1; r++) {
            const int64_t iy = r * stride - pad.top + ky;
            float *d = dst + (r - r0) * Wo;
            if (iy < 0 || iy >= H) {
                memset(d, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            const float *xr = xc + iy * W;
            if (stride == 1) { /* the common case gets the simpler index (vectorises) */
                for (int64_t ox = 0; ox < Wo; ox++) {
                    const int64_t ix = ox - pad.left + kx;
                    d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
                }
            } else {
                for (int64_t ox = 0; ox < Wo; ox++) {
                    const int64_t ix = ox * stride - pad.left + kx;
                    d[ox] = (ix >= 0 && ix < W) ? xr[ix] : 0.0f;
                }
            }
        }
    }
}

void gc_im2col_band(float *col, int64_t ldc, const float *x, int64_t C, int64_t H, int64_t W, int64_t k,
                    int64_t stride, gc_pad2d pad, int64_t Wo, int64_t r0, int64_t r1) {
    im2col_band_v(col, ldc, x, C, H, W, k, stride, pad, Wo, r0, r1);
}

void gc_im2col(float *col, const float *x, int64_t C, int64_t H, int64_t W, int64_t k) {
    const int64_t p = k / 2;
    gc_im2col_band(col, H * W, x, C, H, W, k, 1, (gc_pad2d){p, p, p, p}, W, 0, H);
}

void gc_patchify(float *out, const float *img, int64_t C, int64_t H, int64_t W, int64_t p) {
    const int64_t Wp = W / p, N = (H / p) * Wp, K = C * p * p;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const int64_t py = n / Wp, px = n % Wp;
        for (int64_t c = 0; c < C; c++)
            for (int64_t ky = 0; ky < p; ky++)
                memcpy(out + n * K + (c * p + ky) * p, img + (c * H + py * p + ky) * W + px * p,
                       (size_t)p * sizeof(float));
    }
}

GC_CLONES static void col2im_v(float *dx, const float *col, int64_t C, int64_t H, int64_t W, int64_t k) {
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

void gc_col2im(float *dx, const float *col, int64_t C, int64_t H, int64_t W, int64_t k) {
    col2im_v(dx, col, C, H, W, k);
}
