/* DINOv2 forward pass (facebookresearch/dinov2 DinoVisionTransformer.forward_features, block_chunks=0):
 * patch embed, cls (+ registers), interpolated position table, pre-LN blocks with LayerScale,
 * final LayerNorm. Attention goes through the tiled gc_attention (no T x T buffer). */
#include "models/dinov2.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "tensor/im2col.h"
#include "tensor/resample.h"

#define GC_DINOV2_HINT                                                                                  \
    "DINOv2 needs config.json + model.safetensors from the HuggingFace repo facebook/dinov2-base "     \
    "(https://huggingface.co/facebook/dinov2-base; scripts/fetch-models.sh downloads them)"

/* Parameter `hf` (HF naming) or `up` (hub naming) under the block prefix `bp` ("" outside blocks). */
static gc_status dino_param(gc_weights *w, bool hub, const char *bp, const char *hf, const char *up, int ndim,
                            const int64_t *shape, const float **out) {
    char name[256];
    snprintf(name, sizeof name, "%s%s", bp, hub ? up : hf);
    return gc_weights_f32(w, name, ndim, shape, out);
}
#define DINO_PARAM(bp, hf, up, out, ...)                                                               \
    GC_TRY(dino_param(w, hub, bp, hf, up, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                      (const int64_t[]){__VA_ARGS__}, out))

/* Name prefix of block i: "encoder.layer.i." (HF), "blocks.i." (hub) or "blocks.c.i." (hub saved with
 * block_chunks > 0: chunk c holds block i). False when block i does not exist. */
static bool dino_block_prefix(const gc_weights *w, bool hub, int64_t i, char *bp, size_t len) {
    char name[256];
    snprintf(bp, len, hub ? "blocks.%lld." : "encoder.layer.%lld.", (long long)i);
    snprintf(name, sizeof name, "%snorm1.weight", bp);
    if (gc_weights_has(w, name)) return true;
    for (int64_t c = 0; hub && c < 64; c++) {
        snprintf(bp, len, "blocks.%lld.%lld.", (long long)c, (long long)i);
        snprintf(name, sizeof name, "%snorm1.weight", bp);
        if (gc_weights_has(w, name)) return true;
    }
    return false;
}

/* Decide the naming and prefix from the first key of each layout. */
static gc_status dino_detect_naming(gc_weights *w, bool *hub) {
    if (gc_weights_detect_prefix(w, "embeddings.cls_token")) {
        *hub = false;
        return GC_OK;
    }
    /* a DINOv2 training checkpoint holds teacher and student: the teacher is the model */
    if (gc_weights_detect_prefix(w, "cls_token")) {
        *hub = true;
        return GC_OK;
    }
    if (gc_weights_detect_prefix(w, "teacher.backbone.cls_token")) {
        char *p = gc_strfmt("%steacher.backbone.", gc_weights_prefix(w));
        if (!p) return GC_ERR_NOMEM;
        gc_weights_set_prefix(w, p);
        free(p);
        *hub = true;
        return GC_OK;
    }
    return gc_errorf(GC_ERR_MISSING,
                     "%s: not a DINOv2 checkpoint: no tensor 'embeddings.cls_token' (HF naming) or 'cls_token' "
                     "(upstream naming) under any prefix",
                     gc_weights_label(w));
}

