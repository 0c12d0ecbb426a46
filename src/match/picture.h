/* Pictures of matches: the annotation-frame geometry (REFERENCE.md §2) that maps original pixels to
 * the 840 frame and back, image and mask loading, and PNG drawings (match lines, similarity heat
 * maps in the style of the paper's Fig. 11). */
#ifndef GC_PICTURE_H
#define GC_PICTURE_H

#include "base/base.h"

/* Resize-and-pad of a W x H image to an S x S canvas (preprocess_kps_pad). */
typedef struct {
    int64_t w, h;        /* original size */
    int64_t size;        /* canvas side S */
    double scale;        /* S / max(w, h) */
    double off_x, off_y; /* padding offsets in canvas pixels */
} gc_frame;

void gc_frame_init(gc_frame *f, int64_t w, int64_t h, int64_t size);
void gc_frame_to(const gc_frame *f, double x, double y, double *cx, double *cy);
void gc_frame_from(const gc_frame *f, double cx, double cy, double *x, double *y);

/* An 8-bit RGB image. */
typedef struct {
    int w, h;         /* size */
    uint8_t *rgb;     /* [h, w, 3] (free with gc_rgb_free) */
} gc_rgb;

gc_status gc_rgb_load(const char *path, gc_rgb *img);
/* Size only (cheap). */
gc_status gc_rgb_info(const char *path, int *w, int *h);
void gc_rgb_free(gc_rgb *img);

/* An instance mask for an image of w x h pixels: a grayscale PNG of that size, or the 960 x 960
 * canvas the reference's SAM masks use; returned as the 960 canvas (0/255), optionally mirrored
 * (the flipped source's mask). */
gc_status gc_mask_canvas_load(const char *path, int64_t w, int64_t h, bool mirror, uint8_t *canvas960);

/* Both images side by side (same display height), a coloured line from src_xy[k] to trg_xy[k]
 * (original pixels) per point. */
gc_status gc_picture_matches(const char *png, const gc_rgb *src, const gc_rgb *trg, const float *src_xy,
                             const float *trg_xy, int64_t K);
/* Source with the query point marked, and the target with the similarity map sim[60*60] of that
 * query (jet colours over the object frame) blended in, and the match marked. */
gc_status gc_picture_heatmap(const char *png, const gc_rgb *src, const gc_rgb *trg, const float *query_xy,
                             const float *match_xy, const float *sim);

#endif
