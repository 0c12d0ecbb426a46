#include <string.h>

#include "pipeline/stitch.h"

int gc_slide_corners(int64_t full, int64_t crop, int64_t stride, int64_t yx[][2]) {
    int64_t c = GC_MIN(crop, full);
    int64_t grids = GC_MAX(full - c + stride - 1, 0) / stride + 1;
    int n = 0;
    for (int64_t i = 0; i < grids; i++)
        for (int64_t j = 0; j < grids && n < GC_SLIDE_MAX_CROPS; j++, n++) {
            int64_t y2 = GC_MIN(i * stride + c, full), x2 = GC_MIN(j * stride + c, full);
            yx[n][0] = GC_MAX(y2 - c, 0);
            yx[n][1] = GC_MAX(x2 - c, 0);
        }
    return n;
}

gc_status gc_stitch_init(gc_stitch *st, int64_t C, int64_t full_px, int64_t cell) {
    *st = (gc_stitch){.C = C, .cell = cell, .g = cell > 0 ? full_px / cell : 0};
    if (C < 1 || cell < 1 || full_px % cell)
        return gc_errorf(GC_ERR_ARG, "stitch: %lld px canvas is not a whole number of %lld px cells",
                         (long long)full_px, (long long)cell);
    st->sum = gc_calloc((size_t)(C * st->g * st->g), sizeof(float));
    st->count = gc_calloc((size_t)(st->g * st->g), sizeof(float));
    if (!st->sum || !st->count) {
        gc_stitch_free(st);
        return GC_ERR_NOMEM;
    }
    return GC_OK;
}

void gc_stitch_free(gc_stitch *st) {
    gc_free(st->sum);
    gc_free(st->count);
    st->sum = st->count = NULL;
}

gc_status gc_stitch_add(gc_stitch *st, const float *map, int64_t n, int64_t y_px, int64_t x_px) {
    int64_t g = st->g, y0 = y_px / st->cell, x0 = x_px / st->cell;
    if (y_px < 0 || x_px < 0 || y0 + n > g || x0 + n > g)
        return gc_errorf(GC_ERR_ARG, "stitch: a %lld-cell crop map at pixel (%lld, %lld) leaves the %lld-cell grid",
                         (long long)n, (long long)y_px, (long long)x_px, (long long)g);
    for (int64_t c = 0; c < st->C; c++)
        for (int64_t i = 0; i < n; i++) {
            float *dst = st->sum + (c * g + y0 + i) * g + x0;
            const float *src = map + (c * n + i) * n;
            for (int64_t j = 0; j < n; j++) dst[j] += src[j];
        }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) st->count[(y0 + i) * g + x0 + j] += 1.0f;
    return GC_OK;
}

gc_status gc_stitch_finish(const gc_stitch *st, float *out) {
    int64_t gg = st->g * st->g;
    for (int64_t k = 0; k < gg; k++)
        if (st->count[k] == 0)
            return gc_errorf(GC_ERR_INTERNAL, "stitch: cell (%lld, %lld) covered by no crop", (long long)(k / st->g),
                             (long long)(k % st->g));
    for (int64_t c = 0; c < st->C; c++)
        for (int64_t k = 0; k < gg; k++) out[c * gg + k] = st->sum[c * gg + k] / st->count[k];
    return GC_OK;
}
