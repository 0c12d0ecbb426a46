/* libFuzzer target: the in-memory image decoder (JPEG through libjpeg-turbo, PNG through stb_image),
 * then the reference preprocessing of whatever decoded onto a small canvas (odd shapes reach the
 * LANCZOS coefficient code); and the completeness check of the cache's mask files. Seeds:
 * fuzz/corpus/image (tiny synthetic images of every colour type). */
#include <stdint.h>
#include <stdlib.h>

#include "io/image.h"
#include "pipeline/mask_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_image img, canvas;
    (void)gc_mask_png_complete(data, size);
    /* A small pixel limit keeps each run fast; the limit itself is checked before any allocation. */
    if (gc_image_decode_limited(data, size, "fuzz", 1 << 20, &img) != GC_OK) return 0;
    if (gc_image_to_canvas(&img, 48, size & 1, &canvas, NULL) == GC_OK) gc_image_free(&canvas);
    gc_image_free(&img);
    return 0;
}
