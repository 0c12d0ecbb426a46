/* CLIP image tower, SD text encoder and ODISE implicit captioner against the reference fixtures
 * (clip_vit_tiny, clip_vitl14_336, clip_text_tiny, clip_text_l14, captioner_tiny). Tolerance: the
 * project default max|got - want| / max|want| <= 1e-4 per tensor; observed on the tiny models
 * <= 9e-7 (CLIP image), <= 5e-7 (text), <= 3e-7 (captioner). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline_models.h"
#include "io/config.h"
#include "io/prng_weights.h"
#include "models/captioner.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"

static bool sanitized(void) {
    const char *s = getenv("GEOCORR_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
}

/* Compare every listed key of an output file with the fixture. */
static void expect_keys(gc_weights *ref, const char *out_path, const char *const *keys) {
    gc_weights *got = gct_open(out_path);
    for (int i = 0; keys[i]; i++) {
        const gc_tensor_ref *r = gc_weights_find(ref, keys[i]);
        assert_non_null(r);
        const float *g;
        assert_int_equal(gc_weights_f32(got, keys[i], r->ndim, r->shape, &g), GC_OK);
        gct_expect_close(ref, keys[i], g, r->numel, TOL);
    }
    gc_weights_free(got);
}

/* The 960 canvas of antelope.jpg from the stored LANCZOS band (rows 120..839) and its 512 crop at (y, x). */
static uint8_t *antelope_crop(int64_t y0, int64_t x0) {
    gc_weights *pre = gct_open(gct_fixture("preprocess.safetensors"));
    const gc_tensor_ref *band = gc_weights_find(pre, "antelope.960.band");
    assert_non_null(band);
    assert_int_equal(band->shape[0], 720);
    uint8_t *canvas = calloc(960 * 960 * 3, 1), *crop = malloc(512 * 512 * 3);
    memcpy(canvas + 120 * 960 * 3, band->data, 720 * 960 * 3);
    for (int64_t y = 0; y < 512; y++) memcpy(crop + y * 512 * 3, canvas + ((y0 + y) * 960 + x0) * 3, 512 * 3);
    free(canvas);
    gc_weights_free(pre);
    return crop;
}

static const char *const k_vision_keys[] = {"pixel_values", "patch_embeds", "tokens_in", "ln_pre", "block0",
                                            "block1", "ln_post", "proj_all", "image_embed", NULL};

static void vision_tiny(const char *weights_fixture) {
    char d[1200];
    model_dir(d, "cv", "clip_vit_tiny.config.json", weights_fixture);
    const char *out = gc_strfmt("%s/out.safetensors", gct_tmpdir("cv_out"));
    int rc = gct_geocorr("trace clip-vision --weights %s --inputs %s --out %s", d,
                         gct_fixture("clip_vit_tiny.io.safetensors"), out);
    if (rc != 0) fail_msg("trace clip-vision failed: %s", gct_last_stderr());
    gc_weights *ref = gct_open(gct_fixture("clip_vit_tiny.io.safetensors"));
    expect_keys(ref, out, k_vision_keys);
    gc_weights_free(ref);
    free((void *)out);
}

static void test_clip_vision_tiny_openai(void **st) { vision_tiny("clip_vit_tiny.openai.safetensors"); }
static void test_clip_vision_tiny_hf(void **st) { vision_tiny("clip_vit_tiny.hf.safetensors"); }

