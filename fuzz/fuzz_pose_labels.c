/* libFuzzer target: the pose-label files of `geocorr pose-test` / `trace pose-test`
 * ({"targets": [{"name", "pose"}, ...]}), and the tallies over whatever parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pose_labels.h"
#include "analysis/pose_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    gc_pose_labels l;
    if (gc_pose_labels_parse(text, "fuzz", &l) == GC_OK) {
        gc_pose_result r = {.bf = 'f', .lr = 'l', .pose4 = 'r'};
        gc_pose_counts c = {0};
        double m[6];
        for (int64_t i = 0; i < l.n; i++) gc_pose_count(&c, l.poses[i], &r);
        gc_pose_metrics(&c, m);
        gc_pose_labels_free(&l);
    }
    free(text);
    return 0;
}
