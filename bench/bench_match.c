/* Matching speed on cached zero-shot maps (s3 640@60, s4 1280@30, s5 1280@15, dino 768@60 ->
 * 3968 channels): descriptors of source, flipped source and target, 30 points by window
 * soft-argmax, and adaptive pose alignment with the mask-free (MNN) and the IMD distance.
 * Compare with tools/bench_match_torch.py (the reference's operations in PyTorch). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/prng_weights.h"
#include "match/align.h"

#define NPTS 30

static gc_weights *maps(const char *tag) {
    static const char *names[4] = {"s3", "s4", "s5", "dino"};
    static const int64_t ch[4] = {640, 1280, 1280, 768}, side[4] = {60, 30, 15, 60};
    gc_weights *w = gc_weights_new(tag);
    for (int i = 0; i < 4; i++) {
        int64_t n = ch[i] * side[i] * side[i];
        float *p = gc_alloc_array((size_t)n, sizeof(float));
        char key[64];
        snprintf(key, sizeof key, "%s.%s", tag, names[i]);
        gc_prng_fill(key, 1, 0.0, 1.0 + i, p, n);
        gc_weights_add_owned_f32(w, names[i], 3, (int64_t[]){ch[i], side[i], side[i]}, p);
    }
    gc_weights_finalize(w);
    return w;
}

static void ellipse(uint8_t *m, double cx, double cy, double rx, double ry) {
    for (int y = 0; y < 960; y++)
        for (int x = 0; x < 960; x++)
            m[y * 960 + x] = ((x - cx) * (x - cx) / (rx * rx) + (y - cy) * (y - cy) / (ry * ry) <= 1) ? 255 : 0;
}

int main(void) {
    gc_set_threads(0);
    printf("bench_match: threads %d\n", gc_get_threads());
    gc_weights *ws = maps("src"), *wf = maps("src_flip"), *wt = maps("trg");
    gc_descriptors s, f, t;
    double t0 = gc_now();
    if (gc_desc_from_weights(ws, NULL, NULL, &s, NULL) || gc_desc_from_weights(wf, NULL, NULL, &f, NULL) ||
        gc_desc_from_weights(wt, NULL, NULL, &t, NULL)) {
        fprintf(stderr, "%s\n", gc_last_error());
        return 1;
    }
    double t_desc = gc_now() - t0;
    float kps[NPTS * 3];
    for (int k = 0; k < NPTS; k++) {
        kps[3 * k] = 200.0f + 15.0f * k;
        kps[3 * k + 1] = 300.0f + 7.0f * (k % 9);
        kps[3 * k + 2] = 1;
    }
    gc_match_params mo = {.window = 5};
    int64_t cells[NPTS];
    float xy[NPTS * 2];
    gc_kps_to_cells(kps, NPTS, cells);
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        t0 = gc_now();
        gc_match_cells(s.rows, t.rows, s.c, cells, NPTS, &mo, xy, NULL, NULL);
        best = fmin(best, gc_now() - t0);
    }
    gc_flip_table cat;
    if (gc_flip_table_builtin("cat", &cat)) return 1;
    static uint8_t ms[GC_CANVAS_SD * GC_CANVAS_SD], msf[GC_CANVAS_SD * GC_CANVAS_SD], mt[GC_CANVAS_SD * GC_CANVAS_SD];
    ellipse(ms, 420, 480, 300, 200);
    ellipse(msf, 540, 480, 300, 200);
    ellipse(mt, 480, 450, 250, 250);
    int64_t ids[NPTS];
    for (int k = 0; k < NPTS; k++) ids[k] = k % 15;
    gc_align_result r;
    t0 = gc_now();
    gc_align_user_points(s.rows, f.rows, t.rows, s.c, kps, ids, NPTS, &cat, NULL, NULL, NULL, &mo, false, &r);
    double t_mnn = gc_now() - t0;
    gc_align_result_free(&r);
    t0 = gc_now();
    gc_align_user_points(s.rows, f.rows, t.rows, s.c, kps, ids, NPTS, &cat, ms, msf, mt, &mo, false, &r);
    double t_imd = gc_now() - t0;
    printf("  masked 64x64 pixels: src %lld, src_flip %lld\n", (long long)r.n_min_orig, (long long)r.n_min_flip);
    gc_align_result_free(&r);
    printf("  zero-shot descriptors (3 images, 3968 ch, fuse + normalise): %8.1f ms\n", 1e3 * t_desc);
    printf("  match %d points, window soft-argmax w=5 (best of 5):        %8.2f ms\n", NPTS, 1e3 * best);
    printf("  %d points + pose alignment, MNN distance (2 x 3600^2 x 3968): %8.1f ms\n", NPTS, 1e3 * t_mnn);
    printf("  %d points + pose alignment, IMD distance (64x64, masks):    %8.1f ms\n", NPTS, 1e3 * t_imd);
    gc_flip_table_free(&cat);
    gc_desc_clear(&s);
    gc_desc_clear(&f);
    gc_desc_clear(&t);
    gc_weights_free(ws);
    gc_weights_free(wf);
    gc_weights_free(wt);
    return 0;
}