/* crop_u8 input: ODISE's resize 512 -> 84 (bicubic, no antialias) and CLIP normalisation. */
static void test_clip_vision_tiny_crop_u8(void **st) {
    char d[1200];
    model_dir(d, "cvc", "clip_vit_tiny.config.json", "clip_vit_tiny.openai.safetensors");
    const char *tmp = gct_tmpdir("cvc_io");
    char in[1200], out[1200];
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    uint8_t *crop = antelope_crop(0, 448);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_st_writer_add(wr, "crop_u8", GC_DT_U8, 3, (const int64_t[]){512, 512, 3}, crop), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    free(crop);
    if (gct_geocorr("trace clip-vision --weights %s --inputs %s --out %s", d, in, out) != 0)
        fail_msg("trace clip-vision failed: %s", gct_last_stderr());
    gc_weights *ref = gct_open(gct_fixture("clip_vit_tiny.io.safetensors"));
    expect_keys(ref, out, k_vision_keys);
    gc_weights_free(ref);
}

/* The production pass (no trace: the last block computes the CLS row only) against upstream, and
 * byte-identical to the fully traced pass whose every token the trace tests compare; a batch of
 * three images (the pipeline's crops go through the tower together) gives each image the bytes of
 * its single pass. */
static void test_clip_vision_tiny_cls_only(void **st) {
    char d[1200];
    model_dir(d, "cvo", "clip_vit_tiny.config.json", "clip_vit_tiny.openai.safetensors");
    clip_vision m;
    assert_int_equal(clip_vision_load(&m, d), GC_OK);
    gc_weights *ref = gct_open(gct_fixture("clip_vit_tiny.io.safetensors"));
    enum { P = 3 * 84 * 84, E = 48 };
    const float *pix;
    assert_int_equal(gc_weights_f32(ref, "pixel_values", 4, (const int64_t[]){1, 3, 84, 84}, &pix), GC_OK);
    float cls[E], all[E], batch[3 * E], one[E];
    assert_int_equal(m.embed, E);
    assert_int_equal(clip_vision_forward(&m, pix, cls, NULL), GC_OK);
    gct_expect_close(ref, "image_embed", cls, E, TOL);
    gc_st_writer *wr = gc_st_writer_new();
    gc_tap tap = {.wr = wr};
    assert_int_equal(clip_vision_forward(&m, pix, all, &tap), GC_OK);
    assert_memory_equal(cls, all, sizeof cls);
    gc_st_writer_free(wr);
    float *three = malloc(3 * P * sizeof(float));
    for (int i = 0; i < 3 * P; i++) three[i] = pix[i % P] * (i < P ? 1.0f : i < 2 * P ? -0.5f : 0.25f);
    assert_int_equal(clip_vision_forward_batch(&m, three, 3, batch, NULL), GC_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(clip_vision_forward(&m, three + i * P, one, NULL), GC_OK);
        assert_memory_equal(batch + i * E, one, sizeof one);
    }
    free(three);
    gc_weights_free(ref);
    clip_vision_free(&m);
}

/* Gather token rows idx[0..n) of x [T, W] (row = idx[i] - shift). */
static float *gather_rows(const float *x, int64_t W, const int64_t *idx, int64_t n, int64_t shift) {
    float *o = malloc((size_t)(n * W) * sizeof(float));
    for (int64_t i = 0; i < n; i++) memcpy(o + i * W, x + (idx[i] - shift) * W, (size_t)W * sizeof(float));
    return o;
}

/* Compare a [T, W] token tensor against `<key>.rows` (tokens rows_index[0..nrows)) + checksums. */
static void expect_rows(gc_weights *ref, gc_weights *got, const char *key, const int64_t *idx, int64_t shift) {
    char rk[96];
    snprintf(rk, sizeof rk, "%s.rows", key);
    const gc_tensor_ref *rr = gc_weights_find(ref, rk), *g = gc_weights_find(got, key);
    assert_non_null(rr);
    assert_non_null(g);
    const float *gv;
    assert_int_equal(gc_weights_f32(got, key, g->ndim, g->shape, &gv), GC_OK);
    int64_t W = g->shape[g->ndim - 1], n = rr->shape[1];
    float *rows = gather_rows(gv, W, idx, n, shift);
    gct_expect_close(ref, rk, rows, n * W, TOL);
    gct_expect_checksums(ref, key, gv, g->numel, TOL);
    free(rows);
}