static gc_status dino_load_blocks(gc_dinov2 *m, gc_weights *w, bool hub) {
    int64_t D = m->dim;
    for (int64_t i = 0; i < m->depth; i++) {
        gc_dinov2_block *b = &m->blocks[i];
        char bp[64];
        if (!dino_block_prefix(w, hub, i, bp, sizeof bp))
            return gc_errorf(GC_ERR_INTERNAL, "%s: block %lld vanished", gc_weights_label(w), (long long)i);
        DINO_PARAM(bp, "norm1.weight", "norm1.weight", &b->norm1_w, D);
        DINO_PARAM(bp, "norm1.bias", "norm1.bias", &b->norm1_b, D);
        if (hub) {
            const float *qkv_w, *qkv_b;
            DINO_PARAM(bp, "", "attn.qkv.weight", &qkv_w, 3 * D, D);
            DINO_PARAM(bp, "", "attn.qkv.bias", &qkv_b, 3 * D);
            b->wq = qkv_w, b->wk = qkv_w + D * D, b->wv = qkv_w + 2 * D * D;
            b->bq = qkv_b, b->bk = qkv_b + D, b->bv = qkv_b + 2 * D;
        } else {
            DINO_PARAM(bp, "attention.attention.query.weight", "", &b->wq, D, D);
            DINO_PARAM(bp, "attention.attention.query.bias", "", &b->bq, D);
            DINO_PARAM(bp, "attention.attention.key.weight", "", &b->wk, D, D);
            DINO_PARAM(bp, "attention.attention.key.bias", "", &b->bk, D);
            DINO_PARAM(bp, "attention.attention.value.weight", "", &b->wv, D, D);
            DINO_PARAM(bp, "attention.attention.value.bias", "", &b->bv, D);
        }
        DINO_PARAM(bp, "attention.output.dense.weight", "attn.proj.weight",
                   &b->proj_w, D, D);
        DINO_PARAM(bp, "attention.output.dense.bias", "attn.proj.bias", &b->proj_b, D);
        DINO_PARAM(bp, "layer_scale1.lambda1", "ls1.gamma", &b->ls1, D);
        DINO_PARAM(bp, "norm2.weight", "norm2.weight", &b->norm2_w, D);
        DINO_PARAM(bp, "norm2.bias", "norm2.bias", &b->norm2_b, D);
        int64_t F = m->swiglu ? 2 * m->ffn_hidden : m->ffn_hidden, H = m->ffn_hidden;
        if (m->swiglu) {
            DINO_PARAM(bp, "mlp.weights_in.weight", "mlp.w12.weight", &b->fc1_w, F, D);
            DINO_PARAM(bp, "mlp.weights_in.bias", "mlp.w12.bias", &b->fc1_b, F);
            DINO_PARAM(bp, "mlp.weights_out.weight", "mlp.w3.weight", &b->fc2_w, D, H);
            DINO_PARAM(bp, "mlp.weights_out.bias", "mlp.w3.bias", &b->fc2_b, D);
        } else {
            DINO_PARAM(bp, "mlp.fc1.weight", "mlp.fc1.weight", &b->fc1_w, F, D);
            DINO_PARAM(bp, "mlp.fc1.bias", "mlp.fc1.bias", &b->fc1_b, F);
            DINO_PARAM(bp, "mlp.fc2.weight", "mlp.fc2.weight", &b->fc2_w, D, F);
            DINO_PARAM(bp, "mlp.fc2.bias", "mlp.fc2.bias", &b->fc2_b, D);
        }
        DINO_PARAM(bp, "layer_scale2.lambda1", "ls2.gamma", &b->ls2, D);
    }
    return GC_OK;
}

