/* The reference's fused map (REFERENCE.md §3.3): cat(s3, up(s4), up(s5), dino), every map bilinearly
 * resized to the finest grid (align_corners=False). One function for both consumers: the
 * post-processor reads it channel-first, the descriptors token-major; both layouts hold the same
 * numbers (the same interpolation arithmetic). */
#ifndef GC_PIPELINE_FUSE_H
#define GC_PIPELINE_FUSE_H

#include <stdbool.h>

#include "base/base.h"

/* A channel-first map view: data [c, h, w]. */
typedef struct {
    const float *data; /* [c, h, w]; NULL: the map is absent */
    int64_t c, h, w;
} gc_map_view;

/* dst[j * ldd + i] = src[i * cols + j] for a rows x cols src (cache-blocked). */
void gc_transpose_f32(float *dst, int64_t ldd, const float *src, int64_t rows, int64_t cols);

/* The maps (in order) resized to G x G (maps already G x G are copied) and concatenated along the
 * channels: out[sum c, G*G] (channel-first) or, token_major, out[G*G, sum c]. */
gc_status gc_fuse_maps(float *out, const gc_map_view *maps, int n_maps, int64_t G, bool token_major);

#endif
