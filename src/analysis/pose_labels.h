/* Pose labels of the pose-awareness test's targets: {"targets": [{"name": str, "pose": "l"|"r"|"f"|"b"},
 * ...]} (TRACE.md sec. 11), entry i labelling target i. data/pose_labels_spair_cat.json holds the
 * reference's 100 SPair-71k `cat` labels (img_to_pose of pose_awareness_test.py). */
#ifndef GC_POSE_LABELS_H
#define GC_POSE_LABELS_H

#include "base/base.h"

typedef struct {
    int64_t n;
    char **names; /* [n] */
    char *poses;  /* [n] 'l', 'r', 'f' or 'b' */
} gc_pose_labels;

/* Parse JSON text; `label` names the source in messages. */
gc_status gc_pose_labels_parse(const char *json, const char *label, gc_pose_labels *out);
gc_status gc_pose_labels_load(const char *path, gc_pose_labels *out);
void gc_pose_labels_free(gc_pose_labels *l);

#endif