static gc_status dino_build(gc_dinov2 *m, gc_weights *w, const cJSON *cfg, const char *cfg_path) {
    bool hub;
    GC_TRY(dino_detect_naming(w, &hub));
    m->hub_naming = hub;
    const char *label = gc_weights_label(w);
    /* D from the cls token, patch size from the patch-embedding conv, M from the position table. */
    const gc_tensor_ref *cls = gc_weights_find(w, hub ? "cls_token" : "embeddings.cls_token");
    if (cls->ndim != 3 || cls->shape[0] != 1 || cls->shape[1] != 1 || cls->shape[2] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%scls_token' must be [1, 1, D]", label,
                         hub ? gc_weights_prefix(w) : "embeddings.");
    int64_t D = m->dim = cls->shape[2];
    DINO_PARAM("", "embeddings.cls_token", "cls_token", &m->cls_token, 1, 1, D);
    const char *pw_name = hub ? "patch_embed.proj.weight" : "embeddings.patch_embeddings.projection.weight";
    const gc_tensor_ref *pw = gc_weights_find(w, pw_name);
    if (!pw) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s%s'", label, gc_weights_prefix(w), pw_name);
    if (pw->ndim != 4 || pw->shape[0] != D || pw->shape[1] != 3 || pw->shape[2] != pw->shape[3] || pw->shape[2] < 1)
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' must be [%lld, 3, p, p]", label, gc_weights_prefix(w),
                         pw_name, (long long)D);
    int64_t p = m->patch = pw->shape[2];
    DINO_PARAM("", "embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight", &m->patch_w, D, 3, p, p);
    DINO_PARAM("", "embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias", &m->patch_b, D);
    const char *pe_name = hub ? "pos_embed" : "embeddings.position_embeddings";
    const gc_tensor_ref *pe = gc_weights_find(w, pe_name);
    if (!pe) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s%s'", label, gc_weights_prefix(w), pe_name);
    int64_t M = pe->ndim == 3 ? (int64_t)llround(sqrt((double)(pe->shape[1] - 1))) : 0;
    if (pe->ndim != 3 || pe->shape[0] != 1 || pe->shape[2] != D || M < 1 || M * M + 1 != pe->shape[1])
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' must be [1, 1 + M*M, %lld]", label, gc_weights_prefix(w),
                         pe_name, (long long)D);
    m->pos_grid = M;
    DINO_PARAM("", "embeddings.position_embeddings", "pos_embed", &m->pos_embed, 1, 1 + M * M, D);
    /* registers */
    const char *reg_name = hub ? "register_tokens" : "embeddings.register_tokens";
    const gc_tensor_ref *reg = gc_weights_find(w, reg_name);
    m->registers = reg && reg->ndim == 3 ? reg->shape[1] : 0;
    if (reg) DINO_PARAM("", "embeddings.register_tokens", "register_tokens", &m->register_tokens, 1, m->registers, D);
    /* depth, FFN kind and width */
    char bp0[64];
    while (dino_block_prefix(w, hub, m->depth, bp0, sizeof bp0)) m->depth++;
    if (m->depth == 0)
        return gc_errorf(GC_ERR_MISSING, "%s: no transformer blocks (missing '%s%s')", label, gc_weights_prefix(w),
                         hub ? "blocks.0.norm1.weight" : "encoder.layer.0.norm1.weight");
    dino_block_prefix(w, hub, 0, bp0, sizeof bp0);
    char name[256];
    snprintf(name, sizeof name, "%s%s", bp0, hub ? "mlp.w12.weight" : "mlp.weights_in.weight");
    m->swiglu = gc_weights_has(w, name);
    snprintf(name, sizeof name, "%s%s", bp0, hub ? (m->swiglu ? "mlp.w12.weight" : "mlp.fc1.weight")
                                               : (m->swiglu ? "mlp.weights_in.weight" : "mlp.fc1.weight"));
    const gc_tensor_ref *fc1 = gc_weights_find(w, name);
    if (!fc1) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s%s'", label, gc_weights_prefix(w), name);
    if (fc1->ndim != 2 || fc1->shape[0] < 1 || (m->swiglu && fc1->shape[0] % 2))
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' has a bad shape", label, gc_weights_prefix(w), name);
    m->ffn_hidden = m->swiglu ? fc1->shape[0] / 2 : fc1->shape[0];

    /* hyper-parameters shapes cannot give: config.json, else the upstream defaults */
    const char *cf = cfg_path ? cfg_path : "config.json";
    int64_t heads, cfg_d, cfg_reg;
    double eps, offset;
    bool aa;
    GC_TRY(gc_json_int(cfg, cf, "num_attention_heads", D % 64 == 0 ? D / 64 : 0, &heads));
    GC_TRY(gc_json_int(cfg, cf, "hidden_size", D, &cfg_d));
    GC_TRY(gc_json_int(cfg, cf, "num_register_tokens", m->registers, &cfg_reg));
    GC_TRY(gc_json_double(cfg, cf, "layer_norm_eps", 1e-6, &eps));
    GC_TRY(gc_json_bool(cfg, cf, "x_refharness.interpolate_antialias", m->registers > 0, &aa));
    GC_TRY(gc_json_double(cfg, cf, "x_refharness.interpolate_offset", m->registers > 0 ? 0.0 : 0.1, &offset));
    if (cfg_d != D)
        return gc_errorf(GC_ERR_SHAPE, "%s: hidden_size %lld but the weights in %s have D = %lld", cf,
                         (long long)cfg_d, label, (long long)D);
    if (cfg_reg != m->registers)
        return gc_errorf(GC_ERR_SHAPE, "%s: num_register_tokens %lld but the weights in %s have %lld", cf,
                         (long long)cfg_reg, label, (long long)m->registers);
    if (heads < 1 || D % heads != 0)
        return gc_errorf(GC_ERR_ARG, "%s: num_attention_heads %lld does not divide D = %lld%s", cf, (long long)heads,
                         (long long)D, cfg ? "" : " (no config.json: heads default to D/64)");
    if (!(eps > 0 && eps < 1)) return gc_errorf(GC_ERR_ARG, "%s: layer_norm_eps %g out of range", cf, eps);
    if (!(offset >= 0 && offset < 1))
        return gc_errorf(GC_ERR_ARG, "%s: x_refharness.interpolate_offset %g out of range [0, 1)", cf, offset);
    m->heads = heads;
    m->eps = (float)eps;
    m->interp_antialias = aa;
    m->interp_offset = offset;
    DINO_PARAM("", "layernorm.weight", "norm.weight", &m->norm_w, D);
    DINO_PARAM("", "layernorm.bias", "norm.bias", &m->norm_b, D);
    m->blocks = gc_calloc((size_t)m->depth, sizeof(gc_dinov2_block));
    if (!m->blocks || !(m->ex = gc_exec_new(gc_backend_cpu()))) return GC_ERR_NOMEM;
    return dino_load_blocks(m, w, hub);
}

