/* Training step against the authors' calculate_loss + backward (fixture geoaware_train.*): every
 * loss term, patch indices, ground-truth flows, flow maps, descriptors and EVERY parameter gradient
 * (incl. g_x, g_y, mixing weights, logit_scale), with the fixture's jitter draws injected and dropout
 * off, at 1e-4 of max|ref|. Plus the `trace train-step` command, and finite-difference checks of every
 * backward pass (GroupNorm, convs, ReLU, mixing, token normalisation, CLIP and soft-argmax losses). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "io/prng_weights.h"
#include "models/postproc.h"
#include "train/loss.h"
#include "train/postproc_grad.h"
#include "train/train_step.h"
#include "testutil.h"

#include "train_fixture.h"

/* rows of desc [3600, P] at cells idx */
static void expect_rows(gc_weights *ref, const char *key, const float *desc, const int64_t *idx, int64_t n, int64_t P) {
    float *r = malloc((size_t)(n * P) * sizeof(float));
    for (int64_t i = 0; i < n; i++) memcpy(r + i * P, desc + idx[i] * P, (size_t)P * sizeof(float));
    gct_expect_close(ref, key, r, n * P, TOL);
    free(r);
}

/* The gradients of block b's parameters at 1e-4. One known float32 effect is told apart instead of
 * hidden: a block-output ReLU whose input is within float32 rounding of 0 flips its mask, which
 * moves that block's gradients by the gradient at one element. Then every OTHER channel of the
 * block's last GroupNorm bias must still match at 1e-4 (the flip sits in one channel) and the block is
 * counted; all remaining tensors of other blocks are held to 1e-4. Returns 1 for such a block.
 * The forward recomputes such near-0 outputs in double (postproc.c out_exact), which fixed the worst one
 * (spair_first, target map, block 0 channel 58 cell 2228: fp64 -1.10e-7, torch fp32 -8.9e-8, float32
 * +2.1e-7, double -1.26e-7; was 4.1e-3 rel). Still seen, with the flipped element identified from the
 * gradient difference: spair_cat map 3, block 3 channel 127 cell 1189 (3.3e-4 rel) and ap10k map 1,
 * block 0 channel 68 cell 413 (1.9e-4 rel). There the fixture's torch blocked the gradient although
 * the value is positive in float64 (ours +3.2e-7 / +4.7e-7; torch 1.13 float64 on the same block input
 * +3.1e-7 / +5.1e-7, and torch float32 here +2.4e-7 / +1.8e-7): the authors' float32 run landed on
 * the other side of 0, which no exact computation reproduces. Such a flip moves the block by at most
 * 1e-3 rel (observed 3.3e-4; the uncorrected 4.1e-3 one fails this). */
static int expect_block_grads(const gc_postproc *m, gc_weights *ref, const char *prefix, const float *grad, int b) {
    char key[160];
    double worst = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const gc_pp_tensor *t = &m->tensors[i];
        char head[40];
        snprintf(head, sizeof head, "bottleneck_layers.%d.", b);
        if (strncmp(t->name, head, strlen(head)) != 0) continue;
        snprintf(key, sizeof key, "%sgrad.%s", prefix, t->name);
        worst = fmax(worst, gct_rel_err(key, grad + t->offset, t->numel, gc_weights_find(ref, key)));
    }
    if (worst <= TOL) return 0;
    assert_true(worst <= 1e-3);
    snprintf(key, sizeof key, "%sgrad.bottleneck_layers.%d.0.conv3.norm.bias", prefix, b);
    const gc_tensor_ref *r = gc_weights_find(ref, key);
    const float *want;
    assert_int_equal(gc_weights_f32(ref, key, r->ndim, r->shape, &want), GC_OK);
    char tname[96];
    snprintf(tname, sizeof tname, "bottleneck_layers.%d.0.conv3.norm.bias", b);
    const float *got = grad + gc_postproc_tensor(m, tname)->offset;
    double mx = 0;
    int64_t worst_c = 0;
    for (int64_t c = 0; c < r->numel; c++) {
        mx = fmax(mx, fabs(want[c]));
        if (fabs(got[c] - want[c]) > fabs(got[worst_c] - want[worst_c])) worst_c = c;
    }
    for (int64_t c = 0; c < r->numel; c++)
        if (c != worst_c) assert_true(fabs(got[c] - want[c]) <= TOL * mx);
    printf("  block %d: ReLU-boundary flip in channel %lld (max rel %.3g); other channels within %.0e\n", b,
           (long long)worst_c, worst, TOL);
    return 1;
}