/* Real ViT-L/14-336 shape with the manifest's PRNG weights (OpenAI naming) on the antelope crop.
 * ~300M parameters: skipped under the sanitizer build (too slow there), run in Release. */
static void test_clip_vision_vitl14_336(void **st) {
    if (sanitized()) {
        printf("  skipped under GEOCORR_SANITIZED (ViT-L/14-336 forward)\n");
        return;
    }
    gc_weights *w;
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("clip_vitl14_336.weights_manifest.json"), NULL, &w), GC_OK);
    cJSON *cfg;
    const char *cfg_path = gct_fixture("clip_vitl14_336.config.json");
    assert_int_equal(gc_json_load(cfg_path, &cfg), GC_OK);
    clip_vision m;
    assert_int_equal(clip_vision_init(&m, w, cfg, cfg_path), GC_OK);
    cJSON_Delete(cfg);
    assert_int_equal(m.width, 1024);
    assert_int_equal(m.stack.heads, 16);
    assert_int_equal(m.stack.layers, 24);
    assert_int_equal(m.image_size, 336);
    assert_int_equal(m.embed, 768);
    uint8_t *crop = antelope_crop(0, 448);
    float *pix = malloc(3 * 336 * 336 * sizeof(float)), embed[768];
    assert_int_equal(clip_vision_preprocess(&m, crop, 512, 512, 512 * 3, pix), GC_OK);
    gc_st_writer *wr = gc_st_writer_new();
    gc_tap tap = {.wr = wr};
    double t0 = gc_now();
    assert_int_equal(clip_vision_forward(&m, pix, embed, &tap), GC_OK);
    printf("  ViT-L/14-336 forward %.2f s\n", gc_now() - t0);
    const char *out = gc_strfmt("%s/out.safetensors", gct_tmpdir("vitl"));
    assert_int_equal(gc_st_writer_save(wr, out), GC_OK);
    gc_st_writer_free(wr);

    gc_weights *ref = gct_open(gct_fixture("clip_vitl14_336.io.safetensors"));
    gc_weights *got = gct_open(out);
    gct_expect_close(ref, "image_embed", embed, 768, TOL);
    /* the production pass (CLS-only last block) in a batch of two crops gives the same bytes */
    float *two = malloc(2 * 3 * 336 * 336 * sizeof(float)), cls[2 * 768];
    uint8_t *crop2 = antelope_crop(448, 0);
    memcpy(two, pix, 3 * 336 * 336 * sizeof(float));
    assert_int_equal(clip_vision_preprocess(&m, crop2, 512, 512, 512 * 3, two + 3 * 336 * 336), GC_OK);
    assert_int_equal(clip_vision_forward_batch(&m, two, 2, cls, NULL), GC_OK);
    assert_memory_equal(cls, embed, 768 * sizeof(float));
    free(two);
    free(crop2);
    const gc_tensor_ref *ri = gc_weights_find(ref, "rows_index");
    int64_t idx[25];
    memcpy(idx, ri->data, sizeof idx);
    /* pixel_values.rows: image rows 0, 1, 168, 335 of each channel. */
    const int64_t prow[4] = {0, 1, 168, 335};
    float *pr = malloc(3 * 4 * 336 * sizeof(float));
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 4; r++) memcpy(pr + (c * 4 + r) * 336, pix + (c * 336 + prow[r]) * 336, 336 * sizeof(float));
    gct_expect_close(ref, "pixel_values.rows", pr, 3 * 4 * 336, TOL);
    gct_expect_checksums(ref, "pixel_values", pix, 3 * 336 * 336, TOL);
    free(pr);
    expect_rows(ref, got, "patch_embeds", idx + 1, 1);
    const char *full_rows[] = {"tokens_in", "ln_pre", "block0", "block23", "ln_post", "proj_all"};
    for (size_t i = 0; i < sizeof full_rows / sizeof *full_rows; i++) expect_rows(ref, got, full_rows[i], idx, 0);
    for (int b = 1; b <= 22; b++) {
        char k[32];
        snprintf(k, sizeof k, "block%d", b);
        expect_rows(ref, got, k, idx, 0);
    }
    gc_weights_free(got);
    gc_weights_free(ref);
    clip_vision_free(&m);
    free(pix);
    free(crop);
    free((void *)out);
}