void gc_dinov2_free(gc_dinov2 *m) {
    if (!m) return;
    gc_free(m->blocks);
    for (int i = 0; i < m->n_pe; i++) gc_free(m->pe_cache[i]);
    pthread_mutex_destroy(&m->pe_lock);
    gc_exec_free(m->ex);
    gc_weights_free(m->weights);
    gc_free(m);
}

gc_status gc_dinov2_from_weights(gc_weights *w, const cJSON *config, const char *config_path, gc_dinov2 **out) {
    *out = NULL;
    gc_dinov2 *m = gc_calloc(1, sizeof *m);
    if (!m) {
        gc_weights_free(w);
        return GC_ERR_NOMEM;
    }
    m->weights = w;
    pthread_mutex_init(&m->pe_lock, NULL);
    gc_status s = dino_build(m, w, config, config_path);
    if (s != GC_OK) {
        gc_dinov2_free(m);
        return s;
    }
    *out = m;
    return GC_OK;
}

gc_status gc_dinov2_load(const char *path, gc_dinov2 **out) {
    *out = NULL;
    static const char *const preferred[] = {"model.safetensors", NULL};
    char *cfg_path = NULL, *wpath = NULL;
    GC_TRY(gc_resolve_model_path(path, "DINOv2", preferred, GC_DINOV2_HINT, &cfg_path, &wpath));
    cJSON *cfg = NULL;
    gc_weights *w = NULL;
    gc_status s = cfg_path ? gc_json_load(cfg_path, &cfg) : GC_OK;
    if (s == GC_OK) s = gc_weights_open(wpath, &w);
    if (s == GC_OK) s = gc_dinov2_from_weights(w, cfg, cfg_path, out);
    cJSON_Delete(cfg);
    free(cfg_path);
    free(wpath);
    return s;
}

void gc_dinov2_info_get(const gc_dinov2 *m, gc_dinov2_info *info) {
    info->dim = m->dim;
    info->depth = m->depth;
    info->heads = m->heads;
    info->registers = m->registers;
    info->patch = m->patch;
}

/* The cached table of grid Hp x Wp, or NULL (call with pe_lock held). */
static const float *pe_cached(const gc_dinov2 *m, int64_t Hp, int64_t Wp) {
    for (int i = 0; i < m->n_pe; i++)
        if (m->pe_grid[i][0] == Hp && m->pe_grid[i][1] == Wp) return m->pe_cache[i];
    return NULL;
}

/* The position table for an Hp x Wp grid (upstream interpolate_pos_encoding), cached per grid;
 * *owned receives a table the caller frees (the cache full), else NULL. */
