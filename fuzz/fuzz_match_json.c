/* libFuzzer target: the user inputs of `geocorr match` (points files, --points and --box-* text, flip
 * tables), the flip-table machinery applied to whatever parses (renumbering, permutations), and the
 * model identity records its --cache folder keeps (pipeline/image_cache.h). The points parsers are the
 * command line's (src/cli/points.c, compiled into this target). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "match/align.h"
#include "cli/match_output.h"
#include "pipeline/image_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    gc_flip_table t;
    if (gc_flip_table_parse(text, "fuzz", "cat", &t) == GC_OK) {
        int64_t used[32], perm[32];
        bool vis[32];
        for (int i = 0; i < 32; i++) {
            used[i] = i * 3 % 31;
            vis[i] = i % 3 != 0;
        }
        gc_flip_table k;
        if (gc_flip_table_for_points(&t, used, 32, &k) == GC_OK) {
            gc_flip_perm(&k, 32, vis, perm);
            gc_flip_table_free(&k);
        }
        gc_flip_perm(&t, 32, NULL, perm);
        gc_flip_table_free(&t);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/gc_fuzz_points_%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
        float *xy;
        int64_t *ids, K;
        if (gc_points_load(path, &xy, &ids, &K) == GC_OK) {
            free(xy);
            free(ids);
        }
        unlink(path);
    }
    float *xy;
    int64_t K;
    if (gc_points_parse(text, &xy, &K) == GC_OK) free(xy);
    float box[4];
    (void)gc_box_parse(text, "--box", box);
    gc_feature_fn spec;
    if (gc_image_cache_parse_spec(text, size, &spec) == GC_OK)
        for (int k = 0; k < spec.n_maps; k++) (void)(spec.shape[k][0] * spec.shape[k][1] * spec.shape[k][2] + spec.names[k][0]);
    free(text);
    return 0;
}
