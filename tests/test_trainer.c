/* The training loop state: deterministic for a seed (dropout masks and jitter from the documented C
 * stream), independent of the thread count, and save + resume reproduces an uninterrupted run bit for
 * bit; the saved model reloads under the reference's state-dict names. Tiny model, spair_cat pair. */
#include "train/train_loop.h"
#include "train/trainer.h"
#include "train_fixture.h"

typedef struct {
    gc_postproc m;
    float *x[4], *ks, *kt;
    int64_t perm[64];
    gc_step_inputs in;
} pair_setup;

static void setup_pair(pair_setup *ps) {
    cJSON *root;
    assert_int_equal(gc_json_load(gct_fixture("geoaware_train.json"), &root), GC_OK);
    const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "cases"), "spair_cat");
    assert_int_equal(gc_postproc_open(&ps->m, gct_fixture("geoaware_postproc_tiny.model.safetensors"), 0), GC_OK);
    memset(&ps->in, 0, sizeof ps->in);
    for (int k = 0; k < 4; k++)
        ps->in.x[k] = ps->x[k] = fused_from_recipes(&ps->m, cJSON_GetObjectItem(cJSON_GetObjectItem(c, "feature_recipes"), k_slots[k]));
    int64_t n;
    ps->in.kps_src = ps->ks = kps_from_json(cJSON_GetObjectItem(c, "src_kps"), &ps->in.nk);
    ps->in.kps_trg = ps->kt = kps_from_json(cJSON_GetObjectItem(c, "trg_kps"), &n);
    ps->in.thr_src = cJSON_GetObjectItem(c, "threshold_src_840")->valuedouble;
    ps->in.thr_trg = cJSON_GetObjectItem(c, "threshold_trg_840")->valuedouble;
    const cJSON *perm = cJSON_GetObjectItem(c, "permute_indices");
    ps->in.np = cJSON_GetArraySize(perm);
    for (int64_t i = 0; i < ps->in.np; i++) ps->perm[i] = (int64_t)cJSON_GetArrayItem(perm, (int)i)->valuedouble;
    ps->in.perm = ps->perm;
    cJSON_Delete(root);
}

static void free_pair(pair_setup *ps) {
    for (int k = 0; k < 4; k++) free(ps->x[k]);
    free(ps->ks);
    free(ps->kt);
    gc_postproc_clear(&ps->m);
}

static gc_trainer_cfg cfg_default(void) {
    gc_trainer_cfg c = {.loss = gc_loss_cfg_default(), .sched = gc_schedule_one_cycle(1.25e-3, 5, 2), .lr = 1.25e-3,
                      .weight_decay = 1e-3, .dropout = 0.2, .seed = 42};
    return c;
}

/* Parameters after `steps` steps from a fresh model. */
static float *run(pair_setup *ps, int steps, const char *save_dir) {
    gc_postproc_clear(&ps->m);
    assert_int_equal(gc_postproc_open(&ps->m, gct_fixture("geoaware_postproc_tiny.model.safetensors"), 0), GC_OK);
    gc_trainer t;
    gc_trainer_cfg cfg = cfg_default();
    assert_int_equal(gc_trainer_init(&t, &ps->m, &cfg), GC_OK);
    if (save_dir && steps < 0) assert_int_equal(gc_trainer_resume(&t, save_dir, "last"), GC_OK);
    for (int s = 0; s < (steps < 0 ? -steps : steps); s++) {
        gc_pair_loss loss;
        double lr;
        assert_int_equal(gc_trainer_step(&t, &ps->in, &loss, &lr), GC_OK);
        printf("  step %lld: loss %.6f lr %.3g\n", (long long)t.opt.step, loss.loss, lr);
        assert_true(isfinite(loss.loss) && loss.loss > 0);
        gc_pair_loss_free(&loss);
    }
    if (save_dir && steps > 0) assert_int_equal(gc_trainer_save(&t, save_dir, "last"), GC_OK);
    float *p = malloc((size_t)t.n * sizeof(float));
    memcpy(p, t.p, (size_t)t.n * sizeof(float));
    gc_trainer_free(&t);
    return p;
}

static void test_resume(void **state) {
    (void)state;
    pair_setup ps;
    setup_pair(&ps);
    const char *dir = gct_tmpdir("trainer");
    const size_t bytes = (size_t)(ps.m.n_params + 120) * sizeof(float);
    float *straight = run(&ps, 2, NULL);
    float *first = run(&ps, 1, dir);
    float *resumed = run(&ps, -1, dir);
    assert_memory_not_equal(first, straight, bytes); /* the second step moved the parameters */
    assert_memory_equal(resumed, straight, bytes);
    /* the saved model is a post-processor checkpoint under the reference's names */
    char path[1200];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    gc_postproc m2;
    assert_int_equal(gc_postproc_open(&m2, path, 0), GC_OK);
    assert_memory_equal(m2.data, first, (size_t)m2.n_params * sizeof(float));
    gc_postproc_clear(&m2);
    /* same bytes with one thread (gc_matmul's fixed K-chunks; before them the weight gradients
     * differed in the last bits between 1 and 2 threads) */
    gc_set_threads(1);
    float *one = run(&ps, 2, NULL);
    gc_set_threads(0);
    assert_memory_equal(one, straight, bytes);
    /* a missing state file is a clear error naming it */
    snprintf(path, sizeof path, "%s/last.state.safetensors", dir);
    remove(path);
    gc_trainer t;
    gc_trainer_cfg cfg = cfg_default();
    assert_int_equal(gc_trainer_init(&t, &ps.m, &cfg), GC_OK);
    assert_int_not_equal(gc_trainer_resume(&t, dir, "last"), GC_OK);
    assert_non_null(strstr(gc_last_error(), "last.state.safetensors"));
    gc_trainer_free(&t);
    free(straight);
    free(first);
    free(resumed);
    free(one);
    free_pair(&ps);
}

