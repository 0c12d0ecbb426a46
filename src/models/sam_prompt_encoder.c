/* SAM's prompt encoder (segment_anything/modeling/prompt_encoder.py) without mask inputs: the
 * random Fourier positional encoding PE(c) = [sin(2 pi (2c - 1) G), cos(...)] of points normalised
 * to [0, 1] by the padded input size, plus a learned embedding per point label and box corner; the
 * dense prompt is the no-mask embedding broadcast over the grid. All float32, in upstream's order
 * of operations. */
#include <math.h>
#include <string.h>

#include "models/sam.h"

/* out[C] = PE of (cx, cy) in [0, 1]^2, C = 2 * C2 (sin block first). */
static void pe_encode(const float *gauss, int64_t C2, float cx, float cy, float *out) {
    const float x = 2.0f * cx - 1.0f, y = 2.0f * cy - 1.0f;
    const float two_pi = (float)(2.0 * M_PI); /* torch multiplies a float tensor by the scalar as float */
    for (int64_t j = 0; j < C2; j++) {
        float a = two_pi * (x * gauss[j] + y * gauss[C2 + j]);
        out[j] = sinf(a);
        out[C2 + j] = cosf(a);
    }
}

gc_status gc_sam_prompt_encoder_load(gc_sam_prompt_encoder *pe, gc_weights *w, const gc_sam_hparams *hp) {
    const int64_t C = hp->out_chans, g = hp->grid;
    if (C % 2) return gc_errorf(GC_ERR_SHAPE, "%s: the prompt width %lld is odd", gc_weights_label(w), (long long)C);
    GC_TRY(gc_sam_param(w, &pe->gauss, GC_SAM_SHAPE(2, C / 2), "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"));
    for (int i = 0; i < 4; i++)
        GC_TRY(gc_sam_param(w, &pe->point_embed[i], GC_SAM_SHAPE(1, C), "prompt_encoder.point_embeddings.%d.weight", i));
    GC_TRY(gc_sam_param(w, &pe->not_a_point, GC_SAM_SHAPE(1, C), "prompt_encoder.not_a_point_embed.weight"));
    GC_TRY(gc_sam_param(w, &pe->no_mask, GC_SAM_SHAPE(1, C), "prompt_encoder.no_mask_embed.weight"));
    /* get_dense_pe: grid centres ((x + 0.5) / g, (y + 0.5) / g), cumsum(ones) - 0.5 being exact */
    pe->dense_pe = gc_alloc_array((size_t)(g * g), (size_t)C * sizeof(float));
    if (!pe->dense_pe) return gc_error_context(GC_ERR_NOMEM, "SAM dense positional encoding");
    for (int64_t y = 0; y < g; y++)
        for (int64_t x = 0; x < g; x++)
            pe_encode(pe->gauss, C / 2, ((float)x + 0.5f) / (float)g, ((float)y + 0.5f) / (float)g,
                      pe->dense_pe + (y * g + x) * C);
    return GC_OK;
}

void gc_sam_prompt_encoder_free(gc_sam_prompt_encoder *pe) {
    gc_free(pe->dense_pe);
    pe->dense_pe = NULL;
}

int64_t gc_sam_sparse_count(int64_t n_points, bool has_box) { return n_points + (has_box ? 2 : n_points ? 1 : 0); }

void gc_sam_embed_prompt(const gc_sam *m, const float *box, const float *points, const int32_t *labels, int64_t n,
                         float *sparse) {
    const gc_sam_prompt_encoder *pe = &m->pe;
    const int64_t C = m->hp.out_chans;
    const float S = (float)m->hp.img_size; /* input_image_size (the padded square), x and y alike */
    float *o = sparse;
    for (int64_t i = 0; i < n; i++, o += C) { /* _embed_points: shift to the pixel centre, normalise */
        pe_encode(pe->gauss, C / 2, (points[2 * i] + 0.5f) / S, (points[2 * i + 1] + 0.5f) / S, o);
        const float *add = pe->point_embed[labels[i] == 1 ? 1 : 0];
        for (int64_t c = 0; c < C; c++) o[c] += add[c];
    }
    if (n && !box) { /* the padding point (label -1): its PE is replaced by not_a_point_embed */
        memcpy(o, pe->not_a_point, (size_t)C * sizeof(float));
        o += C;
    }
    for (int k = 0; box && k < 2; k++, o += C) { /* _embed_boxes: the two corners */
        pe_encode(pe->gauss, C / 2, (box[2 * k] + 0.5f) / S, (box[2 * k + 1] + 0.5f) / S, o);
        const float *add = pe->point_embed[2 + k];
        for (int64_t c = 0; c < C; c++) o[c] += add[c];
    }
}
