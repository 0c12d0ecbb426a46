/* The AP-10K correspondence benchmark of the paper, built from the official release exactly as the
 * authors' notebook prepare_ap10k.ipynb builds it (cells 0-5; TRACE.md §9, REFERENCE.md §8.3): merged
 * COCO annotations -> one JSON per image in ImageAnnotation/<family>/<species>/, byte-identical image
 * copies in JPEGImages/, the crowd / < 3 keypoint filter and the train / val / test lists per species,
 * and the intra-species, cross-species and cross-family pairs drawn with CPython's `random` (seed 42)
 * bit for bit. Where the notebook walks the file system in its own order, folders and files are taken
 * sorted by byte value. */
#ifndef GC_EVAL_AP10K_BUILD_H
#define GC_EVAL_AP10K_BUILD_H

#include <stdio.h>

#include "base/base.h"

/* Pair folders under PairAnnotation/, in this order. */
enum { GC_AP_TRN, GC_AP_VAL, GC_AP_TEST, GC_AP_VAL_CS, GC_AP_TEST_CS, GC_AP_VAL_CF, GC_AP_TEST_CF, GC_AP_NSETS };
extern const char *const gc_ap10k_pair_dirs[GC_AP_NSETS];

typedef struct {
    const char *raw;        /* the release: annotations/ap10k-{train,test,val}-split1.json and data/<id>.jpg */
    const char *out;        /* the benchmark folder (normally data/ap-10k): absent or empty; parents are created */
    const char *crowd_list; /* image ids with several animals, one per line; NULL = data/ap-10k_is_crowd.txt */
    FILE *log;              /* progress lines (NULL: quiet) */
} gc_ap10k_build_opts;

typedef struct {
    int64_t annotations;    /* annotations kept: the first of each image id in the three files */
    int64_t records;        /* image annotation files written (one per annotated image) */
    int64_t images;         /* JPEGs copied */
    int64_t crowd, few_kps; /* records left out of the lists: on the crowd list, fewer than 3 keypoints */
    int64_t list[3];        /* images in the train, val, test lists (all species) */
    int64_t families, species;
    int64_t pairs[GC_AP_NSETS];
} gc_ap10k_build_counts;

/* Build the benchmark. The release is only read. The tree is written into a temporary folder beside
 * OUT and renamed into place at the end, so OUT either holds the whole benchmark or does not exist
 * (a failure removes the temporary folder; a killed run leaves "<OUT>.partial-<pid>", never OUT). */
gc_status gc_ap10k_build(const gc_ap10k_build_opts *o, gc_ap10k_build_counts *counts);

#endif
