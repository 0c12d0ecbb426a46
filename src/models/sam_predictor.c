/* SamPredictor (segment_anything/predictor.py + Sam.preprocess / postprocess_masks + the
 * ResizeLongestSide transform): the image is resized so its long side is the encoder size S (Pillow
 * BILINEAR, as torchvision's resize of a PIL image does it), normalised and zero-padded to S x S and
 * encoded once; prompts are mapped into the resized frame; the low-resolution masks go back to the
 * image size by two bilinear resizes (to S x S, crop the padding, to h x w) and the threshold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/sam.h"
#include "pipeline/preprocess.h"
#include "tensor/resample.h"

gc_status gc_sam_set_image_tap(const gc_sam *m, const gc_image *img, gc_sam_image **out, const gc_tap *tap) {
    *out = NULL;
    const gc_sam_hparams *hp = &m->hp;
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0) return gc_errorf(GC_ERR_ARG, "SAM: no image");
    const int64_t S = hp->img_size, g = hp->grid, C = hp->out_chans;
    /* ResizeLongestSide.get_preprocess_shape: scale in double, sides rounded half up */
    const double scale = (double)S * 1.0 / (double)(img->w > img->h ? img->w : img->h);
    const int32_t newh = (int32_t)((double)img->h * scale + 0.5), neww = (int32_t)((double)img->w * scale + 0.5);
    if (newh < 1 || neww < 1)
        return gc_errorf(GC_ERR_UNSUPPORTED, "SAM: a %dx%d image is too elongated for the %lld input (a resized side is 0)",
                         (int)img->w, (int)img->h, (long long)S);
    const size_t npx = (size_t)img->w * (size_t)img->h;
    uint8_t *bgr = hp->bgr ? gc_alloc_array(npx, 3) : NULL;
    uint8_t *rs = gc_alloc_array((size_t)newh * (size_t)neww, 3);
    float *x = gc_alloc_array((size_t)(3 * S), (size_t)S * sizeof(float));
    gc_sam_image *im = gc_calloc(1, sizeof *im);
    float *emb = gc_alloc_array((size_t)(g * g), (size_t)C * sizeof(float));
    gc_status s = rs && x && im && emb && (bgr || !hp->bgr) ? GC_OK : gc_error_context(GC_ERR_NOMEM, "SAM image");
    const uint8_t *src = img->rgb;
    if (s == GC_OK && bgr) { /* the model expects BGR: upstream flips the channels before the transform */
        for (size_t i = 0; i < npx; i++)
            for (int c = 0; c < 3; c++) bgr[3 * i + c] = img->rgb[3 * i + 2 - c];
        src = bgr;
    }
    if (s == GC_OK) s = gc_resize_pillow_rgb(src, img->w, img->h, rs, neww, newh, GC_PILLOW_BILINEAR);
    if (s == GC_OK) s = gc_tap_raw(tap, "resized_u8", GC_DT_U8, rs, 3, (const int64_t[]){newh, neww, 3});
    if (s == GC_OK) {
        /* Sam.preprocess: (x - mean) / std in float32, THEN zero padding (padded pixels are 0) */
        memset(x, 0, (size_t)(3 * S * S) * sizeof(float));
        for (int c = 0; c < 3; c++)
            for (int32_t y = 0; y < newh; y++)
                for (int32_t xx = 0; xx < neww; xx++)
                    x[(c * S + y) * S + xx] =
                        ((float)rs[((size_t)y * neww + xx) * 3 + c] - hp->pixel_mean[c]) / hp->pixel_std[c];
        s = GC_TAP(tap, "input_image", x, 1, 3, S, S);
    }
    if (s == GC_OK) s = gc_sam_encode(m, x, emb, tap);
    gc_free(bgr), gc_free(rs), gc_free(x);
    if (s != GC_OK) {
        gc_free(im), gc_free(emb);
        return s;
    }
    im->w = img->w, im->h = img->h, im->neww = neww, im->newh = newh, im->embed = emb;
    *out = im;
    return GC_OK;
}

gc_status gc_sam_set_image(const gc_sam *m, const gc_image *img, gc_sam_image **out) {
    return gc_sam_set_image_tap(m, img, out, NULL);
}

void gc_sam_image_free(gc_sam_image *im) {
    if (!im) return;
    gc_free(im->embed);
    gc_free(im);
}

void gc_sam_masks_free(gc_sam_masks *r) {
    if (!r) return;
    gc_free(r->masks);
    gc_free(r->scores);
    memset(r, 0, sizeof *r);
}

/* A prompt must lie in the image: box corners in [0, w] x [0, h] (unless box_anywhere) and not
 * inverted, points likewise, labels 0 or 1. */