static gc_status dino_pos_table(gc_dinov2 *m, int64_t Hp, int64_t Wp, const float **out, float **owned) {
    int64_t D = m->dim, M = m->pos_grid, N = Hp * Wp;
    *owned = NULL;
    if (N == M * M && Hp == Wp) { /* the stored table, unchanged */
        *out = m->pos_embed;
        return GC_OK;
    }
    pthread_mutex_lock(&m->pe_lock);
    *out = pe_cached(m, Hp, Wp);
    pthread_mutex_unlock(&m->pe_lock);
    if (*out) return GC_OK;
    double sh = (double)M / (double)Hp, sw = (double)M / (double)Wp; /* size= path */
    if (m->interp_offset != 0.0) {
        /* scale_factor=(Hp+off)/M: output floor(M*sf) must be Hp (upstream asserts it); the kernel uses 1/sf */
        double sfh = ((double)Hp + m->interp_offset) / (double)M, sfw = ((double)Wp + m->interp_offset) / (double)M;
        if ((int64_t)floor((double)M * sfh) != Hp || (int64_t)floor((double)M * sfw) != Wp)
            return gc_errorf(GC_ERR_UNSUPPORTED, "DINOv2: interpolate_offset %g does not give a %lldx%lld grid",
                             m->interp_offset, (long long)Hp, (long long)Wp);
        sh = 1.0 / sfh, sw = 1.0 / sfw;
    }
    float *grid = gc_alloc_array((size_t)(D * M * M), sizeof(float));
    float *res = gc_alloc_array((size_t)D * (size_t)N, sizeof(float));
    float *pe = gc_alloc_array((size_t)(1 + N), (size_t)D * sizeof(float));
    gc_status s = grid && res && pe ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) {
        for (int64_t n = 0; n < M * M; n++)
            for (int64_t d = 0; d < D; d++) grid[d * M * M + n] = m->pos_embed[(1 + n) * D + d];
        s = m->interp_antialias ? gc_resize_bicubic_aa(res, grid, D, M, M, Hp, Wp, sh, sw)
                                : gc_resize_bicubic(res, grid, D, M, M, Hp, Wp, sh, sw);
    }
    if (s == GC_OK) {
        memcpy(pe, m->pos_embed, (size_t)D * sizeof(float));
        for (int64_t n = 0; n < N; n++)
            for (int64_t d = 0; d < D; d++) pe[(1 + n) * D + d] = res[d * N + n];
        /* computed outside the lock: another thread may have cached the same grid meanwhile */
        pthread_mutex_lock(&m->pe_lock);
        if ((*out = pe_cached(m, Hp, Wp)) == NULL) {
            *out = pe;
            if (m->n_pe < GC_DINO_PE_CACHE) {
                m->pe_grid[m->n_pe][0] = Hp, m->pe_grid[m->n_pe][1] = Wp;
                m->pe_cache[m->n_pe++] = pe;
            } else {
                *owned = pe;
            }
            pe = NULL;
        }
        pthread_mutex_unlock(&m->pe_lock);
    }
    gc_free(grid);
    gc_free(res);
    gc_free(pe);
    return s;
}

/* Scratch of one forward pass (from the model's arena). */
typedef struct {
    float *h;   /* [T, D] normed tokens, then branch output */
    float *qkv; /* [3, T, D] */
    float *att; /* [T, D] */
    float *ffn; /* [T, F] (SwiGLU: [T, 2H]) */
} dino_scratch;

static gc_status dino_block(const gc_dinov2 *m, const gc_dinov2_block *b, float *x, int64_t T, dino_scratch *s,
                            gc_arena *a) {
    const gc_backend_i *be = m->ex->be;
    int64_t D = m->dim, hd = D / m->heads;
    float *q = s->qkv, *k = q + T * D, *v = k + T * D;
    be->layernorm(s->h, x, b->norm1_w, b->norm1_b, T, D, m->eps);
    GC_TRY(be->linear(q, s->h, b->wq, b->bq, T, D, D));
    GC_TRY(be->linear(k, s->h, b->wk, b->bk, T, D, D));
    GC_TRY(be->linear(v, s->h, b->wv, b->bv, T, D, D));
    GC_TRY(be->attention(a, s->att, D, q, D, k, D, v, D, T, T, m->heads, hd, (float)(1.0 / sqrt((double)hd)), false));
    GC_TRY(be->linear(s->h, s->att, b->proj_w, b->proj_b, T, D, D));
    be->add_scaled(x, s->h, b->ls1, T, D);
    be->layernorm(s->h, x, b->norm2_w, b->norm2_b, T, D, m->eps);
    int64_t H = m->ffn_hidden;
    if (m->swiglu) {
        GC_TRY(be->linear(s->ffn, s->h, b->fc1_w, b->fc1_b, T, D, 2 * H));
#pragma omp parallel for schedule(static)
        for (int64_t t = 0; t < T; t++) { /* silu(x1) * x2 into the first H columns of row t */
            float *r = s->ffn + t * 2 * H;
            be->unary(GC_ACT_SILU, r, H);
            for (int64_t j = 0; j < H; j++) r[j] *= r[H + j];
        }
        /* pack rows to [T, H]; sequential: row t's target overlaps the source rows of t/2 .. t */
        for (int64_t t = 1; t < T; t++) memmove(s->ffn + t * H, s->ffn + t * 2 * H, (size_t)H * sizeof(float));
        GC_TRY(be->linear(s->h, s->ffn, b->fc2_w, b->fc2_b, T, H, D));
    } else {
        GC_TRY(be->linear_act(s->ffn, s->h, b->fc1_w, b->fc1_b, T, D, H, GC_ACT_GELU_ERF));
        GC_TRY(be->linear(s->h, s->ffn, b->fc2_w, b->fc2_b, T, H, D));
    }
    be->add_scaled(x, s->h, b->ls2, T, D);
    return GC_OK;
}

