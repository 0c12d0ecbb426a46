/* libFuzzer target: the JSON inputs of `geocorr pose-test` / `trace pose-test`: the pose labels
 * ({"targets": [{"name", "pose"}, ...]}) and the tallies over whatever parses; then the same bytes as a
 * box file ({"boxes": {"<name>": [x1, y1, x2, y2]}}) against those labels, or against fixed ones when the
 * bytes are no labels file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pose_boxes.h"
#include "analysis/pose_labels.h"
#include "analysis/pose_test.h"

static const char k_labels[] = "{\"targets\": [{\"name\": \"a\", \"pose\": \"l\"}, {\"name\": \"b.jpg\", \"pose\": \"f\"}]}";

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
    } else if (gc_pose_labels_parse(k_labels, "labels", &l) != GC_OK) {
        abort(); /* the fixed labels always parse */
    }
    gc_pose_box *b = malloc((size_t)l.n * sizeof *b);
    if (b && gc_pose_boxes_parse(text, "fuzz", &l, b) == GC_OK)
        for (int64_t i = 0; i < l.n; i++)
            if (b[i].found && !(b[i].box[0] <= b[i].box[2] && b[i].box[1] <= b[i].box[3])) abort(); /* checked boxes */
    free(b);
    gc_pose_labels_free(&l);
    free(text);
    return 0;
}
