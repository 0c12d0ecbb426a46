/* gc_extract (geocorr.h): the feature cache of a benchmark split, i.e. the distinct images of the split
 * (through the dataset module), sorted so that the shard partition depends on the list alone, fed to
 * the cache with the GeoAware pipeline loaded once, and / or the reference's instance masks (SAM with
 * each image's ground-truth box). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "match/poses.h"
#include "pipeline/feature_cache.h"
#include "pipeline/mask_cache.h"

/* The distinct images of a split with what masks and poses need. */
typedef struct {
    gc_eval_set set;
    int n;
    char **rel;      /* [n] sorted (pointers into the set) */
    float (*box)[4]; /* [n] instance box: the union over the image's pairs (PF-Pascal's keypoint boxes vary) */
    unsigned *poses; /* [n] orientations besides the original (bits 1 << gc_pose) */
} split_images;

static void split_free(split_images *x) {
    gc_free(x->rel), gc_free(x->box), gc_free(x->poses);
    gc_eval_set_free(&x->set);
    memset(x, 0, sizeof *x);
}

/* An image of a pair: its name, box and pose set. */
typedef struct {
    const char *rel;
    const float *box;
    unsigned poses;
} image_ref;

static int cmp_ref(const void *a, const void *b) { return strcmp(((const image_ref *)a)->rel, ((const image_ref *)b)->rel); }

/* The split of cfg and its distinct images (with every orientation cfg asks for). */
static gc_status load_split(const gc_extract_config *cfg, split_images *x) {
    memset(x, 0, sizeof *x);
    if (!cfg->dataset || !cfg->root || !cfg->cache_dir)
        return gc_errorf(GC_ERR_ARG, "extract: the dataset, its folder and the cache folder are required");
    if (cfg->poses & ~(GC_POSES_AUTO | GC_POSES_ROTATIONS | (1u << GC_POSE_FLIP)))
        return gc_errorf(GC_ERR_ARG, "extract: pose set 0x%x has bits that are no pose (gc_poses_parse)", cfg->poses);
    gc_dataset_kind kind;
    gc_ap10k_subset subset;
    GC_TRY(gc_dataset_kind_parse(cfg->dataset, &kind));
    GC_TRY(gc_ap10k_subset_parse(cfg->subset, &subset));
    GC_TRY(gc_eval_set_load(&x->set, kind, cfg->root, cfg->split ? cfg->split : "test", subset));
    const int m = x->set.n_pairs * 2;
    image_ref *v = gc_alloc_array((size_t)m, sizeof *v);
    x->rel = gc_alloc_array((size_t)m, sizeof(char *));
    x->box = gc_alloc_array((size_t)m, sizeof *x->box);
    x->poses = gc_alloc_array((size_t)m, sizeof(unsigned));
    if (!v || !x->rel || !x->box || !x->poses) return gc_free(v), split_free(x), GC_ERR_NOMEM;
    const unsigned flip = cfg->flip ? 1u << GC_POSE_FLIP : 0;
    for (int i = 0; i < x->set.n_pairs; i++) {
        const gc_eval_pair *p = &x->set.pairs[i];
        const unsigned ps = flip | gc_poses_resolve(cfg->poses, p->category);
        v[2 * i] = (image_ref){p->src, p->src_box, ps}, v[2 * i + 1] = (image_ref){p->trg, p->trg_box, ps};
    }
    qsort(v, (size_t)m, sizeof *v, cmp_ref);
    for (int i = 0; i < m; i++) {
        const float *b = v[i].box;
        if (x->n == 0 || strcmp(x->rel[x->n - 1], v[i].rel) != 0) {
            x->rel[x->n] = (char *)v[i].rel, x->poses[x->n] = v[i].poses;
            memcpy(x->box[x->n++], b, sizeof x->box[0]);
            continue;
        }
        float *u = x->box[x->n - 1]; /* fminf / fmaxf skip a NaN side: a pair without keypoints adds nothing */
        u[0] = fminf(u[0], b[0]), u[1] = fminf(u[1], b[1]), u[2] = fmaxf(u[2], b[2]), u[3] = fmaxf(u[3], b[3]);
        x->poses[x->n - 1] |= v[i].poses;
    }
    gc_free(v);
    return GC_OK;
}

gc_status gc_extract_status(const gc_extract_config *cfg, gc_extract_shard_status *shards, gc_extract_models *models,
                            int *n_images) {
    split_images x;
    GC_TRY(load_split(cfg, &x));
    const int ns = cfg->n_shards ? cfg->n_shards : 1, np = cfg->masks ? 2 : 1;
    gc_cache_product prods[2];
    gc_extract_shard_status *per = gc_alloc_array((size_t)(np * ns), sizeof *per);
    gc_status s = per ? gc_cache_features_init(NULL, false, &prods[0]) : GC_ERR_NOMEM;
    if (s == GC_OK && cfg->masks) s = gc_cache_masks_init(NULL, cfg->cache_dir, NULL, &prods[1]);
    if (s == GC_OK) s = gc_cache_status_run(prods, np, cfg->cache_dir, x.rel, x.poses, x.n, ns, per, models);
    for (int k = 0; s == GC_OK && k < ns; k++) {
        shards[k] = per[k];
        if (np < 2) continue;
        const gc_extract_shard_status *m = &per[ns + k];
        shards[k].total += m->total, shards[k].done += m->done, shards[k].invalid += m->invalid;
        shards[k].running += m->running, shards[k].stale += m->stale;
        shards[k].masks = m->total, shards[k].masks_done = m->done;
    }
    if (n_images) *n_images = x.n;
    gc_free(per);
    split_free(&x);
    return s;
}

gc_status gc_extract(const gc_features_config *models, const gc_extract_config *cfg, gc_extract_stats *st) {
    memset(st, 0, sizeof *st);
    const bool features = models && (models->dinov2 || models->models_dir);
    if (!features && !cfg->masks)
        return gc_errorf(GC_ERR_ARG, "extract: no models given (a models folder or at least the DINOv2 path; docs/models.md)");
    if (cfg->masks && !cfg->sam) return gc_errorf(GC_ERR_ARG, "extract: the instance masks need a SAM model");
    gc_extract_config o = *cfg;
    if (o.n_shards == 0) o.n_shards = 1;
    split_images x;
    GC_TRY(load_split(cfg, &x));
    gc_feature_fn fn = {0};
    gc_sam *sam = NULL;
    gc_cache_product prods[2];
    int np = 0;
    char *img_root = gc_strfmt("%s/JPEGImages", cfg->root);
    gc_status s = img_root ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && features && (s = gc_feature_fn_pipeline(models, &fn)) == GC_OK &&
        (s = gc_cache_features_init(&fn, o.f16 != 0, &prods[np])) == GC_OK)
        np++;
    const bool have_features = np == 1;
    if (s == GC_OK && cfg->masks && (s = gc_sam_load(cfg->sam, cfg->sam_config, &sam)) == GC_OK &&
        (s = gc_cache_masks_init(sam, cfg->cache_dir, (const float(*)[4])x.box, &prods[np])) == GC_OK)
        np++;
    if (s == GC_OK) s = gc_cache_run(prods, np, img_root, x.rel, x.poses, x.n, &o, st);
    if (have_features) gc_cache_features_free(&prods[0]);
    if (np > (int)have_features) gc_cache_masks_free(&prods[np - 1]);
    if (fn.ctx) gc_feature_fn_pipeline_free(&fn);
    gc_sam_free(sam);
    free(img_root);
    split_free(&x);
    return s;
}
