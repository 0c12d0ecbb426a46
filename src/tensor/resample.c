/* STOPGAP for the match branch until the dino branch's tensor commit lands on main: bilinear only,
 * same semantics as resample.h. On merge, take the dino version. */
#include "tensor/resample.h"

/* PyTorch area_pixel_compute_source_index (align_corners=False, cubic=False) and its neighbours. */
static void lin_coeffs(int64_t o, int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *l1) {
    float scale = (float)in / (float)out;
    float src = scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    int64_t i = (int64_t)src;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *l1 = src - (float)i;
}

void gc_resize_bilinear(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                        int64_t Wo) {
    for (int64_t y = 0; y < Ho; y++) {
        int64_t y0, y1;
        float ly;
        lin_coeffs(y, H, Ho, &y0, &y1, &ly);
        for (int64_t x = 0; x < Wo; x++) {
            int64_t x0, x1;
            float lx;
            lin_coeffs(x, W, Wo, &x0, &x1, &lx);
            for (int64_t c = 0; c < C; c++) {
                const float *p = in + c * H * W;
                out[(c * Ho + y) * Wo + x] = (1 - ly) * ((1 - lx) * p[y0 * W + x0] + lx * p[y0 * W + x1]) +
                                             ly * ((1 - lx) * p[y1 * W + x0] + lx * p[y1 * W + x1]);
            }
        }
    }
}