static void run_case(const char *name) {
    printf("case %s\n", name);
    cJSON *root;
    assert_int_equal(gc_json_load(gct_fixture("geoaware_train.json"), &root), GC_OK);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), name);
    assert_non_null(c);
    gc_weights *ref = gct_open(gct_fixture("geoaware_train.safetensors"));
    gc_postproc m;
    assert_int_equal(gc_postproc_open(&m, gct_fixture("geoaware_postproc_tiny.model.safetensors"), 0), GC_OK);

    const cJSON *args = cJSON_GetObjectItem(c, "args");
    gc_loss_cfg cfg = gc_loss_cfg_default();
    cfg.flow_maps = true;
    cfg.jitter = cJSON_GetObjectItem(args, "GAUSSIAN_AUGMENT")->valuedouble;
    cfg.w_single = cJSON_IsTrue(cJSON_GetObjectItem(args, "ADAPT_FLIP")) ? 1.0 : 0.0;
    cfg.w_double = cJSON_GetObjectItem(args, "AUGMENT_DOUBLE_FLIP")->valuedouble;
    cfg.w_self = cJSON_GetObjectItem(args, "AUGMENT_SELF_FLIP")->valuedouble;

    gc_step_inputs in = {0};
    float *x[4];
    for (int k = 0; k < 4; k++)
        in.x[k] = x[k] = fused_from_recipes(&m, cJSON_GetObjectItem(cJSON_GetObjectItem(c, "feature_recipes"), k_slots[k]));
    int64_t nt;
    float *ks = kps_from_json(cJSON_GetObjectItem(c, "src_kps"), &in.nk);
    float *kt = kps_from_json(cJSON_GetObjectItem(c, "trg_kps"), &nt);
    in.kps_src = ks;
    in.kps_trg = kt;
    in.thr_src = cJSON_GetObjectItem(c, "threshold_src_840")->valuedouble;
    in.thr_trg = cJSON_GetObjectItem(c, "threshold_trg_840")->valuedouble;
    const cJSON *perm = cJSON_GetObjectItem(c, "permute_indices");
    in.np = cJSON_GetArraySize(perm);
    int64_t *pi = malloc((size_t)in.np * sizeof(int64_t));
    for (int64_t i = 0; i < in.np; i++) pi[i] = (int64_t)cJSON_GetArrayItem(perm, (int)i)->valuedouble;
    in.perm = pi;

    float g[120], grad_g[120] = {0};
    gc_grid_linspace(g, 60);
    gc_grid_linspace(g + 60, 60);
    gct_expect_close(ref, "corr_map_net.x_normal_init", g, 60, 0.0);
    float *grad = calloc((size_t)m.n_params, sizeof(float));
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", name);
    fixture_jitter fj = {ref, prefix};
    gc_pp_cache caches[4];
    gc_pair_loss loss;
    assert_int_equal(gc_train_step(&m, g, &cfg, &in, fixture_jitter_fn, &fj, grad, grad_g, caches, &loss), GC_OK);

    char key[160];
    expect_scalar("loss", loss.loss, cJSON_GetObjectItem(c, "loss")->valuedouble, TOL);
    const cJSON *terms = cJSON_GetObjectItem(c, "terms");
    assert_int_equal(loss.n_terms, cJSON_GetArraySize(terms));
    for (int k = 0; k < loss.n_terms; k++) {
        const cJSON *jt = cJSON_GetArrayItem(terms, k);
        const gc_loss_term *t = &loss.t[k];
        assert_string_equal(t->name, cJSON_GetObjectItem(jt, "name")->valuestring);
        const cJSON *w = cJSON_GetObjectItem(jt, "weight");
        expect_scalar("  weight", t->weight, cJSON_IsBool(w) ? (cJSON_IsTrue(w) ? 1.0 : 0.0) : w->valuedouble, 0.0);
        expect_scalar("  value", t->value, cJSON_GetObjectItem(jt, "value")->valuedouble, TOL);
        expect_scalar("  dense", t->dense, cJSON_GetObjectItem(jt, "dense")->valuedouble, TOL);
        if (k == 0)
            expect_scalar("  sparse", t->sparse,
                          cJSON_GetObjectItem(cJSON_GetObjectItem(jt, "sparse"), "value")->valuedouble, TOL);
        expect_scalar("  jitter_std", t->jitter_std, cJSON_GetObjectItem(jt, "jitter_std")->valuedouble, 1e-7);
        snprintf(key, sizeof key, "%st%d.src_patch_idx", prefix, k);
        const gc_tensor_ref *ir = gc_weights_find(ref, key);
        assert_non_null(ir);
        assert_int_equal(ir->numel, t->n);
        assert_memory_equal(ir->data, t->src_idx, (size_t)t->n * sizeof(int64_t));
        snprintf(key, sizeof key, "%st%d.gt_flow_pre_jitter", prefix, k);
        gct_expect_close(ref, key, t->gt_pre, 2 * t->n, TOL);
        snprintf(key, sizeof key, "%st%d.gt_flow", prefix, k);
        gct_expect_close(ref, key, t->gt, 2 * t->n, TOL);
        snprintf(key, sizeof key, "%st%d.flow_map", prefix, k);
        gct_expect_close(ref, key, t->flow_map, 7200, TOL);
        if (k > 0) {
            snprintf(key, sizeof key, "%st%d.kps_1", prefix, k);
            gct_expect_close(ref, key, t->kps1, 3 * t->n, 0.0);
            snprintf(key, sizeof key, "%st%d.kps_2", prefix, k);
            gct_expect_close(ref, key, t->kps2, 3 * t->n, 0.0);
        }
    }
    static const char *const dk[4] = {"desc_src", "desc_trg", "desc_src_flip", "desc_trg_flip"};
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "%s%s", prefix, dk[k]);
        gct_expect_checksums(ref, key, caches[k].desc, 3600 * m.proj, TOL);
    }
    snprintf(key, sizeof key, "%sdesc_src.kp_rows", prefix);
    expect_rows(ref, key, caches[0].desc, loss.t[0].src_idx, loss.t[0].n, m.proj);
    snprintf(key, sizeof key, "%sdesc_trg.kp_rows", prefix);
    expect_rows(ref, key, caches[1].desc, loss.t[0].trg_idx, loss.t[0].n, m.proj);

    /* every gradient the fixture has (none for the losses-only case), block by block */
    int ngrad = 0, flips = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        snprintf(key, sizeof key, "%sgrad.%s", prefix, m.tensors[i].name);
        if (gc_weights_has(ref, key)) ngrad++;
        else assert_true(strcmp(m.tensors[i].name, "self_logit_scale") == 0 || ngrad == 0);
    }
    if (ngrad) {
        for (int b = 0; b < 4; b++) flips += expect_block_grads(&m, ref, prefix, grad, b);
        static const char *const rest[2] = {"mixing_weights", "logit_scale"};
        for (int r = 0; r < 2; r++) {
            const gc_pp_tensor *t = gc_postproc_tensor(&m, rest[r]);
            snprintf(key, sizeof key, "%sgrad.%s", prefix, rest[r]);
            gct_expect_close(ref, key, grad + t->offset, t->numel, TOL);
        }
        assert_int_equal(ngrad, m.n_tensors - 1);
        assert_true(flips <= 1);
    }
    snprintf(key, sizeof key, "%sgrad.corr_map_net.x_normal", prefix);
    if (gc_weights_has(ref, key)) {
        gct_expect_close(ref, key, grad_g, 60, TOL);
        snprintf(key, sizeof key, "%sgrad.corr_map_net.y_normal", prefix);
        gct_expect_close(ref, key, grad_g + 60, 60, TOL);
        assert_int_equal(ngrad, m.n_tensors - 1);
    }
    for (int k = 0; k < 4; k++) {
        gc_pp_cache_free(&caches[k]);
        free(x[k]);
    }
    gc_pair_loss_free(&loss);
    free(grad);
    free(ks);
    free(kt);
    free(pi);
    gc_postproc_clear(&m);
    gc_weights_free(ref);
    cJSON_Delete(root);
}