static void test_clip_vision_bad_input(void **st) {
    const char *tmp = gct_tmpdir("cv_bad");
    char out[1200];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    /* Not a CLIP tower. */
    assert_int_not_equal(gct_geocorr("trace clip-vision --weights %s --inputs %s --out %s",
                                     gct_fixture("captioner_tiny.safetensors"),
                                     gct_fixture("clip_vit_tiny.io.safetensors"), out), 0);
    assert_non_null(strstr(gct_last_stderr(), "captioner_tiny.safetensors"));
    assert_non_null(strstr(gct_last_stderr(), "visual.conv1.weight"));
    /* Inputs without pixel_values / crop_u8. */
    assert_int_not_equal(gct_geocorr("trace clip-vision --weights %s --inputs %s --out %s",
                                     gct_fixture("clip_vit_tiny.openai.safetensors"),
                                     gct_fixture("captioner_tiny.io.safetensors"), out), 0);
    assert_non_null(strstr(gct_last_stderr(), "pixel_values"));
    /* A config that contradicts the weights. */
    const char *d = gct_tmpdir("cv_badcfg");
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", d);
    const char *cfg = "{\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_hidden_layers\": 3}";
    gct_write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    assert_int_equal(symlink(gct_fixture("clip_vit_tiny.openai.safetensors"), p), 0);
    assert_int_not_equal(gct_geocorr("trace clip-vision --weights %s --inputs %s --out %s", d,
                                     gct_fixture("clip_vit_tiny.io.safetensors"), out), 0);
    assert_non_null(strstr(gct_last_stderr(), "num_hidden_layers"));
    assert_false(gc_file_exists(out));
}

static const char *const k_text_keys[] = {"embeddings", "block0", "block1", "last_hidden_state", NULL};

static void text_tiny(const char *weights_fixture) {
    char d[1200];
    model_dir(d, "ct", "clip_text_tiny.config.json", weights_fixture);
    const char *tmp = gct_tmpdir("ct_out");
    char out[1200], in[1200], out2[1200];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    if (gct_geocorr("trace clip-text --weights %s --out %s", d, out) != 0)
        fail_msg("trace clip-text failed: %s", gct_last_stderr());
    gc_weights *ref = gct_open(gct_fixture("clip_text_tiny.io.safetensors"));
    expect_keys(ref, out, k_text_keys);
    gc_weights *got = gct_open(out);
    const gc_tensor_ref *gi = gc_weights_find(got, "input_ids"), *ri = gc_weights_find(ref, "input_ids");
    assert_non_null(gi);
    assert_int_equal(gi->dtype, GC_DT_I64);
    assert_memory_equal(gi->data, ri->data, 77 * 8);
    gc_weights_free(got);
    /* A random id sequence through --inputs. */
    const gc_tensor_ref *rid = gc_weights_find(ref, "rand.input_ids");
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    snprintf(out2, sizeof out2, "%s/out2.safetensors", tmp);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_st_writer_add(wr, "input_ids", GC_DT_I64, 2, rid->shape, rid->data), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    if (gct_geocorr("trace clip-text --weights %s --inputs %s --out %s", d, in, out2) != 0)
        fail_msg("trace clip-text failed: %s", gct_last_stderr());
    got = gct_open(out2);
    const float *g;
    assert_int_equal(GC_WEIGHT(got, "last_hidden_state", &g, 1, 77, 32), GC_OK);
    gct_expect_close(ref, "rand.last_hidden_state", g, 77 * 32, TOL);
    gc_weights_free(got);
    gc_weights_free(ref);
}