static gc_status check_prompt(const gc_sam_prompt *p, int32_t w, int32_t h, bool box_anywhere) {
    if (!p || (!p->box && p->n_points <= 0))
        return gc_errorf(GC_ERR_ARG, "SAM: empty prompt (give a box, points, or both)");
    if (p->n_points < 0 || p->n_points > GC_SAM_MAX_POINTS || (p->n_points && (!p->points || !p->labels)))
        return gc_errorf(GC_ERR_ARG, "SAM: %lld points (between 0 and %d, each with a label)", (long long)p->n_points,
                         GC_SAM_MAX_POINTS);
    if (p->box) {
        const float *b = p->box;
        for (int i = 0; i < 4; i++)
            if (!isfinite(b[i])) return gc_errorf(GC_ERR_ARG, "SAM: box coordinate %d is not a finite number", i);
        if (b[0] > b[2] || b[1] > b[3])
            return gc_errorf(GC_ERR_ARG, "SAM: box (%g, %g, %g, %g) is inverted: expected x1 <= x2 and y1 <= y2",
                             b[0], b[1], b[2], b[3]);
        if (!box_anywhere && (b[0] < 0 || b[1] < 0 || b[2] > (float)w || b[3] > (float)h))
            return gc_errorf(GC_ERR_ARG, "SAM: box (%g, %g, %g, %g) is outside the %dx%d image", b[0], b[1], b[2], b[3],
                             (int)w, (int)h);
    }
    for (int64_t i = 0; i < p->n_points; i++) {
        const float x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!(x >= 0 && y >= 0 && x <= (float)w && y <= (float)h))
            return gc_errorf(GC_ERR_ARG, "SAM: point %lld (%g, %g) is outside the %dx%d image", (long long)i, x, y, (int)w,
                             (int)h);
        if (p->labels[i] != 0 && p->labels[i] != 1)
            return gc_errorf(GC_ERR_ARG, "SAM: point %lld has label %d (expected 1 foreground or 0 background)",
                             (long long)i, (int)p->labels[i]);
    }
    return GC_OK;
}

/* The prompt encoder's keys that do not depend on the prompt (trace only). */
static gc_status tap_dense(const gc_sam *m, const gc_tap *tap) {
    if (!tap || !tap->wr) return GC_OK;
    const int64_t g = m->hp.grid, C = m->hp.out_chans;
    float *d = gc_alloc_array((size_t)(g * g), (size_t)C * sizeof(float));
    if (!d) return GC_ERR_NOMEM;
    for (int64_t t = 0; t < g * g; t++) memcpy(d + t * C, m->pe.no_mask, (size_t)C * sizeof(float));
    gc_status s = gc_sam_tap_nchw(tap, "dense_embeddings", d, g, g, C);
    gc_free(d);
    return s == GC_OK ? gc_sam_tap_nchw(tap, "dense_pe", m->pe.dense_pe, g, g, C) : s;
}

/* Sam.postprocess_masks: low [K, n, n] -> logits [K, h, w] (bilinear to S x S, crop newh x neww,
 * bilinear to h x w; align_corners False, no antialias). */
static gc_status postprocess(const gc_sam *m, const gc_sam_image *im, const float *low, int64_t K, float *logits) {
    const int64_t S = m->hp.img_size, n = 4 * m->hp.grid, nh = im->newh, nw = im->neww;
    float *big = gc_alloc_array((size_t)(K * S), (size_t)S * sizeof(float));
    float *crop = gc_alloc_array((size_t)(K * nh), (size_t)nw * sizeof(float));
    gc_status s = big && crop ? GC_OK : gc_error_context(GC_ERR_NOMEM, "SAM mask postprocessing");
    if (s == GC_OK) s = gc_resize_bilinear(big, low, K, n, n, S, S);
    if (s == GC_OK) {
        for (int64_t k = 0; k < K; k++)
            for (int64_t y = 0; y < nh; y++)
                memcpy(crop + (k * nh + y) * nw, big + (k * S + y) * S, (size_t)nw * sizeof(float));
        s = gc_resize_bilinear(logits, crop, K, nh, nw, im->h, im->w);
    }
    gc_free(big);
    gc_free(crop);
    return s;
}

