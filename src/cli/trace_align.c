/* `geocorr trace align [--window W] [--mnn] --category NAME` (TRACE.md C): adaptive pose alignment on
 * stored descriptors, keypoints and 960x960 instance masks. */
#include <math.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "match/align.h"

static gc_status mask64(gc_weights *w, const char *name, float *m64) {
    const gc_tensor_ref *t = gc_weights_find(w, name);
    if (!t) return gc_errorf(GC_ERR_MISSING, "%s: no tensor '%s' (IMD needs the three masks; --mnn does not)", gc_weights_label(w), name);
    if (t->dtype != GC_DT_U8 || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must be a U8 [H,W] mask", gc_weights_label(w), name);
    gc_mask_to64(t->data, t->shape[0], t->shape[1], m64);
    return GC_OK;
}

static gc_status run(gc_args *a) {
    const char *in, *out, *cat = NULL, *table_path;
    int64_t win;
    gc_match_params mp = {0};
    GC_TRY(gc_arg_int(a, "--window", 5, &win));
    mp.window = (int)win;
    mp.hard = gc_arg_flag(a, "--hard");
    mp.exclude_outside = gc_arg_flag(a, "--exclude-outside");
    const bool mnn = gc_arg_flag(a, "--mnn");
    cat = gc_arg_str(a, "--category", NULL);
    table_path = gc_arg_str(a, "--flip-table", NULL);
    GC_TRY(gc_arg_req(a, "--inputs", &in));
    GC_TRY(gc_arg_req(a, "--out", &out));
    GC_TRY(gc_args_finish(a));
    if (!cat && !table_path) return gc_errorf(GC_ERR_ARG, "trace align: --category NAME (or --flip-table T.json) is required");
    if (win < -GC_GRID || win > GC_GRID) return gc_errorf(GC_ERR_ARG, "trace align: --window %lld out of range", (long long)win);

    gc_flip_table table = {0}, ktable = {0};
    GC_TRY(table_path ? gc_flip_table_load(table_path, cat, &table) : gc_flip_table_builtin(cat, &table));
    gc_weights *w = NULL;
    gc_align_result r = {0};
    gc_st_writer *wr = NULL;
    float m[3][GC_IMD_RES * GC_IMD_RES];
    int64_t C, C1, C2, K, K2;
    const float *src, *srcf, *trg, *skps, *tkps;
    gc_status s = gc_weights_open(in, &w);
    if (s || (s = gc_desc_tokens_view(w, "src_desc", &C, &src)) || (s = gc_desc_tokens_view(w, "src_flip_desc", &C1, &srcf)) ||
        (s = gc_desc_tokens_view(w, "trg_desc", &C2, &trg)) || (s = gc_kps_view(w, "src_kps", &K, &skps)) ||
        (s = gc_kps_view(w, "trg_kps", &K2, &tkps)))
        goto done;
    if (C1 != C || C2 != C || K2 != K) {
        s = gc_errorf(GC_ERR_SHAPE, "%s: descriptors (%lld/%lld/%lld channels) or keypoints (%lld/%lld rows) disagree", in,
                      (long long)C, (long long)C1, (long long)C2, (long long)K, (long long)K2);
        goto done;
    }
    /* the trace's keypoints are the used points 0..K-1 (renumbering applies when the table differs) */
    int64_t *used = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
    if (!used) {
        s = GC_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < K; i++) used[i] = i;
    s = gc_flip_table_for_points(&table, used, K, &ktable);
    gc_free(used);
    if (s) goto done;
    if (!mnn && ((s = mask64(w, "mask_src_u8", m[0])) || (s = mask64(w, "mask_src_flip_u8", m[1])) ||
                   (s = mask64(w, "mask_trg_u8", m[2]))))
        goto done;
    if ((s = gc_align_points(src, srcf, trg, C, skps, tkps, K, &ktable, mnn ? NULL : m[0], mnn ? NULL : m[1],
                             mnn ? NULL : m[2], &mp, false, &r)))
        goto done;
    float d0 = (float)r.dist_orig, d1 = (float)r.dist_flip;
    wr = gc_st_writer_new();
    if (!wr || (s = GC_ST_ADD_F32(wr, "pred", r.pred, K, 2)) || (s = GC_ST_ADD_F32(wr, "pred_flip", r.pred_flip, K, 2)) ||
        (s = GC_ST_ADD_F32(wr, "merged", r.merged, K, 2)) || (s = gc_st_writer_add(wr, "dist_orig", GC_DT_F32, 0, NULL, &d0)) ||
        (s = gc_st_writer_add(wr, "dist_flip", GC_DT_F32, 0, NULL, &d1)))
        goto done;
    if (!mnn && ((s = GC_ST_ADD_F32(wr, "imd_min_dists_orig", r.imd_min_orig, r.n_min_orig)) ||
                   (s = GC_ST_ADD_F32(wr, "imd_min_dists_flip", r.imd_min_flip, r.n_min_flip))))
        goto done;
    s = gc_st_writer_save(wr, out);
done:
    gc_st_writer_free(wr);
    gc_align_result_free(&r);
    gc_weights_free(w);
    gc_flip_table_free(&table);
    gc_flip_table_free(&ktable);
    return s;
}

const gc_command gc_trace_align = {"align", "adaptive pose alignment (flip, IMD or mutual-NN distance, merge)", run};
