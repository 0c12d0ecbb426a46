/* Image decoding (JPEG through libjpeg-turbo, PNG through stb_image) and PNG writing. The public
 * entry points (gc_image_load, gc_image_decode, gc_image_save_png) are declared in geocorr.h;
 * this header adds the decoder with an explicit size limit (fuzzing, tests). */
#ifndef GC_IMAGE_H
#define GC_IMAGE_H

#include "base/base.h"

/* Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS (DecompressionBombError); so do we. */
#define GC_IMAGE_MAX_PIXELS 178956970LL
/* JPEG scans beyond this are refused (a progressive file with thousands of tiny scans is a
 * decode-time bomb; real encoders write about 10). */
#define GC_JPEG_MAX_SCANS 1000

/* Write an 8-bit grayscale PNG (colour type 0) of gray[h, w], atomically (instance masks). */
gc_status gc_png_save_gray(const char *path, const uint8_t *gray, int32_t w, int32_t h);
/* The same PNG in memory: px[h, w, comp] (comp 1: gray, 3: RGB) -> *png[*len] (free()); label names the
 * image in messages. */
gc_status gc_png_encode(const uint8_t *px, int32_t w, int32_t h, int comp, const char *label, uint8_t **png, size_t *len);

/* gc_image_decode with a pixel limit (w * h <= max_pixels, else GC_ERR_REFUSED). */
gc_status gc_image_decode_limited(const void *data, size_t len, const char *label, int64_t max_pixels,
                                  gc_image *out);
/* The size a JPEG or PNG declares in its header (recognised by content as gc_image_decode does),
 * without decoding it; GC_ERR_FORMAT naming `label` for anything else. */
gc_status gc_image_size(const void *data, size_t len, const char *label, int32_t *w, int32_t *h);

#endif