static gc_status predict(const gc_sam *m, const gc_sam_image *im, const gc_sam_prompt *p, gc_sam_masks *out,
                         const gc_tap *tap, bool box_anywhere) {
    memset(out, 0, sizeof *out);
    if (!im) return gc_errorf(GC_ERR_ARG, "SAM: no image embedding (call gc_sam_set_image first)");
    GC_TRY(check_prompt(p, im->w, im->h, box_anywhere));
    const gc_sam_hparams *hp = &m->hp;
    const int64_t n = p->n_points, g = hp->grid, C = hp->out_chans, M = hp->n_mask_tokens, L = 16 * g * g;
    const int64_t ns = gc_sam_sparse_count(n, p->box != NULL), K = p->multimask ? M - 1 : 1;
    const int64_t hw = (int64_t)im->w * im->h;
    /* ResizeLongestSide.apply_coords: x * (neww / w), y * (newh / h) in double, then float32 */
    const double sx = (double)im->neww / im->w, sy = (double)im->newh / im->h;
    float box[4];
    float *pts = gc_alloc_array((size_t)(n ? n : 1), 2 * sizeof(float));
    float *sparse = gc_alloc_array((size_t)ns, (size_t)C * sizeof(float));
    float *masks_all = gc_alloc_array((size_t)(M * L) + (size_t)M, sizeof(float)), *iou_all = masks_all + M * L;
    float *logits = gc_alloc_array((size_t)K, (size_t)hw * sizeof(float));
    out->masks = gc_alloc_array((size_t)K, (size_t)hw);
    out->scores = gc_alloc_array((size_t)K, sizeof(float));
    gc_status s = pts && sparse && masks_all && logits && out->masks && out->scores
                      ? GC_OK
                      : gc_error_context(GC_ERR_NOMEM, "SAM prediction");
    if (s == GC_OK && p->box) {
        for (int i = 0; i < 4; i++) box[i] = (float)((double)p->box[i] * (i % 2 ? sy : sx));
        s = GC_TAP(tap, "box_model", box, 1, 1, 4);
    }
    if (s == GC_OK && n) {
        for (int64_t i = 0; i < n; i++) {
            pts[2 * i] = (float)((double)p->points[2 * i] * sx);
            pts[2 * i + 1] = (float)((double)p->points[2 * i + 1] * sy);
        }
        s = GC_TAP(tap, "point_coords_model", pts, 1, n, 2);
        if (s == GC_OK) s = gc_tap_raw(tap, "point_labels_model", GC_DT_I32, p->labels, 2, (const int64_t[]){1, n});
    }
    if (s == GC_OK) {
        gc_sam_embed_prompt(m, p->box ? box : NULL, pts, p->labels, n, sparse);
        s = GC_TAP(tap, "sparse_embeddings", sparse, 1, ns, C);
    }
    if (s == GC_OK) s = tap_dense(m, tap);
    if (s == GC_OK) s = gc_sam_decode(m, im->embed, sparse, ns, masks_all, iou_all, tap);
    /* multimask: the mask tokens 1..M-1; single mask: token 0 */
    const float *low = masks_all + (p->multimask ? L : 0), *iou = iou_all + (p->multimask ? 1 : 0);
    if (s == GC_OK) s = GC_TAP(tap, "low_res_masks", low, 1, K, 4 * g, 4 * g);
    if (s == GC_OK) s = GC_TAP(tap, "iou_predictions", iou, 1, K);
    for (int64_t k = 0; s == GC_OK && k < K; k++) {
        out->scores[k] = iou[k];
        if (iou[k] > iou[out->best]) out->best = (int32_t)k;
    }
    if (s == GC_OK) s = postprocess(m, im, low, K, logits);
    if (s == GC_OK) s = GC_TAP(tap, "masks_logits", logits, 1, K, im->h, im->w);
    if (s == GC_OK) {
        for (int64_t i = 0; i < K * hw; i++) out->masks[i] = logits[i] > hp->mask_threshold;
        s = gc_tap_raw(tap, "masks", GC_DT_U8, out->masks, 3, (const int64_t[]){K, im->h, im->w});
    }
    gc_free(pts), gc_free(sparse), gc_free(masks_all), gc_free(logits);
    if (s != GC_OK) {
        gc_sam_masks_free(out);
        return s;
    }
    out->w = im->w, out->h = im->h, out->k = (int32_t)K;
    return GC_OK;
}

gc_status gc_sam_predict_tap(const gc_sam *m, const gc_sam_image *im, const gc_sam_prompt *p, gc_sam_masks *out,
                             const gc_tap *tap) {
    return predict(m, im, p, out, tap, false);
}

gc_status gc_sam_predict(const gc_sam *m, const gc_sam_image *im, const gc_sam_prompt *p, gc_sam_masks *out) {
    return predict(m, im, p, out, NULL, false);
}

/* image + box -> 0/255 mask (the box checked against the image unless box_anywhere). */
static gc_status box_mask(const gc_sam *m, const gc_image *img, const float box[4], uint8_t *mask, bool box_anywhere) {
    gc_sam_image *im;
    GC_TRY(gc_sam_set_image(m, img, &im));
    gc_sam_prompt p = {.box = box};
    gc_sam_masks r;
    gc_status s = predict(m, im, &p, &r, NULL, box_anywhere);
    gc_sam_image_free(im);
    if (s != GC_OK) return s;
    for (int64_t i = 0; i < (int64_t)r.w * r.h; i++) mask[i] = r.masks[i] ? 255 : 0;
    gc_sam_masks_free(&r);
    return GC_OK;
}

gc_status gc_sam_box_mask(const gc_sam *m, const gc_image *img, const float box[4], uint8_t *mask) {
    return box_mask(m, img, box, mask, false);
}

gc_status gc_sam_annotation_mask(const gc_sam *m, const gc_image *img, const float box[4], uint8_t *mask) {
    return box_mask(m, img, box, mask, true);
}
