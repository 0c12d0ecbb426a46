/* Pictures of matches (geocorr.h): match lines, similarity heat maps in the style of the paper's
 * Fig. 11. Pure image functions: the caller saves or sends the result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "match/descriptor.h"

static void put(gc_image *c, int x, int y, const uint8_t col[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    memcpy(c->rgb + ((size_t)y * c->w + x) * 3, col, 3);
}

static void disc(gc_image *c, double cx, double cy, int r, const uint8_t col[3]) {
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            if (dx * dx + dy * dy <= r * r) put(c, (int)lround(cx) + dx, (int)lround(cy) + dy, col);
}

static void line(gc_image *c, double x0, double y0, double x1, double y1, const uint8_t col[3]) {
    int n = (int)ceil(fmax(fabs(x1 - x0), fabs(y1 - y0))) + 1;
    for (int i = 0; i <= n; i++) {
        double t = (double)i / n;
        double x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
        put(c, (int)lround(x), (int)lround(y), col);
        put(c, (int)lround(x) + 1, (int)lround(y), col);
    }
}

/* Bilinear blit of img scaled by s to (ox, 0). */
static void blit(gc_image *c, const gc_image *img, double s, int ox) {
    int w = (int)lround(img->w * s), h = (int)lround(img->h * s);
    for (int y = 0; y < h && y < c->h; y++)
        for (int x = 0; x < w; x++) {
            double sx = GC_MIN((x + 0.5) / s - 0.5, img->w - 1.0), sy = GC_MIN((y + 0.5) / s - 0.5, img->h - 1.0);
            sx = GC_MAX(sx, 0.0);
            sy = GC_MAX(sy, 0.0);
            int x0 = (int)sx, y0 = (int)sy, x1 = GC_MIN(x0 + 1, img->w - 1), y1 = GC_MIN(y0 + 1, img->h - 1);
            double fx = sx - x0, fy = sy - y0;
            uint8_t col[3];
            for (int k = 0; k < 3; k++) {
                const uint8_t *p = img->rgb;
                double v = (1 - fy) * ((1 - fx) * p[((size_t)y0 * img->w + x0) * 3 + k] + fx * p[((size_t)y0 * img->w + x1) * 3 + k]) +
                           fy * ((1 - fx) * p[((size_t)y1 * img->w + x0) * 3 + k] + fx * p[((size_t)y1 * img->w + x1) * 3 + k]);
                col[k] = (uint8_t)lround(v);
            }
            put(c, ox + x, y, col);
        }
}

static void hue(double h, uint8_t col[3]) {
    double r = fabs(h * 6 - 3) - 1, g = 2 - fabs(h * 6 - 2), b = 2 - fabs(h * 6 - 4);
    col[0] = (uint8_t)lround(255 * fmin(fmax(r, 0), 1));
    col[1] = (uint8_t)lround(255 * fmin(fmax(g, 0), 1));
    col[2] = (uint8_t)lround(255 * fmin(fmax(b, 0), 1));
}

static void jet(double v, uint8_t col[3]) {
    double r = 1.5 - fabs(4 * v - 3), g = 1.5 - fabs(4 * v - 2), b = 1.5 - fabs(4 * v - 1);
    col[0] = (uint8_t)lround(255 * fmin(fmax(r, 0), 1));
    col[1] = (uint8_t)lround(255 * fmin(fmax(g, 0), 1));
    col[2] = (uint8_t)lround(255 * fmin(fmax(b, 0), 1));
}

#define GC_PIC_HEIGHT 480

static gc_status pair_canvas(gc_image *c, const gc_image *src, const gc_image *trg, double *s0, double *s1, int *ox) {
    *s0 = (double)GC_PIC_HEIGHT / src->h;
    *s1 = (double)GC_PIC_HEIGHT / trg->h;
    *ox = (int)lround(src->w * *s0) + 8;
    GC_TRY(gc_image_alloc(c, *ox + (int)lround(trg->w * *s1), GC_PIC_HEIGHT));
    memset(c->rgb, 255, (size_t)c->w * c->h * 3);
    blit(c, src, *s0, 0);
    blit(c, trg, *s1, *ox);
    return GC_OK;
}

/* The mask value (960 canvas cv of an image with geometry g) under pixel (x, y) of the image drawn
 * scaled by s: the canvas position of the image pixel it shows. */
static uint8_t mask_at(const uint8_t *cv, const gc_canvas_geom *g, double s, int x, int y) {
    const int cx = GC_MIN((int)((x + 0.5) / s * g->scale + g->off_x), GC_CANVAS_SD - 1);
    const int cy = GC_MIN((int)((y + 0.5) / s * g->scale + g->off_y), GC_CANVAS_SD - 1);
    return cv[(size_t)cy * GC_CANVAS_SD + (size_t)cx];
}

/* The boundary of an instance mask (gc_mask_to_canvas: the image's size or the 960 canvas) over the
 * image drawn at (ox, 0) scaled by s: picture pixels whose mask value differs from a 4-neighbour's. */
