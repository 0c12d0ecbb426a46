/* The reference image preprocessing (REFERENCE.md §2): Pillow-exact LANCZOS resize, centred zero
 * padding into an S x S canvas, left-right flips and the keypoint frame transforms. The public
 * entry points (gc_canvas_geometry, gc_image_to_canvas, gc_kps_*) are declared in geocorr.h; the
 * buffer-level pieces are here for the pipeline and tests. */
#ifndef GC_PREPROCESS_H
#define GC_PREPROCESS_H

#include "base/base.h"

typedef enum { GC_PILLOW_LANCZOS, GC_PILLOW_BILINEAR } gc_pillow_filter;

/* Pillow's Image.resize((ow, oh), filter) of an RGB u8 image, bit for bit (Resample.c: double
 * coefficients normalised per output pixel, support widened by the scale when shrinking, rounded to
 * 22-bit fixed point, horizontal pass first into an 8-bit intermediate, then the vertical pass; a
 * pass whose size is unchanged is skipped, so equal sizes give a copy). src [h, w, 3] -> dst [oh, ow, 3]. */
gc_status gc_resize_pillow_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst, int32_t ow, int32_t oh,
                               gc_pillow_filter f);
/* The LANCZOS one (the reference's resize()). */
gc_status gc_resize_lanczos_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst, int32_t ow, int32_t oh);

/* Left-right mirror of an RGB u8 image: dst [h, w, 3] (dst != src). */
void gc_flip_rgb(const uint8_t *src, int32_t w, int32_t h, uint8_t *dst);

#endif
