/* ODISE's sliding window (FeatureExtractorBackbone.slide_forward): the 960 SD canvas is covered by
 * 512 crops whose feature maps are summed into full-size buffers and divided by how many crops
 * covered each cell (an average in the overlaps). */
#ifndef GC_STITCH_H
#define GC_STITCH_H

#include "base/base.h"

#define GC_SLIDE_MAX_CROPS 64

/* Top-left corners (y, x) of the crops in ODISE's visiting order (rows of crops, then columns):
 * n = ceil-grid of (full - crop) / stride + 1 per axis, each crop shifted back inside the canvas.
 * 960/512/512 gives (0,0), (0,448), (448,0), (448,448). Returns the count (<= GC_SLIDE_MAX_CROPS). */
int gc_slide_corners(int64_t full, int64_t crop, int64_t stride, int64_t yx[][2]);

typedef struct {
    int64_t C;       /* channels */
    int64_t g;       /* full grid side = full_px / cell */
    int64_t cell;    /* pixels per feature cell (64 for s5, 32 s4, 16 s3) */
    float *sum;      /* [C, g, g] */
    float *count;    /* [g, g] crops covering each cell */
} gc_stitch;

gc_status gc_stitch_init(gc_stitch *st, int64_t C, int64_t full_px, int64_t cell);
void gc_stitch_free(gc_stitch *st);
/* Add a crop's map [C, n, n] whose top-left canvas pixel is (y_px, x_px): cell offset y_px / cell. */
gc_status gc_stitch_add(gc_stitch *st, const float *map, int64_t n, int64_t y_px, int64_t x_px);
/* out[C, g, g] = sum / count (every cell must be covered). */
gc_status gc_stitch_finish(const gc_stitch *st, float *out);

#endif
