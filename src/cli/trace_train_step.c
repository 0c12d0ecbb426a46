/* `geocorr trace train-step --weights W --inputs IN --out OUT [--jitter G] [--double-flip W2]
 * [--self-flip W3] [--single-flip W1]` (TRACE.md §3): one training pair through the reference loss
 * and the backward pass, dropout off, the jitter draws read from IN (`t{k}.jitter_z`). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/postproc.h"
#include "pipeline/fuse.h"
#include "train/train_step.h"

typedef struct {
    gc_weights *in;
    const char *path;
} jitter_ctx;

static gc_status read_jitter(void *vctx, int term, int64_t n, float *z) {
    jitter_ctx *c = vctx;
    char key[32];
    snprintf(key, sizeof key, "t%d.jitter_z", term);
    const float *p;
    gc_status s = GC_WEIGHT(c->in, key, &p, n, 2);
    if (s != GC_OK) return gc_error_context(s, "%s: the jitter draws of term %d ([%lld, 2])", c->path, term, (long long)n);
    memcpy(z, p, (size_t)(2 * n) * sizeof(float));
    return GC_OK;
}

/* One of the four feature maps, fused to [cin, 60*60] (cat(s3, up(s4), up(s5), dino)). */
static gc_status load_map(const gc_postproc *m, gc_weights *in, const char *path, const char *slot, float **out) {
    static const char *const parts[4] = {"s3", "s4", "s5", "dino"};
    gc_map_view v[4];
    for (int k = 0; k < 4; k++) {
        char key[48];
        snprintf(key, sizeof key, "%s.%s", slot, parts[k]);
        const gc_tensor_ref *r = gc_weights_find(in, key);
        if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s'", path, key);
        const bool full = k == 0 || k == 3;
        if (r->ndim != 4 || r->shape[0] != 1 || r->shape[1] != m->fd[k] || (full && (r->shape[2] != 60 || r->shape[3] != 60)))
            return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must be [1, %lld, H, W]%s (the post-processor's group %d width)",
                             path, key, (long long)m->fd[k], full ? " with H = W = 60" : "", k);
        GC_TRY(gc_weights_f32(in, key, 4, r->shape, &v[k].data));
        v[k].c = r->shape[1], v[k].h = r->shape[2], v[k].w = r->shape[3];
    }
    *out = gc_alloc_array((size_t)(m->cin * 3600), sizeof(float));
    if (!*out) return gc_error_context(GC_ERR_NOMEM, "fused map");
    return gc_fuse_maps(*out, v, 4, 60, false);
}

static gc_status read_f64(gc_weights *in, const char *path, const char *key, double *v) {
    const gc_tensor_ref *r = gc_weights_find(in, key);
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s'", path, key);
    if (r->numel != 1) return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must hold one value", path, key);
    if (r->dtype == GC_DT_F64) {
        memcpy(v, r->data, sizeof *v);
        return GC_OK;
    }
    const float *f;
    GC_TRY(gc_weights_f32(in, key, r->ndim, r->shape, &f));
    *v = *f;
    return GC_OK;
}

static gc_status read_kps(gc_weights *in, const char *path, const char *key, const float **p, int64_t *n) {
    const gc_tensor_ref *r = gc_weights_find(in, key);
    if (!r) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s'", path, key);
    if (r->ndim != 2 || r->shape[1] != 3 || r->shape[0] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: '%s' must be [N, 3] (x, y, vis)", path, key);
    *n = r->shape[0];
    return gc_weights_f32(in, key, 2, r->shape, p);
}

static gc_status write_term(gc_st_writer *wr, int k, const gc_loss_term *t) {
    char key[64];
    float v;
#define GC_TKEY(suffix) (snprintf(key, sizeof key, "t%d.%s", k, suffix), key)
    v = t->value;
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("value"), &v, 1));
    v = (float)t->weight;
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("weight"), &v, 1));
    v = t->dense;
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("dense"), &v, 1));
    if (k == 0) {
        v = t->sparse;
        GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("sparse"), &v, 1));
    } else {
        GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("kps_1"), t->kps1, t->n, 3));
        GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("kps_2"), t->kps2, t->n, 3));
    }
    GC_TRY(gc_st_writer_add(wr, GC_TKEY("src_patch_idx"), GC_DT_I64, 1, (int64_t[]){t->n}, t->src_idx));
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("gt_flow_pre_jitter"), t->gt_pre, t->n, 2));
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("gt_flow"), t->gt, t->n, 2));
    GC_TRY(GC_ST_ADD_F32(wr, GC_TKEY("flow_map"), t->flow_map, 60, 60, 2));
#undef GC_TKEY
    return GC_OK;
}

typedef struct {
    gc_postproc m;
    gc_weights *in;
    float *x[4], *grad, grad_g[120], g[120];
    gc_pp_cache caches[4];
    gc_pair_loss loss;
    gc_st_writer *wr;
} state;