static void test_clip_text_tiny_hf(void **st) { text_tiny("clip_text_tiny.hf.safetensors"); }
static void test_clip_text_tiny_ldm(void **st) { text_tiny("clip_text_tiny.ldm.safetensors"); }

/* Real SD-1.5 text-encoder shape (manifest, OpenAI naming); U compared in full. */
static void test_clip_text_l14(void **st) {
    gc_weights *w;
    assert_int_equal(gc_prng_weights_from_manifest(gct_fixture("clip_text_l14.weights_manifest.json"), NULL, &w), GC_OK);
    cJSON *cfg;
    const char *cfg_path = gct_fixture("clip_text_l14.config.json");
    assert_int_equal(gc_json_load(cfg_path, &cfg), GC_OK);
    clip_text m;
    assert_int_equal(clip_text_init(&m, w, cfg, cfg_path), GC_OK);
    cJSON_Delete(cfg);
    assert_int_equal(m.stack.heads, 12);
    assert_int_equal(m.stack.layers, 12);
    int64_t ids[77];
    clip_text_empty_prompt(&m, ids);
    gc_weights *ref = gct_open(gct_fixture("clip_text_l14.io.safetensors"));
    assert_memory_equal(ids, gc_weights_find(ref, "input_ids")->data, sizeof ids);
    float *U = malloc(77 * 768 * sizeof(float));
    gc_st_writer *wr = gc_st_writer_new();
    gc_tap tap = {.wr = wr};
    assert_int_equal(clip_text_forward(&m, ids, U, &tap), GC_OK);
    gct_expect_close(ref, "last_hidden_state", U, 77 * 768, TOL);
    const char *out = gc_strfmt("%s/out.safetensors", gct_tmpdir("l14"));
    assert_int_equal(gc_st_writer_save(wr, out), GC_OK);
    gc_st_writer_free(wr);
    gc_weights *got = gct_open(out);
    int64_t idx[4];
    memcpy(idx, gc_weights_find(ref, "rows_index")->data, sizeof idx);
    expect_rows(ref, got, "embeddings", idx, 0);
    for (int b = 0; b < 12; b++) {
        char k[32];
        snprintf(k, sizeof k, "block%d", b);
        expect_rows(ref, got, k, idx, 0);
    }
    gc_weights_free(got);
    gc_weights_free(ref);
    clip_text_free(&m);
    free(U);
    free((void *)out);
}

/* SD-1.5's text_encoder/config.json carries CLIPTextConfig's placeholder ids (bos 0, eos 2); the
 * empty prompt must still be [49406, 49407 x 76]. Tiny tower weights with a 49408-token table. */