/* PF-Pascal quirk: with thr_unscaled the 840 threshold is taken as grid units: std 0.1 * 840 / 2 = 42 */
static void test_pfpascal_jitter_quirk(void **state) {
    (void)state;
    pair_setup ps;
    setup_pair(&ps);
    for (int q = 0; q < 2; q++) {
        gc_loss_cfg cfg = gc_loss_cfg_default();
        cfg.thr_unscaled = q == 1;
        gc_pair_inputs pi = {.P = ps.m.proj, .kps_src = ps.in.kps_src, .kps_trg = ps.in.kps_trg, .nk = ps.in.nk,
                             .thr_src = 840, .thr_trg = 840, .logit_scale = 2.66f};
        float g[120], *d = calloc(3600 * 128, sizeof(float));
        gc_grid_linspace(g, 60);
        gc_grid_linspace(g + 60, 60);
        pi.g = g;
        pi.desc[0] = pi.desc[1] = d;
        for (int i = 0; i < 3600; i++) d[i * 128] = 1.0f;
        gc_pair_loss l;
        assert_int_equal(gc_pair_loss_compute(&cfg, &pi, NULL, NULL, NULL, NULL, NULL, &l), GC_OK);
        printf("  thr_unscaled %d: jitter std %.3f\n", q, l.t[0].jitter_std);
        assert_true(fabsf(l.t[0].jitter_std - (q ? 42.0f : 3.0f)) < 1e-6f);
        gc_pair_loss_free(&l);
        free(d);
    }
    free_pair(&ps);
}

static void test_rng(void **state) {
    (void)state;
    uint64_t s = 42;
    double mean = 0, var = 0;
    for (int i = 0; i < 20000; i++) {
        const double z = gc_rng_normal(&s);
        mean += z / 20000;
        var += z * z / 20000;
    }
    printf("  normal draws: mean %.4f var %.4f\n", mean, var);
    assert_true(fabs(mean) < 0.03 && fabs(var - 1) < 0.05);
}

static gc_status same_pair(void *ctx, int64_t index, gc_step_inputs *in) {
    (void)index;
    *in = ((pair_setup *)ctx)->in;
    return GC_OK;
}

static gc_status scripted_val(void *ctx, const gc_postproc *m, double *score) {
    (void)m;
    static const double scores[] = {0.3, 0.2, 0.25};
    int *calls = ctx;
    *score = scores[(*calls)++ % 3];
    return GC_OK;
}

/* Parameters after running the loop (3 pairs, 1 epoch, validation every step) into dir. */
static float *run_loop(pair_setup *ps, const char *dir, int64_t max_steps, bool resume, int *val_calls) {
    gc_postproc_clear(&ps->m);
    assert_int_equal(gc_postproc_open(&ps->m, gct_fixture("geoaware_postproc_tiny.model.safetensors"), 0), GC_OK);
    gc_trainer t;
    gc_trainer_cfg cfg = cfg_default();
    assert_int_equal(gc_trainer_init(&t, &ps->m, &cfg), GC_OK);
    gc_pair_source src = {3, same_pair, ps};
    gc_train_config lc = {.epochs = 1, .val_every = 1, .max_steps = max_steps, .out_dir = dir, .resume = resume};
    assert_int_equal(gc_train_loop(&t, &src, scripted_val, val_calls, &lc), GC_OK);
    float *p = malloc((size_t)t.n * sizeof(float));
    memcpy(p, t.p, (size_t)t.n * sizeof(float));
    gc_trainer_free(&t);
    return p;
}

static void test_loop(void **state) {
    (void)state;
    pair_setup ps;
    setup_pair(&ps);
    const char *d1 = gct_tmpdir("loop_a");
    int calls = 0;
    float *full = run_loop(&ps, d1, 0, false, &calls);
    assert_int_equal(calls, 2); /* after pair index 1 and at the epoch end */
    char path[1200];
    snprintf(path, sizeof path, "%s/train.log", d1);
    char *log;
    size_t len;
    assert_int_equal(gc_read_file(path, &log, &len, 1 << 20), GC_OK);
    printf("%s", log);
    assert_non_null(strstr(log, "step 3 epoch 0"));
    assert_non_null(strstr(log, "double_flip"));
    assert_non_null(strstr(log, "val step 2 score 0.300000 best 0.300000 (saved best)"));
    assert_non_null(strstr(log, "val step 3 score 0.200000 best 0.300000\n"));
    free(log);
    /* last = the final parameters; best = those of step 2 (different) */
    gc_postproc last, best;
    snprintf(path, sizeof path, "%s/last.safetensors", d1);
    assert_int_equal(gc_postproc_open(&last, path, 0), GC_OK);
    assert_memory_equal(last.data, full, (size_t)last.n_params * sizeof(float));
    snprintf(path, sizeof path, "%s/best.safetensors", d1);
    assert_int_equal(gc_postproc_open(&best, path, 0), GC_OK);
    assert_memory_not_equal(best.data, full, (size_t)best.n_params * sizeof(float));
    gc_postproc_clear(&last);
    gc_postproc_clear(&best);
    /* interrupted after 2 steps, resumed: the same bytes as the uninterrupted run */
    const char *d2 = gct_tmpdir("loop_b");
    calls = 0;
    free(run_loop(&ps, d2, 2, false, &calls));
    float *resumed = run_loop(&ps, d2, 0, true, &calls);
    assert_memory_equal(resumed, full, (size_t)(ps.m.n_params + 120) * sizeof(float));
    free(full);
    free(resumed);
    free_pair(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_pfpascal_jitter_quirk),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
