/* Instance boxes of the pose-awareness test's targets: the prompts of their SAM masks (`geocorr pose-test
 * --sam W --boxes SRC`). SRC is either
 *  - a SPair-71k ImageAnnotation folder of the targets' category (<SRC>/<stem>.json: its bndbox and image
 *    size, read by the dataset reader; e.g. SPair-71k/ImageAnnotation/cat for JPEGImages/cat), or
 *  - a JSON file {"boxes": {"<name>": [x1, y1, x2, y2], ...}} (image pixels).
 * A target's stem is its name without .jpg, .jpeg or .png; a file key matches the targets of the same stem.
 * A target without an annotation file or key has no box (the caller's all-ones fallback); a malformed
 * annotation, box or file is an error naming the file and the key. */
#ifndef GC_POSE_BOXES_H
#define GC_POSE_BOXES_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/pose_labels.h"

typedef struct {
    bool found;
    float box[4]; /* x1, y1, x2, y2 in the image's pixels; x1 <= x2, y1 <= y2 */
    int32_t w, h; /* the annotation's image size (0 when the source gives none: the JSON file) */
} gc_pose_box;

/* The length of name's stem (name without a trailing .jpg, .jpeg or .png). */
size_t gc_pose_name_stem(const char *name);

/* out[l->n]: the boxes of the JSON text (`label` names it in messages). */
gc_status gc_pose_boxes_parse(const char *json, const char *label, const gc_pose_labels *l, gc_pose_box *out);
/* out[l->n]: the boxes from SRC, a folder or a file as above. */
gc_status gc_pose_boxes_load(const char *src, const gc_pose_labels *l, gc_pose_box *out);

#endif
