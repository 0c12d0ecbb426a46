/* The JSON report of the pose-awareness test (TRACE.md sec. 11 OUT.json), shared by `geocorr trace
 * pose-test` and `geocorr pose-test`. */
#ifndef GC_POSE_REPORT_H
#define GC_POSE_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "analysis/pose_labels.h"
#include "analysis/pose_test.h"

/* {"targets": [...], "metrics": {...}, "counts": {...}[, "pairs": [...]]} for labels->n targets with
 * results res[n]; pairs (may be NULL) [n * 12], target-major. NULL when out of memory. */
cJSON *gc_pose_report(const gc_pose_labels *labels, const gc_pose_result *res, const gc_pose_pair *pairs);
/* Write a report as indented JSON, atomically. */
gc_status gc_pose_report_write(const char *path, const cJSON *report);
/* The script's three final log lines (metrics), for the terminal. */
void gc_pose_report_print(FILE *f, const gc_pose_labels *labels, const gc_pose_result *res);

#endif
