#include "pipeline/mask_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "match/poses.h"
#include "models/sam.h"

#define MS GC_CANVAS_SD /* the mask canvas side */

gc_status gc_mask_box_to_canvas(const float box[4], int32_t w, int32_t h, float out[4]) {
    /* the two corners as visible keypoints through the loaders' preprocess_kps_pad (vis 1: no change) */
    float k[6] = {box[0], box[1], 1.0f, box[2], box[3], 1.0f};
    GC_TRY(gc_kps_to_canvas(k, 2, w, h, MS, k));
    out[0] = k[0], out[1] = k[1], out[2] = k[3], out[3] = k[4];
    return GC_OK;
}

gc_status gc_mask_from_box(const gc_sam *sam, const gc_image *img, const float box[4], uint8_t *mask) {
    float b960[4];
    gc_image cv = {0};
    gc_status s = gc_mask_box_to_canvas(box, img->w, img->h, b960);
    if (s == GC_OK) s = gc_image_to_canvas(img, MS, 0, &cv, NULL);
    if (s == GC_OK) s = gc_sam_annotation_mask(sam, &cv, b960, mask);
    gc_image_free(&cv);
    return s;
}

typedef struct {
    const gc_sam *sam;
    const char *cache_dir;
    const float (*boxes)[4];
    int held;      /* the image whose original-pose mask is in `base` (-1: none) */
    uint8_t *base; /* [MS*MS] 0/255 */
    uint8_t *out;  /* [MS*MS] the pose's mask */
} mask_maker;

bool gc_mask_png_complete(const uint8_t *b, size_t n) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    if (n < 8 + 25 + 12 || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return false;
    const uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    const uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    return w == MS && h == MS && memcmp(b + n - 12, iend, 12) == 0;
}

static bool masks_probe(const char *path, int pose, char model[128]) {
    (void)pose;
    model[0] = 0;
    char *b = NULL;
    size_t n = 0;
    bool ok = gc_read_file(path, &b, &n, (size_t)64 << 20) == GC_OK && gc_mask_png_complete((const uint8_t *)b, n);
    free(b);
    gc_error_clear();
    return ok;
}

static bool masks_valid(void *ctx, const char *path, int pose) {
    (void)ctx;
    char model[128];
    return masks_probe(path, pose, model);
}

/* The original-pose mask of image i into m->base: from the valid mask file of an earlier run when the
 * pose asked for is another one, else SAM on the canvas with the mapped box. */
static gc_status base_mask(mask_maker *m, int i, const char *rel, const gc_image *img, int pose) {
    char *p0 = gc_cache_mask_path(m->cache_dir, rel, GC_POSE_ORIGINAL), model[128];
    if (!p0) return GC_ERR_NOMEM;
    gc_status s = GC_OK;
    if (pose != GC_POSE_ORIGINAL && gc_file_exists(p0) && masks_probe(p0, GC_POSE_ORIGINAL, model)) {
        gc_image mk = {0};
        s = gc_image_load(p0, &mk);
        if (s == GC_OK && (mk.w != MS || mk.h != MS)) s = gc_errorf(GC_ERR_FORMAT, "%s: not a %dx%d mask", p0, MS, MS);
        for (size_t k = 0; s == GC_OK && k < (size_t)MS * MS; k++) m->base[k] = mk.rgb[3 * k] > 127 ? 255 : 0;
        gc_image_free(&mk);
        free(p0);
        return s;
    }
    free(p0);
    const float *box = m->boxes[i];
    if (!(isfinite(box[0]) && isfinite(box[1]) && isfinite(box[2]) && isfinite(box[3])))
        return gc_errorf(GC_ERR_MISSING, "%s: no instance box to prompt SAM with (no visible keypoint in any pair)", rel);
    s = gc_mask_from_box(m->sam, img, box, m->base);
    return s == GC_OK ? s : gc_error_context(s, "%s: instance mask (box %g, %g, %g, %g)", rel, box[0], box[1], box[2], box[3]);
}

static gc_status masks_make(void *ctx, int i, const char *rel, const gc_image *img, int pose, const char *path) {
    mask_maker *m = ctx;
    if (m->held != i) {
        m->held = -1;
        GC_TRY(base_mask(m, i, rel, img, pose));
        m->held = i;
    }
    gc_pose_canvas(pose, m->base, MS, m->out);
    return gc_png_save_gray(path, m->out, MS, MS);
}

gc_status gc_cache_masks_init(const gc_sam *sam, const char *cache_dir, const float (*boxes)[4], gc_cache_product *p) {
    *p = (gc_cache_product){.path = gc_cache_mask_path, .probe = masks_probe, .valid = masks_valid, .make = masks_make};
    if (!sam) return GC_OK;
    mask_maker *m = gc_calloc(1, sizeof *m);
    if (!m) return GC_ERR_NOMEM;
    *m = (mask_maker){.sam = sam, .cache_dir = cache_dir, .boxes = boxes, .held = -1};
    m->base = gc_alloc((size_t)MS * MS), m->out = gc_alloc((size_t)MS * MS);
    p->ctx = m;
    if (!m->base || !m->out) {
        gc_cache_masks_free(p);
        return GC_ERR_NOMEM;
    }
    return GC_OK;
}

void gc_cache_masks_free(gc_cache_product *p) {
    mask_maker *m = p->ctx;
    if (m) gc_free(m->base), gc_free(m->out);
    gc_free(m);
    p->ctx = NULL;
}