static gc_status outline(gc_image *c, const gc_image *img, const gc_image *mask, double s, int ox) {
    uint8_t *cv = gc_alloc((size_t)GC_CANVAS_SD * GC_CANVAS_SD);
    if (!cv) return GC_ERR_NOMEM;
    gc_canvas_geom g;
    gc_status st = gc_mask_to_canvas(mask, img->w, img->h, 0, cv);
    if (st == GC_OK) st = gc_canvas_geometry(img->w, img->h, GC_CANVAS_SD, &g);
    const int w = (int)lround(img->w * s), h = GC_MIN((int)lround(img->h * s), c->h);
    static const uint8_t yellow[3] = {255, 230, 0};
    for (int y = 0; st == GC_OK && y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t v = mask_at(cv, &g, s, x, y);
            if ((x + 1 < w && mask_at(cv, &g, s, x + 1, y) != v) || (y + 1 < h && mask_at(cv, &g, s, x, y + 1) != v)) {
                put(c, ox + x, y, yellow);
                put(c, ox + x + 1, y, yellow); /* two pixels wide: visible at any picture scale */
            }
        }
    gc_free(cv);
    return st;
}

gc_status gc_picture_matches(const gc_image *src, const gc_image *trg, const float *src_xy, const float *trg_xy,
                             int64_t K, gc_image *out) {
    return gc_picture_matches_masked(src, trg, src_xy, trg_xy, K, NULL, NULL, out);
}

gc_status gc_picture_matches_masked(const gc_image *src, const gc_image *trg, const float *src_xy, const float *trg_xy,
                                    int64_t K, const gc_image *mask_src, const gc_image *mask_trg, gc_image *out) {
    memset(out, 0, sizeof *out);
    gc_image c;
    double s0, s1;
    int ox;
    GC_TRY(pair_canvas(&c, src, trg, &s0, &s1, &ox));
    gc_status st = mask_src ? outline(&c, src, mask_src, s0, 0) : GC_OK;
    if (st == GC_OK && mask_trg) st = outline(&c, trg, mask_trg, s1, ox);
    if (st != GC_OK) return gc_image_free(&c), st;
    for (int64_t k = 0; k < K; k++) {
        uint8_t col[3];
        hue(fmod(k * 0.618033988749895, 1.0), col);
        double x0 = src_xy[2 * k] * s0, y0 = src_xy[2 * k + 1] * s0;
        double x1 = ox + trg_xy[2 * k] * s1, y1 = trg_xy[2 * k + 1] * s1;
        line(&c, x0, y0, x1, y1, col);
        disc(&c, x0, y0, 4, col);
        disc(&c, x1, y1, 4, col);
    }
    *out = c;
    return GC_OK;
}

/* Blend sim[3600] in jet colours (2:3 over the picture) into the w x h rectangle of c at (ox, 0) that shows
 * a trg->w x trg->h image scaled by s: each pixel takes the similarity of the 60x60 cell under it in the
 * 840 frame, normalised to the map's range. */
static gc_status blend_similarity(gc_image *c, const gc_image *trg, double s, int ox, const float *sim) {
    gc_canvas_geom g;
    GC_TRY(gc_canvas_geometry(trg->w, trg->h, GC_CANVAS_DINO, &g));
    float lo = sim[0], hi = sim[0];
    for (int t = 1; t < GC_CELLS; t++) {
        lo = fminf(lo, sim[t]);
        hi = fmaxf(hi, sim[t]);
    }
    int w = (int)lround(trg->w * s), h = GC_MIN((int)lround(trg->h * s), c->h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double cx = (x + 0.5) / s * g.scale + g.off_x, cy = (y + 0.5) / s * g.scale + g.off_y;
            int col = GC_MIN((int)(cx * GC_GRID / GC_CANVAS_DINO), GC_GRID - 1), row = GC_MIN((int)(cy * GC_GRID / GC_CANVAS_DINO), GC_GRID - 1);
            double v = hi > lo ? (sim[row * GC_GRID + col] - lo) / (hi - lo) : 0;
            uint8_t hc[3];
            jet(v, hc);
            uint8_t *p = c->rgb + ((size_t)y * c->w + ox + x) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)((p[k] * 2 + hc[k] * 3) / 5);
        }
    return GC_OK;
}

gc_status gc_picture_heatmap(const gc_image *src, const gc_image *trg, const float *query_xy, const float *match_xy,
                             const float *sim, gc_image *out) {
    memset(out, 0, sizeof *out);
    gc_image c;
    double s0, s1;
    int ox;
    GC_TRY(pair_canvas(&c, src, trg, &s0, &s1, &ox));
    gc_status st = blend_similarity(&c, trg, s1, ox, sim);
    if (st != GC_OK) return gc_image_free(&c), st;
    static const uint8_t white[3] = {255, 255, 255}, red[3] = {255, 0, 0};
    disc(&c, query_xy[0] * s0, query_xy[1] * s0, 6, white);
    disc(&c, query_xy[0] * s0, query_xy[1] * s0, 4, red);
    disc(&c, ox + match_xy[0] * s1, match_xy[1] * s1, 6, white);
    disc(&c, ox + match_xy[0] * s1, match_xy[1] * s1, 4, red);
    *out = c;
    return GC_OK;
}

gc_status gc_picture_similarity(const gc_image *trg, const float *sim, gc_image *out) {
    memset(out, 0, sizeof *out);
    gc_image c;
    GC_TRY(gc_image_alloc(&c, trg->w, trg->h));
    memcpy(c.rgb, trg->rgb, (size_t)trg->w * trg->h * 3);
    gc_status st = blend_similarity(&c, trg, 1.0, 0, sim);
    if (st != GC_OK) return gc_image_free(&c), st;
    *out = c;
    return GC_OK;
}
