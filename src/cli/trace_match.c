/* `geocorr trace match [--hard | --window W]` (TRACE.md C): keypoint transfer on stored descriptors. */
#include "cli/cli.h"
#include "io/safetensors.h"
#include "match/match.h"

static gc_status run(gc_args *a) {
    const char *in, *out;
    int64_t win;
    gc_match_params o = {0};
    o.hard = gc_arg_flag(a, "--hard");
    GC_TRY(gc_arg_int(a, "--window", 7, &win));
    o.window = (int)win;
    o.exclude_outside = gc_arg_flag(a, "--exclude-outside");
    GC_TRY(gc_arg_req(a, "--inputs", &in));
    GC_TRY(gc_arg_req(a, "--out", &out));
    GC_TRY(gc_args_finish(a));
    if (win < -GC_GRID || win > GC_GRID) return gc_errorf(GC_ERR_ARG, "trace match: --window %lld out of range", (long long)win);

    gc_weights *w;
    GC_TRY(gc_weights_open(in, &w));
    int64_t C, C2, K;
    const float *src, *trg, *kps;
    float *pred = NULL, *all = NULL;
    int64_t *cells = NULL, *all_cells = NULL;
    gc_st_writer *wr = NULL;
    gc_status s;
    if ((s = gc_desc_tokens_view(w, "src_desc", &C, &src)) || (s = gc_desc_tokens_view(w, "trg_desc", &C2, &trg)) ||
        (s = gc_kps_view(w, "kps", &K, &kps)))
        goto done;
    if (C != C2) {
        s = gc_errorf(GC_ERR_SHAPE, "%s: src_desc has %lld channels, trg_desc %lld", in, (long long)C, (long long)C2);
        goto done;
    }
    pred = gc_alloc_array((size_t)(2 * K + 1), sizeof(float));
    all = gc_alloc_array(2 * GC_CELLS, sizeof(float));
    cells = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
    all_cells = gc_alloc_array(GC_CELLS, sizeof(int64_t));
    if (!pred || !all || !cells || !all_cells) {
        s = GC_ERR_NOMEM;
        goto done;
    }
    gc_kps_to_cells(kps, K, cells);
    for (int64_t t = 0; t < GC_CELLS; t++) all_cells[t] = t;
    if ((s = gc_match_cells(src, trg, C, cells, K, &o, pred, NULL, NULL)) ||
        (s = gc_match_cells(src, trg, C, all_cells, GC_CELLS, &o, all, NULL, NULL)))
        goto done;
    wr = gc_st_writer_new();
    if (!wr || (s = GC_ST_ADD_F32(wr, "pred_kps", pred, K, 2)) || (s = GC_ST_ADD_F32(wr, "pred_all_cells", all, GC_CELLS, 2)) ||
        (s = gc_st_writer_add(wr, "patch_idx", GC_DT_I64, 1, (int64_t[]){K}, cells)))
        goto done;
    s = gc_st_writer_save(wr, out);
done:
    gc_st_writer_free(wr);
    gc_free(pred);
    gc_free(all);
    gc_free(cells);
    gc_free(all_cells);
    gc_weights_free(w);
    return s;
}

const gc_command gc_trace_match = {"match", "hard argmax / window soft-argmax keypoint transfer on stored descriptors", run};
