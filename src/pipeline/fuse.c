/* The reference's fused map (pipeline/fuse.h): one fusion for the post-processor input and the descriptors. */
#include "pipeline/fuse.h"

#include <string.h>

#include "tensor/resample.h"

void gc_transpose_f32(float *dst, int64_t ldd, const float *src, int64_t rows, int64_t cols) {
    const int64_t B = 32;
#pragma omp parallel for schedule(static)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
        for (int64_t i0 = 0; i0 < rows; i0 += B)
            for (int64_t j = j0; j < GC_MIN(j0 + B, cols); j++)
                for (int64_t i = i0; i < GC_MIN(i0 + B, rows); i++) dst[j * ldd + i] = src[i * cols + j];
}

gc_status gc_fuse_maps(float *out, const gc_map_view *maps, int n_maps, int64_t G, bool token_major) {
    int64_t ctot = 0, T = G * G;
    for (int i = 0; i < n_maps; i++) ctot += maps[i].c;
    int64_t off = 0;
    for (int i = 0; i < n_maps; i++) {
        const gc_map_view *m = &maps[i];
        if (!token_major) { /* channel-first: each map's planes in place */
            if (m->h == G && m->w == G) memcpy(out + off * T, m->data, (size_t)(m->c * T) * sizeof(float));
            else GC_TRY(gc_resize_bilinear(out + off * T, m->data, m->c, m->h, m->w, G, G));
        } else if (m->h == G && m->w == G) {
            gc_transpose_f32(out + off, ctot, m->data, m->c, T); /* channel-first -> token-major */
        } else {
            /* coarser map: to tokens at its own size, then bilinear straight into the fused rows */
            float *tok = gc_alloc_array((size_t)(m->c * m->h * m->w), sizeof(float));
            if (!tok) return GC_ERR_NOMEM;
            gc_transpose_f32(tok, m->c, m->data, m->c, m->h * m->w);
            gc_status s = gc_resize_bilinear_tokens(out + off, ctot, tok, m->c, m->h, m->w, G, G, NULL, T);
            gc_free(tok);
            GC_TRY(s);
        }
        off += m->c;
    }
    return GC_OK;
}

