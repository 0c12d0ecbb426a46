/* The reference's instance masks in the feature cache (preprocess_mask_sam.py, REFERENCE.md §3.7):
 * SAM on the image's 960 canvas (resize(img, 960): Pillow LANCZOS, centred zero padding) prompted
 * with the image's ground-truth box mapped into that canvas by preprocess_kps_pad, multimask off, saved
 * as <cache>/<stem>_mask.png (8-bit gray 0/255, 960 x 960). The mask of another pose is that canvas
 * turned like the pose (match/poses.h): _mask_flip.png mirrored as the reference does, _mask_rot90.png
 * ... rotated. The files are made through the cache's extraction loop (feature_cache.h: claims, resume,
 * concurrent runs). */
#ifndef GC_PIPELINE_MASK_CACHE_H
#define GC_PIPELINE_MASK_CACHE_H

#include "pipeline/feature_cache.h"

/* box[4] (x1, y1, x2, y2) in the pixels of a w x h image -> out[4] on the 960 canvas, as the mask
 * script maps it (float32: x * (960 / max(w, h)) + the centring offset of the short axis). */
gc_status gc_mask_box_to_canvas(const float box[4], int32_t w, int32_t h, float out[4]);

/* The reference's instance mask of an image from its box (the one code path for it: the cache below and
 * `pose-test --sam`): SAM on img's 960 canvas prompted with box[4] (x1, y1, x2, y2 in img's pixels, may
 * reach past the border) mapped by gc_mask_box_to_canvas; mask[960 * 960] := 0/255. */
gc_status gc_mask_from_box(const struct gc_sam *sam, const gc_image *img, const float box[4], uint8_t *mask);

/* The masks of the images rel[0..n) with boxes[i] in original pixels (NaN: the image has no box, an
 * error when its mask is made) as a cache product made with sam (NULL: a product for
 * gc_cache_status_run only). A mask of another pose is derived from the image's mask: the one this run
 * made, or else a valid <stem>_mask.png already in cache_dir. */
/* A mask file is complete: the PNG signature, an IHDR of 960 x 960 and the IEND chunk closing the file
 * (the writers are atomic, so anything else is a foreign or torn file, redone); the pixels are read when
 * the mask is used. */
bool gc_mask_png_complete(const uint8_t *png, size_t n);

gc_status gc_cache_masks_init(const struct gc_sam *sam, const char *cache_dir, const float (*boxes)[4],
                              gc_cache_product *p);
void gc_cache_masks_free(gc_cache_product *p);

#endif