/* Patch embedding + cls + position table + registers into x[T, D]. */
static gc_status dino_embed(gc_dinov2 *m, const float *px, int64_t H, int64_t W, float *x, gc_dinov2_outputs *o,
                            gc_arena *a) {
    int64_t D = m->dim, p = m->patch, R = m->registers, Hp = H / p, Wp = W / p, N = Hp * Wp, K = 3 * p * p;
    size_t mark = gc_arena_mark(a);
    float *cols = gc_arena_floats(a, N * K);
    if (!cols) return GC_ERR_NOMEM;
    gc_patchify(cols, px, 3, H, W, p);
    float *patches = x + (1 + R) * D;
    gc_status st = m->ex->be->linear(patches, cols, m->patch_w, m->patch_b, N, K, D);
    gc_arena_rewind(a, mark);
    GC_TRY(st);
    const float *pe = NULL;
    float *pe_owned;
    GC_TRY(dino_pos_table(m, Hp, Wp, &pe, &pe_owned));
    for (int64_t d = 0; d < D; d++) x[d] = m->cls_token[d] + pe[d];
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) patches[n * D + d] += pe[(1 + n) * D + d];
    if (R) memcpy(x + D, m->register_tokens, (size_t)(R * D) * sizeof(float));
    if (o && o->pos_embed) memcpy(o->pos_embed, pe, (size_t)((1 + N) * D) * sizeof(float));
    gc_free(pe_owned);
    return GC_OK;
}

static gc_status dino_run(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, gc_dinov2_outputs *o,
                          gc_arena *a) {
    int64_t D = m->dim, p = m->patch;
    int64_t Hp = H / p, Wp = W / p, N = Hp * Wp, T = 1 + m->registers + N;
    int64_t F = m->swiglu ? 2 * m->ffn_hidden : m->ffn_hidden;
    float *x = gc_arena_floats(a, T * D);
    dino_scratch s = {gc_arena_floats(a, T * D), gc_arena_floats(a, 3 * T * D), gc_arena_floats(a, T * D),
                      gc_arena_floats(a, T * F)};
    if (!x || !s.h || !s.qkv || !s.att || !s.ffn) return GC_ERR_NOMEM;
    GC_TRY(dino_embed(m, pixels, H, W, x, o, a));
    if (o && o->tokens_in) memcpy(o->tokens_in, x, (size_t)(T * D) * sizeof(float));
    for (int64_t i = 0; i < m->depth; i++) {
        GC_TRY(dino_block(m, &m->blocks[i], x, T, &s, a));
        if (o && o->blocks && o->blocks[i]) memcpy(o->blocks[i], x, (size_t)(T * D) * sizeof(float));
    }
    if (o && o->x_norm) m->ex->be->layernorm(o->x_norm, x, m->norm_w, m->norm_b, T, D, m->eps);
    if (o && o->geoaware) {
        const float *pt = x + (1 + m->registers) * D;
        for (int64_t d = 0; d < D; d++)
            for (int64_t n = 0; n < N; n++) o->geoaware[d * N + n] = pt[n * D + d];
    }
    return GC_OK;
}

gc_status gc_dinov2_forward(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, gc_dinov2_outputs *o) {
    int64_t p = m->patch;
    if (H < p || W < p || H % p || W % p)
        return gc_errorf(GC_ERR_ARG, "DINOv2: image %lldx%lld is not a positive multiple of the patch size %lld",
                         (long long)H, (long long)W, (long long)p);
    if (H > 65536 || W > 65536) return gc_errorf(GC_ERR_ARG, "DINOv2: image %lldx%lld too large", (long long)H, (long long)W);
    gc_arena local, *a = gc_arena_acquire(&m->ex->arena, &local);
    gc_status st = dino_run(m, pixels, H, W, o, a);
    gc_arena_release(a, &m->ex->arena);
    return st;
}

gc_status gc_dinov2_features(gc_dinov2 *m, const float *pixels, int64_t H, int64_t W, float *out) {
    gc_dinov2_outputs o = {.geoaware = out};
    return gc_dinov2_forward(m, pixels, H, W, &o);
}

void gc_dinov2_normalize_u8(float *chw, const uint8_t *hwc, int64_t H, int64_t W) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < H * W; i++) chw[c * H * W + i] = ((float)hwc[i * 3 + c] / 255.0f - mean[c]) / std[c];
}