static void test_clip_text_legacy_ids(void **st) {
    gc_weights *src = gct_open(gct_fixture("clip_text_tiny.hf.safetensors"));
    gc_weights *w = gc_weights_new("legacy-ids");
    for (int64_t i = 0; i < gc_weights_count(src); i++) {
        const gc_tensor_ref *r = gc_weights_at(src, i);
        if (strstr(r->name, "token_embedding")) continue;
        assert_int_equal(gc_weights_add(w, r->name, r->dtype, r->ndim, r->shape, r->data), GC_OK);
    }
    float *tok = gc_calloc(49408 * 32, sizeof(float));
    assert_int_equal(gc_weights_add_owned_f32(w, "text_model.embeddings.token_embedding.weight", 2,
                                              (const int64_t[]){49408, 32}, tok), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    cJSON *cfg = cJSON_Parse("{\"bos_token_id\": 0, \"eos_token_id\": 2, \"num_attention_heads\": 2}");
    clip_text m;
    assert_int_equal(clip_text_init(&m, w, cfg, "config.json"), GC_OK);
    int64_t ids[77];
    clip_text_empty_prompt(&m, ids);
    assert_int_equal(ids[0], 49406);
    assert_int_equal(ids[1], 49407);
    assert_int_equal(ids[76], 49407);
    clip_text_free(&m);
    cJSON_Delete(cfg);
    gc_weights_free(src);
}

static const char *const k_cap_keys[] = {"prefix_embed", "cond", "cond_emb", "cond_emb_step0", NULL};

static void test_captioner_tiny(void **st) {
    const char *tmp = gct_tmpdir("cap");
    char out[1200], odise[1200];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    if (gct_geocorr("trace captioner --weights %s --inputs %s --out %s", gct_fixture("captioner_tiny.safetensors"),
                    gct_fixture("captioner_tiny.io.safetensors"), out) != 0)
        fail_msg("trace captioner failed: %s", gct_last_stderr());
    gc_weights *ref = gct_open(gct_fixture("captioner_tiny.io.safetensors"));
    expect_keys(ref, out, k_cap_keys);
    /* The same weights under the ODISE checkpoint names, next to unrelated keys. */
    gc_weights *w = gct_open(gct_fixture("captioner_tiny.safetensors"));
    gc_st_writer *wr = gc_st_writer_new();
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *r = gc_weights_at(w, i);
        char name[200];
        snprintf(name, sizeof name, "model.backbone.feature_extractor.%s", r->name);
        assert_int_equal(gc_st_writer_add(wr, name, r->dtype, r->ndim, r->shape, r->data), GC_OK);
    }
    float head[4] = {1, 2, 3, 4};
    assert_int_equal(GC_ST_ADD_F32(wr, "model.sem_seg_head.predictor.weight", head, 4), GC_OK);
    snprintf(odise, sizeof odise, "%s/odise.safetensors", tmp);
    assert_int_equal(gc_st_writer_save(wr, odise), GC_OK);
    gc_st_writer_free(wr);
    gc_weights_free(w);
    snprintf(out, sizeof out, "%s/out2.safetensors", tmp);
    if (gct_geocorr("trace captioner --weights %s --inputs %s --out %s", odise,
                    gct_fixture("captioner_tiny.io.safetensors"), out) != 0)
        fail_msg("trace captioner (ODISE names) failed: %s", gct_last_stderr());
    expect_keys(ref, out, k_cap_keys);
    gc_weights_free(ref);
}

/* The ODISE checkpoint layout through the PyTorch checkpoint reader (fixture ckpt/odise_like.pth:
 * detectron2 {'model': ..., 'trainer': optimizer state, ...}, captioner at D=16, E=24, Dt=128):
 * the prefix model.backbone.feature_extractor. is found, and the outputs equal the formula evaluated
 * in double on the expected tensors (observed ~1e-7 rel; tol 1e-5). */
