/* The training loop state: deterministic for a seed (dropout masks and jitter from the documented C
 * stream), and save + resume reproduces an uninterrupted run bit for
 * bit; the saved model reloads under the reference's state-dict names. Tiny model, spair_cat pair. */
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
    assert_int_equal(gc_postproc_open(&ps->m, gct_fixture("geoaware_postproc_tiny.model.safetensors")), GC_OK);
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
    gc_postproc_free(&ps->m);
}

static gc_train_cfg cfg_default(void) {
    gc_train_cfg c = {.loss = gc_loss_cfg_default(), .sched = gc_schedule_one_cycle(1.25e-3, 5, 2), .lr = 1.25e-3,
                      .weight_decay = 1e-3, .dropout = 0.2, .seed = 42};
    return c;
}

/* Parameters after `steps` steps from a fresh model. */
static float *run(pair_setup *ps, int steps, const char *save_dir) {
    gc_postproc_free(&ps->m);
    assert_int_equal(gc_postproc_open(&ps->m, gct_fixture("geoaware_postproc_tiny.model.safetensors")), GC_OK);
    gc_trainer t;
    gc_train_cfg cfg = cfg_default();
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
    assert_int_equal(gc_postproc_open(&m2, path), GC_OK);
    assert_memory_equal(m2.data, first, (size_t)m2.n_params * sizeof(float));
    gc_postproc_free(&m2);
    /* same seed, same bytes. (Across thread counts the weight gradients differ in the last bits:
     * OpenBLAS 0.3.21's skinny large-K SGEMMs (K = 3600 cells) sum differently with 1 and 2
     * threads, against linear.c's note; reported to the lead, not claimed here.) */
    float *one = run(&ps, 2, NULL);
    assert_memory_equal(one, straight, bytes);
    /* a missing state file is a clear error naming it */
    snprintf(path, sizeof path, "%s/last.state.safetensors", dir);
    remove(path);
    gc_trainer t;
    gc_train_cfg cfg = cfg_default();
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