static gc_status run_step(state *st, const char *path, const gc_loss_cfg *cfg) {
    static const char *const slots[4] = {"src", "trg", "src_flip", "trg_flip"};
    static const char *const desc_keys[4] = {"desc_src", "desc_trg", "desc_src_flip", "desc_trg_flip"};
    const int nslots = gc_loss_cfg_uses_flips(cfg) ? 4 : 2;
    for (int k = 0; k < nslots; k++) GC_TRY(load_map(&st->m, st->in, path, slots[k], &st->x[k]));
    gc_step_inputs si = {0};
    for (int k = 0; k < 4; k++) si.x[k] = st->x[k];
    int64_t nt = 0;
    GC_TRY(read_kps(st->in, path, "src_kps", &si.kps_src, &si.nk));
    GC_TRY(read_kps(st->in, path, "trg_kps", &si.kps_trg, &nt));
    if (nt != si.nk) return gc_errorf(GC_ERR_SHAPE, "%s: src_kps and trg_kps have %lld and %lld rows", path, (long long)si.nk, (long long)nt);
    GC_TRY(read_f64(st->in, path, "threshold_src_840", &si.thr_src));
    GC_TRY(read_f64(st->in, path, "threshold_trg_840", &si.thr_trg));
    const gc_tensor_ref *pr = gc_weights_find(st->in, "permute_indices");
    if (nslots == 4) {
        if (!pr) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor 'permute_indices' (flip terms are on)", path);
        if (pr->dtype != GC_DT_I64 || pr->ndim != 1)
            return gc_errorf(GC_ERR_SHAPE, "%s: 'permute_indices' must be I64 [P]", path);
        si.perm = pr->data;
        si.np = pr->numel;
    }
    gc_grid_linspace(st->g, 60);
    gc_grid_linspace(st->g + 60, 60);
    static const char *const gkeys[2] = {"corr_map_net.x_normal", "corr_map_net.y_normal"};
    for (int a = 0; a < 2; a++) {
        if (!gc_weights_has(st->in, gkeys[a])) continue;
        const float *p;
        GC_TRY(GC_WEIGHT(st->in, gkeys[a], &p, 60));
        memcpy(st->g + 60 * a, p, 60 * sizeof(float));
    }
    st->grad = gc_calloc((size_t)st->m.n_params, sizeof(float));
    if (!st->grad) return gc_error_context(GC_ERR_NOMEM, "gradients");
    jitter_ctx jc = {st->in, path};
    GC_TRY(gc_train_step(&st->m, st->g, cfg, &si, read_jitter, &jc, st->grad, st->grad_g, st->caches, &st->loss));

    gc_st_writer *wr = st->wr;
    GC_TRY(GC_ST_ADD_F32(wr, "loss", &st->loss.loss, 1));
    for (int k = 0; k < st->loss.n_terms; k++) GC_TRY(write_term(wr, k, &st->loss.t[k]));
    for (int k = 0; k < nslots; k++) GC_TRY(GC_ST_ADD_F32(wr, desc_keys[k], st->caches[k].desc, 3600, st->m.proj));
    for (int i = 0; i < st->m.n_tensors; i++) {
        const gc_pp_tensor *t = &st->m.tensors[i];
        if (strcmp(t->name, "self_logit_scale") == 0) continue; /* never gets a gradient */
        char key[96];
        snprintf(key, sizeof key, "grad.%s", t->name);
        GC_TRY(gc_st_writer_add(wr, key, GC_DT_F32, t->ndim, t->shape, st->grad + t->offset));
    }
    GC_TRY(GC_ST_ADD_F32(wr, "grad.corr_map_net.x_normal", st->grad_g, 60));
    GC_TRY(GC_ST_ADD_F32(wr, "grad.corr_map_net.y_normal", st->grad_g + 60, 60));
    return GC_OK;
}

static gc_status run(gc_args *a) {
    const char *weights, *inputs, *out;
    gc_loss_cfg cfg = gc_loss_cfg_default();
    cfg.flow_maps = true;
    GC_TRY(gc_trace_io_args(a, &weights, &inputs, &out));
    GC_TRY(gc_arg_double(a, "--jitter", cfg.jitter, &cfg.jitter));
    GC_TRY(gc_arg_double(a, "--double-flip", cfg.w_double, &cfg.w_double));
    GC_TRY(gc_arg_double(a, "--self-flip", cfg.w_self, &cfg.w_self));
    GC_TRY(gc_arg_double(a, "--single-flip", cfg.w_single, &cfg.w_single));
    GC_TRY(gc_args_finish(a));
    if (cfg.jitter < 0 || cfg.w_double < 0 || cfg.w_self < 0 || cfg.w_single < 0)
        return gc_errorf(GC_ERR_ARG, "trace train-step: --jitter and the flip weights must be >= 0");
    state *st = gc_calloc(1, sizeof *st);
    if (!st) return gc_error_context(GC_ERR_NOMEM, "trace train-step");
    gc_status s = gc_postproc_open(&st->m, weights, 0);
    if (s == GC_OK && st->m.n_groups != GC_PP_GROUPS)
        s = gc_errorf(GC_ERR_ARG, "%s: a DINO-only post-processor; trace train-step takes the four-group network", weights);
    if (s == GC_OK) s = gc_weights_open(inputs, &st->in);
    if (s == GC_OK) {
        st->wr = gc_st_writer_new();
        if (!st->wr) s = gc_errorf(GC_ERR_NOMEM, "trace train-step: writer");
    }
    if (s == GC_OK) s = run_step(st, inputs, &cfg);
    if (s == GC_OK) s = gc_st_writer_save(st->wr, out);
    gc_st_writer_free(st->wr);
    for (int k = 0; k < 4; k++) {
        gc_free(st->x[k]);
        gc_pp_cache_free(&st->caches[k]);
    }
    gc_pair_loss_free(&st->loss);
    gc_free(st->grad);
    gc_weights_free(st->in);
    gc_postproc_clear(&st->m);
    gc_free(st);
    return s;
}

const gc_command gc_trace_train_step = {"train-step", "one training pair: losses, flow maps, every gradient", run};