static void test_captioner_odise_pth(void **st) {
    captioner m;
    assert_int_equal(captioner_load(&m, gct_fixture("ckpt/odise_like.pth")), GC_OK);
    assert_int_equal(m.embed, 24);
    assert_int_equal(m.width, 16);
    assert_int_equal(m.ctx, 77);
    assert_int_equal(m.time_dim, 128);
    float prefix[24], U[77 * 16], cond[77 * 16], cond_emb[128];
    for (int i = 0; i < 24; i++) prefix[i] = (float)(i % 7) * 0.25f - 0.7f;
    for (int i = 0; i < 77 * 16; i++) U[i] = (float)((i * 37) % 11) * 0.1f - 0.5f;
    assert_int_equal(captioner_forward(&m, prefix, U, cond, cond_emb, NULL), GC_OK);
    gc_weights *e = gct_open(gct_fixture("ckpt/odise_like.expected.safetensors"));
    gc_weights_set_prefix(e, "model.backbone.feature_extractor.");
    const float *W, *b, *P, *A, *Wt, *bt, *Pt, *At;
    assert_int_equal(GC_WEIGHT(e, "clip_project.linear.weight", &W, 16, 24), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "clip_project.linear.bias", &b, 16), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "clip_project.positional_embedding", &P, 1, 77, 16), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "alpha_cond", &A, 1, 77, 16), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "time_embed_project.linear.weight", &Wt, 128, 24), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "time_embed_project.linear.bias", &bt, 128), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "time_embed_project.positional_embedding", &Pt, 1, 1, 128), GC_OK);
    assert_int_equal(GC_WEIGHT(e, "alpha_cond_time_embed", &At, 128), GC_OK);
    double err = 0, mx = 0;
    for (int t = 0; t < 77; t++)
        for (int c = 0; c < 16; c++) {
            double lin = b[c];
            for (int k = 0; k < 24; k++) lin += (double)W[c * 24 + k] * prefix[k];
            double want = U[t * 16 + c] + tanh((double)A[t * 16 + c]) * (lin + P[t * 16 + c]);
            err = fmax(err, fabs(want - cond[t * 16 + c]));
            mx = fmax(mx, fabs(want));
        }
    for (int c = 0; c < 128; c++) {
        double lin = bt[c];
        for (int k = 0; k < 24; k++) lin += (double)Wt[c * 24 + k] * prefix[k];
        double want = tanh((double)At[c]) * (lin + Pt[c]);
        err = fmax(err, fabs(want - cond_emb[c]));
        mx = fmax(mx, fabs(want));
    }
    printf("  odise_like.pth captioner vs double formula: rel %.3g\n", err / mx);
    assert_true(err <= 1e-5 * mx);
    gc_weights_free(e);
    captioner_free(&m);
}

/* An ODISE-like checkpoint without the captioner keys gets a message naming the file and the key. */
static void test_captioner_missing_keys(void **st) {
    const char *tmp = gct_tmpdir("cap_bad");
    char ck[1200], out[1200];
    snprintf(ck, sizeof ck, "%s/odise_nocap.safetensors", tmp);
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    gc_st_writer *wr = gc_st_writer_new();
    float x[4] = {0};
    assert_int_equal(GC_ST_ADD_F32(wr, "model.backbone.feature_extractor.other", x, 4), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, ck), GC_OK);
    gc_st_writer_free(wr);
    assert_int_not_equal(gct_geocorr("trace captioner --weights %s --inputs %s --out %s", ck,
                                     gct_fixture("captioner_tiny.io.safetensors"), out), 0);
    assert_non_null(strstr(gct_last_stderr(), "odise_nocap.safetensors"));
    assert_non_null(strstr(gct_last_stderr(), "backbone.feature_extractor.clip_project.linear.weight"));
    assert_false(gc_file_exists(out));
    /* Wrong prefix width: prefix of another size. */
    assert_int_not_equal(gct_geocorr("trace captioner --weights %s --inputs %s --out %s",
                                     gct_fixture("captioner_tiny.safetensors"),
                                     gct_fixture("clip_text_tiny.io.safetensors"), out), 0);
    assert_non_null(strstr(gct_last_stderr(), "prefix"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_vision_tiny_openai), cmocka_unit_test(test_clip_vision_tiny_hf),
        cmocka_unit_test(test_clip_vision_tiny_crop_u8), cmocka_unit_test(test_clip_vision_tiny_cls_only), cmocka_unit_test(test_clip_vision_bad_input),
        cmocka_unit_test(test_clip_vision_vitl14_336),  cmocka_unit_test(test_clip_text_tiny_hf),
        cmocka_unit_test(test_clip_text_tiny_ldm),      cmocka_unit_test(test_clip_text_l14),
        cmocka_unit_test(test_clip_text_legacy_ids),
        cmocka_unit_test(test_captioner_tiny),          cmocka_unit_test(test_captioner_odise_pth),          cmocka_unit_test(test_captioner_missing_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
