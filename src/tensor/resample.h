/* Resampling of channel-first float maps C x H x W, as PyTorch's F.interpolate computes it. */
#ifndef GC_RESAMPLE_H
#define GC_RESAMPLE_H
/* All return GC_ERR_ARG for an empty size and GC_ERR_NOMEM when the tap tables cannot be allocated. */

#include <stdint.h>

#include "geocorr.h"

/* mode="bicubic", align_corners=False, antialias=False: cubic convolution A = -0.75, taps clamped
 * to the border. The source coordinate of output index i is (i + 0.5) * src_scale - 0.5, where
 * src_scale is in/out when a size is given, or 1/scale_factor when PyTorch was given a
 * scale_factor (DINOv2's +0.1 offset path). */
gc_status gc_resize_bicubic(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                            int64_t Wo, double src_scale_h, double src_scale_w);
/* mode="bicubic", antialias=True (PIL-style filter, A = -0.5, support widened when downsampling,
 * weights normalised, taps outside the image dropped). src_scale as above (in/out for a size). */
gc_status gc_resize_bicubic_aa(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                               int64_t Wo, double src_scale_h, double src_scale_w);
/* mode="bilinear", align_corners=False (source coordinate clamped below at 0). */
gc_status gc_resize_bilinear(float *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho,
                             int64_t Wo);
/* The same bilinear samples on token-major data: in[H*W, C] (channels innermost), out row k (row
 * stride ldo) = output pixel pix[k] (row-major index into Ho x Wo; pix NULL: k itself), k < n.
 * Bit-identical to gc_resize_bilinear; lets callers sample only the pixels they need. */
gc_status gc_resize_bilinear_tokens(float *out, int64_t ldo, const float *in, int64_t C, int64_t H, int64_t W,
                                    int64_t Ho, int64_t Wo, const int64_t *pix, int64_t n);

#endif
