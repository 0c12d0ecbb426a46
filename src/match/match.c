#include "match/match.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/linear.h"

void gc_kps_to_grid(const float *kps, int64_t n, int64_t side, int64_t anno, int64_t *idx, float *uv) {
    const float f = (float)((double)side / (double)anno);
    for (int64_t i = 0; i < n; i++) {
        const float u = f * kps[3 * i], v = f * kps[3 * i + 1];
        idx[i] = side * (int64_t)v + (int64_t)u;
        if (uv) {
            uv[2 * i] = u;
            uv[2 * i + 1] = v;
        }
    }
}

void gc_kps_to_cells(const float *kps, int64_t K, int64_t *cells) {
    gc_kps_to_grid(kps, K, GC_GRID, GC_CANVAS_DINO, cells, NULL);
}

gc_status gc_match_similarity(const float *src, const float *trg, int64_t n, int64_t c, const int64_t *cells,
                              int64_t K, float *sim) {
    float *q = gc_alloc_array((size_t)K * (size_t)c, sizeof(float));
    if (!q) return GC_ERR_NOMEM;
    for (int64_t k = 0; k < K; k++) {
        if (cells[k] < 0 || cells[k] >= n) {
            gc_free(q);
            return gc_errorf(GC_ERR_ARG, "query point %lld falls in cell %lld, outside the %lld-cell grid",
                             (long long)k, (long long)cells[k], (long long)n);
        }
        memcpy(q + k * c, src + cells[k] * c, (size_t)c * sizeof(float));
    }
    gc_status s = gc_matmul(sim, q, trg, K, c, n, false, true, 1.0f, 0.0f);
    gc_free(q);
    return s;
}

/* float32(np.linspace(-1, 1, 60)[i]) as numpy computes it (start + i*step, last = stop). */
static float grid_norm(int i) {
    if (i == GC_GRID - 1) return 1.0f;
    return (float)(-1.0 + i * (2.0 / (GC_GRID - 1)));
}

/* One row: soft-argmax over weights derived from s (length GC_CELLS). Returns E[col], E[row]
 * in cells (unclamped). w: scratch [GC_CELLS]. */
static void soft_argmax_row(const float *s, int64_t best, const gc_match_params *o, float *w, float *ex, float *ey) {
    const int64_t n = GC_CELLS;
    int br = (int)(best / GC_GRID), bc = (int)(best % GC_GRID);
    if (o->window > 0) {
        /* S * M: outside cells become 0 (reference), or are dropped (corrected variant) */
        for (int64_t t = 0; t < n; t++) {
            int r = (int)(t / GC_GRID), cc = (int)(t % GC_GRID);
            bool inside = abs(r - br) <= o->window && abs(cc - bc) <= o->window;
            w[t] = inside ? s[t] : (o->exclude_outside ? -INFINITY : 0.0f * s[t]);
        }
    } else if (o->window < 0) {
        float sig = (float)-o->window, den = 2.0f * sig * sig;
        for (int64_t t = 0; t < n; t++) {
            float dx = (float)(t % GC_GRID) - (float)bc, dy = (float)(t / GC_GRID) - (float)br;
            w[t] = expf(-(dx * dx + dy * dy) / den) * s[t];
        }
    } else {
        memcpy(w, s, (size_t)n * sizeof(float));
    }
    float mx = -INFINITY;
    for (int64_t t = 0; t < n; t++) mx = w[t] > mx ? w[t] : mx;
    /* the window zeroes all but (2W+1)^2 cells: their common weight is computed once (the same
     * bits: (±0 - mx) / beta is one value) */
    const float e0 = expf((0.0f - mx) / GC_SOFTMAX_BETA);
    double sum = 0;
    for (int64_t t = 0; t < n; t++) {
        w[t] = w[t] == 0.0f ? e0 : expf((w[t] - mx) / GC_SOFTMAX_BETA);
        sum += w[t];
    }
    /* marginals over columns and rows, then the expectation on the [-1,1] grid (double sums: the
     * reference's float32 rounding is not reproducible, so be as exact as possible) */
    double gx = 0, gy = 0;
    for (int r = 0; r < GC_GRID; r++) {
        double rs = 0;
        for (int cc = 0; cc < GC_GRID; cc++) {
            double p = w[r * GC_GRID + cc] / sum;
            rs += p;
            gx += p * grid_norm(cc);
        }
        gy += rs * grid_norm(r);
    }
    /* unnormalise_and_convert_mapping_to_flow: (g + 1) * (W - 1) / 2 in float32 */
    *ex = ((float)gx + 1.0f) * (float)(GC_GRID - 1) / 2.0f;
    *ey = ((float)gy + 1.0f) * (float)(GC_GRID - 1) / 2.0f;
}

gc_status gc_match_rows(const float *sim, int64_t K, const gc_match_params *o, float *xy, int64_t *best, float *score) {
    const float stride = (float)GC_CANVAS_DINO / GC_GRID, half = floorf(stride / 2.0f);
    int nt = omp_get_max_threads();
    float *scratch = o->hard ? NULL : gc_alloc_array((size_t)nt * GC_CELLS, sizeof(float));
    if (!o->hard && !scratch) return GC_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(nt) if (K >= 64) /* a thread team costs more than a few rows */
    for (int64_t k = 0; k < K; k++) {
        const float *s = sim + k * GC_CELLS;
        int64_t b = 0;
        for (int64_t t = 1; t < GC_CELLS; t++)
            if (s[t] > s[b]) b = t;
        if (best) best[k] = b;
        if (score) score[k] = s[b];
        float cx = (float)(b % GC_GRID), cy = (float)(b / GC_GRID);
        if (!o->hard) {
            soft_argmax_row(s, b, o, scratch + (size_t)omp_get_thread_num() * GC_CELLS, &cx, &cy);
            cx = fminf(fmaxf(cx, 0.0f), GC_GRID - 1);
            cy = fminf(fmaxf(cy, 0.0f), GC_GRID - 1);
        }
        xy[2 * k + 0] = cx * stride + half;
        xy[2 * k + 1] = cy * stride + half;
    }
    gc_free(scratch);
    return GC_OK;
}

gc_status gc_match_cells(const float *src, const float *trg, int64_t c, const int64_t *cells, int64_t K,
                         const gc_match_params *o, float *xy, int64_t *best, float *score) {
    float *sim = gc_alloc_array((size_t)K * GC_CELLS, sizeof(float));
    if (!sim) return GC_ERR_NOMEM;
    gc_status s = gc_match_similarity(src, trg, GC_CELLS, c, cells, K, sim);
    if (s == GC_OK) s = gc_match_rows(sim, K, o, xy, best, score);
    gc_free(sim);
    return s;
}
