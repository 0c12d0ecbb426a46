/* Instance masks on the reference's 960 canvas (REFERENCE.md §3.7: its SAM masks are predicted on
 * resize(img, 960) and stored as 960 x 960 0/255 PNGs): a mask of the image's own size is resampled
 * nearest into the canvas band, so user masks and the reference's cached masks meet in one frame. */
#include <math.h>
#include <string.h>

#include "base/base.h"

gc_status gc_mask_to_canvas(const gc_image *mask, int32_t w, int32_t h, int mirror, uint8_t *canvas) {
    const int S = GC_CANVAS_SD;
    if (!mask || !mask->rgb || !canvas) return gc_errorf(GC_ERR_ARG, "instance mask: no image given");
    const int mw = mask->w, mh = mask->h;
    const uint8_t *rgb = mask->rgb;
    if (mw == S && mh == S) {
        for (size_t i = 0; i < (size_t)S * S; i++) canvas[i] = rgb[3 * i] > 127 ? 255 : 0;
    } else if (mw == w && mh == h) {
        gc_canvas_geom g;
        GC_TRY(gc_canvas_geometry(w, h, S, &g));
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                /* the original pixel under the canvas pixel's centre */
                int64_t ix = (int64_t)floor((x + 0.5 - g.off_x) / g.scale), iy = (int64_t)floor((y + 0.5 - g.off_y) / g.scale);
                bool in = x >= g.off_x && x < g.off_x + g.band_w && y >= g.off_y && y < g.off_y + g.band_h;
                ix = GC_MIN(GC_MAX(ix, 0), (int64_t)w - 1);
                iy = GC_MIN(GC_MAX(iy, 0), (int64_t)h - 1);
                canvas[y * S + x] = in && rgb[3 * (iy * w + ix)] > 127 ? 255 : 0;
            }
    } else {
        return gc_errorf(GC_ERR_SHAPE, "mask is %dx%d; expected the image size %dx%d or the %dx%d canvas", mw, mh, w, h, S, S);
    }
    if (mirror)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S / 2; x++) {
                uint8_t t = canvas[y * S + x];
                canvas[y * S + x] = canvas[y * S + S - 1 - x];
                canvas[y * S + S - 1 - x] = t;
            }
    return GC_OK;
}
