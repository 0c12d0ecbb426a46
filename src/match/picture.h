/* Pictures of matches: instance-mask loading and PNG drawings (match lines, similarity heat maps in
 * the style of the paper's Fig. 11). */
#ifndef GC_PICTURE_H
#define GC_PICTURE_H

#include "base/base.h"

/* An instance mask for an image of w x h pixels: a grayscale PNG of that size, or the 960 x 960
 * canvas the reference's SAM masks use; returned as the 960 canvas (0/255), optionally mirrored
 * (the flipped source's mask). */
gc_status gc_mask_canvas_load(const char *path, int64_t w, int64_t h, bool mirror, uint8_t *canvas960);

/* Both images side by side (same display height), a coloured line from src_xy[k] to trg_xy[k]
 * (original pixels) per point. */
gc_status gc_picture_matches(const char *png, const gc_image *src, const gc_image *trg, const float *src_xy,
                             const float *trg_xy, int64_t K);
/* Source with the query point marked, and the target with the similarity map sim[60*60] of that
 * query (jet colours over the object frame) blended in, and the match marked. */
gc_status gc_picture_heatmap(const char *png, const gc_image *src, const gc_image *trg, const float *query_xy,
                             const float *match_xy, const float *sim);

#endif
