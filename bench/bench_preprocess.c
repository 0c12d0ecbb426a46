/* Image decoding and the reference canvas preprocessing on the fixture photos: milliseconds per
 * operation (median of runs), one thread and all threads. tools/bench_preprocess_pillow.py times the
 * same operations in Pillow (bench_preprocess.sh prints both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

#define RUNS 9

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(double *t) {
    qsort(t, RUNS, sizeof *t, cmp_double);
    return 1e3 * t[RUNS / 2];
}

static int bench_file(const char *fixtures, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/images/%s", fixtures, name);
    char *buf;
    size_t len;
    if (gc_read_file(path, &buf, &len, 1 << 26) != GC_OK) {
        fprintf(stderr, "%s\n", gc_last_error());
        return 1;
    }
    double t[RUNS];
    gc_image img = {0};
    for (int r = 0; r < RUNS; r++) {
        gc_image_free(&img);
        double t0 = gc_now();
        if (gc_image_decode(buf, len, path, &img) != GC_OK) {
            fprintf(stderr, "%s\n", gc_last_error());
            return 1;
        }
        t[r] = gc_now() - t0;
    }
    free(buf);
    printf("%-14s %dx%d  decode            %8.2f ms\n", name, img.w, img.h, median_ms(t));
    const int threads[2] = {1, gc_get_threads()};
    for (int S = GC_CANVAS_DINO; S <= GC_CANVAS_SD; S += GC_CANVAS_SD - GC_CANVAS_DINO)
        for (int ti = 0; ti < 2; ti++) {
            gc_set_threads(threads[ti]);
            for (int r = 0; r < RUNS; r++) {
                gc_image canvas;
                double t0 = gc_now();
                if (gc_image_to_canvas(&img, S, 0, &canvas, NULL) != GC_OK) return 1;
                t[r] = gc_now() - t0;
                gc_image_free(&canvas);
            }
            printf("%-14s %dx%d  canvas %d, %d thr %8.2f ms\n", name, img.w, img.h, S, threads[ti], median_ms(t));
        }
    gc_set_threads(0);
    gc_image_free(&img);
    return 0;
}

int main(void) {
    const char *fx = getenv("GEOCORR_FIXTURES");
    if (!fx || !*fx) fx = getenv("GEOCORR_FIXTURES_DEFAULT");
    if (!fx || !*fx) fx = "../shared/fixtures";
    gc_set_threads(0);
    printf("geocorr image preprocessing (median of %d runs; %d threads available)\n", RUNS, gc_get_threads());
    return bench_file(fx, "antelope.jpg") || bench_file(fx, "unicorn.jpg");
}