static void test_spair_cat(void **state) { (void)state; run_case("spair_cat"); }
/* under ASan+UBSan (GEOCORR_SANITIZED) two of the four cases run, to stay within the time budget */
static void test_spair_first(void **state) {
    (void)state;
    if (!getenv("GEOCORR_SANITIZED")) run_case("spair_first");
}
static void test_ap10k(void **state) {
    (void)state;
    if (!getenv("GEOCORR_SANITIZED")) run_case("ap10k");
}
static void test_single_flip(void **state) { (void)state; run_case("spair_cat_single_flip"); }

/* `geocorr trace train-step` on the spair_cat case: inputs written as TRACE.md §3 lists them. */
static void test_trace_cli(void **state) {
    (void)state;
    cJSON *root;
    assert_int_equal(gc_json_load(gct_fixture("geoaware_train.json"), &root), GC_OK);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), "spair_cat");
    gc_weights *ref = gct_open(gct_fixture("geoaware_train.safetensors"));
    const char *dir = gct_tmpdir("train_trace");
    char in[1200], out[1200], key[160];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    gc_st_writer *wr = gc_st_writer_new();
    static const char *const parts[4] = {"s3", "s4", "s5", "dino"};
    for (int k = 0; k < 4; k++) {
        const cJSON *rec = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "feature_recipes"), k_slots[k]);
        for (int q = 0; q < 4; q++) {
            const cJSON *r = cJSON_GetObjectItem(rec, parts[q]);
            int64_t shape[4], n = 1;
            for (int d = 0; d < 4; d++) n *= shape[d] = (int64_t)cJSON_GetArrayItem(cJSON_GetObjectItem(r, "shape"), d)->valuedouble;
            float *buf = malloc((size_t)n * sizeof(float));
            gc_prng_fill(cJSON_GetObjectItem(r, "name")->valuestring, (uint64_t)cJSON_GetObjectItem(r, "seed")->valuedouble,
                         cJSON_GetObjectItem(r, "offset")->valuedouble, cJSON_GetObjectItem(r, "scale")->valuedouble, buf, n);
            snprintf(key, sizeof key, "%s.%s", k_slots[k], parts[q]);
            assert_int_equal(gc_st_writer_add(wr, key, GC_DT_F32, 4, shape, buf), GC_OK);
            free(buf);
        }
    }
    int64_t n;
    float *ks = kps_from_json(cJSON_GetObjectItem(c, "src_kps"), &n), *kt = kps_from_json(cJSON_GetObjectItem(c, "trg_kps"), &n);
    assert_int_equal(GC_ST_ADD_F32(wr, "src_kps", ks, n, 3), GC_OK);
    assert_int_equal(GC_ST_ADD_F32(wr, "trg_kps", kt, n, 3), GC_OK);
    double ts = cJSON_GetObjectItem(c, "threshold_src_840")->valuedouble, tt = cJSON_GetObjectItem(c, "threshold_trg_840")->valuedouble;
    assert_int_equal(gc_st_writer_add(wr, "threshold_src_840", GC_DT_F64, 1, (int64_t[]){1}, &ts), GC_OK);
    assert_int_equal(gc_st_writer_add(wr, "threshold_trg_840", GC_DT_F64, 1, (int64_t[]){1}, &tt), GC_OK);
    const cJSON *perm = cJSON_GetObjectItem(c, "permute_indices");
    int64_t np = cJSON_GetArraySize(perm), pi[64];
    for (int64_t i = 0; i < np; i++) pi[i] = (int64_t)cJSON_GetArrayItem(perm, (int)i)->valuedouble;
    assert_int_equal(gc_st_writer_add(wr, "permute_indices", GC_DT_I64, 1, &np, pi), GC_OK);
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "spair_cat.t%d.jitter_z", k);
        const gc_tensor_ref *r = gc_weights_find(ref, key);
        const float *z;
        assert_int_equal(gc_weights_f32(ref, key, r->ndim, r->shape, &z), GC_OK);
        snprintf(key, sizeof key, "t%d.jitter_z", k);
        assert_int_equal(gc_st_writer_add(wr, key, GC_DT_F32, 2, r->shape, z), GC_OK);
    }
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    const char *weights = gct_fixture("geoaware_postproc_tiny.model.safetensors");
    assert_int_equal(gct_geocorr("trace train-step --weights '%s' --inputs '%s' --out '%s'", weights, in, out), 0);
    gc_weights *got = gct_open(out);
    const float *v;
    assert_int_equal(GC_WEIGHT(got, "loss", &v, 1), GC_OK);
    expect_scalar("trace loss", *v, cJSON_GetObjectItem(c, "loss")->valuedouble, TOL);
    static const char *const keys[] = {"t0.flow_map", "t2.gt_flow", "t1.kps_1", "grad.bottleneck_layers.1.0.conv2.weight",
                                       "grad.mixing_weights", "grad.logit_scale", "grad.corr_map_net.x_normal",
                                       "grad.corr_map_net.y_normal"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const gc_tensor_ref *r = gc_weights_find(got, keys[k]);
        assert_non_null(r);
        assert_int_equal(gc_weights_f32(got, keys[k], r->ndim, r->shape, &v), GC_OK);
        snprintf(key, sizeof key, "spair_cat.%s", keys[k]);
        gct_expect_close(ref, key, v, r->numel, TOL);
    }
    assert_non_null(gc_weights_find(got, "desc_trg_flip"));
    assert_null(gc_weights_find(got, "grad.self_logit_scale"));
    gc_weights_free(got);
    remove(out);
    /* without the jitter draws the command fails cleanly, naming the key, and writes nothing */
    assert_int_not_equal(gct_geocorr("trace train-step --weights '%s' --inputs '%s' --out '%s' --jitter 0.1 --single-flip 1",
                                     weights, in, out), 0);
    assert_non_null(strstr(gct_last_stderr(), "jitter"));
    assert_false(gc_file_exists(out));
    free(ks);
    free(kt);
    gc_weights_free(ref);
    cJSON_Delete(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spair_cat),
        cmocka_unit_test(test_spair_first),
        cmocka_unit_test(test_ap10k),
        cmocka_unit_test(test_single_flip),
        cmocka_unit_test(test_trace_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
