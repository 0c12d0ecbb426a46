/* The dataset module that evaluation and training both read through. Benchmark readers: SPair-71k,
 * PF-Pascal and the AP-10K correspondence benchmark in the layouts the reference's loaders read
 * (REFERENCE.md §8), producing per-pair keypoints in the 840 ANNO frame and
 * PCK thresholds exactly as `utils_dataset.py` (float32 keypoint arithmetic, float64 thresholds) and
 * `utils/eval_spair.py` (float32 thresholds from the image annotation) compute them. */
#ifndef GC_DATA_DATASET_H
#define GC_DATA_DATASET_H

#include <stdbool.h>

#include "base/base.h"

#define GC_EVAL_MAX_KPS 30

/* One SPair-71k image annotation (ImageAnnotation/<category>/<stem>.json), as the pair reader and
 * `pose-test --boxes` read it: sizes, bndbox, the 30 keypoints, the azimuth bin. */
typedef struct {
    double w, h;        /* image_width, image_height */
    float box[4];       /* bndbox (x1, y1, x2, y2) in original pixels, as float32 */
    double bbox_max;    /* max(y2 - y1, x2 - x1) in float64 (eval_spair's threshold) */
    float kps[30][3];   /* (x, y, 1) or zeros for a null keypoint */
    int azimuth;        /* azimuth_id, -1 when absent */
} gc_spair_image;
/* Read and check one annotation file; a problem names the file and the key. */
gc_status gc_spair_image_load(const char *path, gc_spair_image *out);

typedef enum { GC_DS_SPAIR, GC_DS_PFPASCAL, GC_DS_AP10K } gc_dataset_kind;
typedef enum { GC_AP10K_INTRA, GC_AP10K_CROSS_SPECIES, GC_AP10K_CROSS_FAMILY } gc_ap10k_subset;

typedef struct {
    char *category;      /* evaluation category: SPair/PF-Pascal class, AP-10K species / family / "all" */
    char *src_category;  /* parent folder of the source image (eval_spair.py's grouping) */
    char *src, *trg;     /* image paths relative to <root>/JPEGImages */
    char *pair_file;     /* the annotation the pair came from (messages) */
    float src_kps[GC_EVAL_MAX_KPS][3]; /* raw keypoint ids, (x, y, vis) in the 840 frame, invisible = 0 */
    float trg_kps[GC_EVAL_MAX_KPS][3];
    float trg_kps_img[GC_EVAL_MAX_KPS][3]; /* target keypoints scaled by the image annotation's size (eval_spair) */
    double thr;          /* compute_pck threshold: target bbox max side x target scale (float64) */
    float thr_img;       /* eval_spair threshold: image-annotation bbox max side x scale, as float32 */
    double thr_src;      /* training (self flip): source bbox max side x source scale (float64); PF-Pascal 840 */
    float trg_scale;     /* original target pixels -> 840 frame: x*scale + off (float32 as the loader) */
    float trg_off[2];    /* (offset_x, offset_y) */
    int az;              /* SPair azimuth-variation bin min(|a_s-a_t|, 8-|a_s-a_t|) in 0..4, -1 elsewhere */
    int src_wh[2], trg_wh[2]; /* original image sizes (w, h) */
    /* The instance box of each image in original pixels (x1, y1, x2, y2), as preprocess_mask_sam.py prompts
     * SAM with it: SPair the image annotation's bndbox, AP-10K its bbox [x, y, w, h] as corners (summed in
     * double, then float32); PF-Pascal has none: the box of the pair's visible keypoints (NaN without any; extract
     * takes the union over an image's pairs). */
    float src_box[4], trg_box[4];
} gc_eval_pair;

typedef struct {
    gc_dataset_kind kind;
    int n_kps;           /* raw keypoint ids per image: 30 SPair, 20 PF-Pascal, 17 AP-10K */
    int n_categories;
    char **categories;   /* [n_categories] sorted, as the reference iterates them */
    int n_pairs;
    gc_eval_pair *pairs; /* [n_pairs] grouped by category in that order, pair files sorted within */
    int *by_name;        /* [n_pairs] pair indices sorted by (src, trg), for gc_eval_set_find */
} gc_eval_set;

/* Parse "spair" | "pfpascal" | "ap10k" and "intra-species" | "cross-species" | "cross-family". */
gc_status gc_dataset_kind_parse(const char *s, gc_dataset_kind *out);
gc_status gc_ap10k_subset_parse(const char *s, gc_ap10k_subset *out);
const char *gc_dataset_kind_name(gc_dataset_kind k);

/* Read every pair of a split. root = the dataset folder (.../SPair-71k, .../PF-dataset-PASCAL,
 * .../ap-10k); split = trn|val|test (PF-Pascal: train|val|test; "trn" is accepted for "train").
 * subset only matters for AP-10K. A layout problem is reported with the path at fault and what was
 * expected there. */
gc_status gc_eval_set_load(gc_eval_set *s, gc_dataset_kind kind, const char *root, const char *split,
                           gc_ap10k_subset subset);
void gc_eval_set_free(gc_eval_set *s);

/* Sort idx[0..n) by the names of their pairs (pair sel[v], or v when sel is NULL, for a value v):
 * (src, trg), or (trg, src) with target_first; ties by value. */
gc_status gc_eval_pairs_sort(const gc_eval_set *s, const int *sel, int *idx, int n, bool target_first);
/* Index of the first pair (src, trg) (paths relative to JPEGImages) in the set, or -1. */
int gc_eval_set_find(const gc_eval_set *s, const char *src, const char *trg);

/* Keypoint compaction (REFERENCE.md §5.1): the raw ids visible in at least one image of the pairs
 * pairs[0..n) (indices into s->pairs), ascending, into used[]; returns their count. */
int gc_eval_used_points(const gc_eval_set *s, const int *pairs, int n, int *used);

/* The reference's test sampling: per category, `np.random.seed(42); np.random.choice(len, n)`
 * (with replacement). Returns the chosen pair indices into s->pairs, category by category
 * (caller frees). n <= 0 selects every pair. */
gc_status gc_eval_set_sample(const gc_eval_set *s, int n, int **idx, int *count);

#endif
