/* libFuzzer target: the user JSON files of `geocorr match` (points files and flip tables), and the
 * flip-table machinery applied to whatever parses (renumbering, permutations). The points parsers are
 * the command line's (src/cli/points.c, compiled into this target). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "match/align.h"
#include "cli/match_output.h"

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
    free(text);
    return 0;
}
