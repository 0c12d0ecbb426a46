/* `geocorr train` end to end on the mini SPair-71k (fixture minidata, real layout) with a feature cache
 * of tiny random maps written here (channel counts of the authors' tiny .PTH post-processor: 16, 24,
 * 24, 32; GroupNorm 8 from the init folder's config.json): the loss falls, best/last checkpoints load
 * back through `trace postproc`, and a run stopped by --max-steps then resumed ends with the same
 * bytes as an uninterrupted one; a DINO-only network trains on a dino-only cache. Also the readers'
 * source threshold and the cache errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "io/prng_weights.h"
#include "pipeline/feature_cache.h"
#include "train/trainer.h"
#include "testutil.h"

static char g_dir[1024], g_spair[1200];

static void mkdirs(const char *file) {
    char p[1400];
    snprintf(p, sizeof p, "%s", file);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
}

/* One cache file: s3 [16,60,60], s4 [24,30,30], s5 [24,15,15], dino [32,60,60] (dino only: drop_sd). */
static void write_cache_file(const char *cache, const char *rel, int flip, bool drop_sd) {
    static const char *const names[4] = {"s3", "s4", "s5", "dino"};
    static const int64_t dims[4] = {16, 24, 24, 32}, grids[4] = {60, 30, 15, 60};
    char *file = gc_cache_path(cache, rel, flip);
    mkdirs(file);
    gc_st_writer *wr = gc_st_writer_new();
    for (int i = drop_sd ? 3 : 0; i < 4; i++) {
        const int64_t n = dims[i] * grids[i] * grids[i];
        float *m = malloc((size_t)n * sizeof(float));
        char seed[600];
        snprintf(seed, sizeof seed, "%s.%d.%s", rel, flip, names[i]);
        gc_prng_fill(seed, 5, 0.0, 1.0, m, n);
        assert_int_equal(GC_ST_ADD_F32(wr, names[i], m, 1, dims[i], grids[i], grids[i]), GC_OK);
        free(m);
    }
    assert_int_equal(gc_st_writer_save(wr, file), GC_OK);
    gc_st_writer_free(wr);
    free(file);
}

static void write_cache_of(gc_dataset_kind kind, const char *root, const char *cache, const char *split, bool drop_sd) {
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, kind, root, split, GC_AP10K_INTRA), GC_OK);
    for (int i = 0; i < set.n_pairs; i++)
        for (int f = 0; f < 2; f++) {
            write_cache_file(cache, set.pairs[i].src, f, drop_sd);
            write_cache_file(cache, set.pairs[i].trg, f, drop_sd);
        }
    gc_eval_set_free(&set);
}

static void write_cache(const char *cache, const char *split, bool drop_sd) {
    write_cache_of(GC_DS_SPAIR, g_spair, cache, split, drop_sd);
}

static int setup(void **state) {
    (void)state;
    /* with --threads 1 idle OpenMP workers still spin (~20x slower on the loaded 2-core machine) */
    setenv("OMP_WAIT_POLICY", "passive", 1);
    snprintf(g_dir, sizeof g_dir, "%s", gct_tmpdir("train_cmd"));
    snprintf(g_spair, sizeof g_spair, "%s/minidata/data/SPair-71k", gct_fixtures());
    write_cache(gct_path(g_dir, "cache"), "trn", false);
    write_cache(gct_path(g_dir, "cache"), "test", false);
    /* the init: the authors' tiny .PTH in a folder whose config.json gives its 8 GroupNorm groups */
    mkdir(gct_path(g_dir, "init"), 0755);
    const char *cfg = "{\"num_norm_groups\": 8}\n";
    gct_write_file(gct_path(g_dir, "init/config.json"), cfg, strlen(cfg));
    if (symlink(gct_fixture("ckpt/postproc_tiny.PTH"), gct_path(g_dir, "init/postproc_tiny.PTH")) != 0) return -1;
    return 0;
}

/* The SPair reader's source threshold: src bbox max side x source scale (first trn pair, by hand from
 * its JSON: bndbox [53, 80, 327, 322], image 333x500 -> 274 * 840/500 = 460.32). */
static void test_source_threshold(void **state) {
    (void)state;
    gc_eval_set set;
    assert_int_equal(gc_eval_set_load(&set, GC_DS_SPAIR, g_spair, "trn", GC_AP10K_INTRA), GC_OK);
    int k = gc_eval_set_find(&set, "cat/2099_000005.jpg", "cat/2099_000006.jpg");
    assert_true(k >= 0);
    assert_true(fabs(set.pairs[k].thr_src - 460.32) < 1e-9);
    gc_eval_set_free(&set);
}

static const char *k_common = "--dataset spair --root %s --cache %s --init %s --val-split test --schedule constant "
                              "--lr 5e-3 --pair-augment --epochs 4 --val-every 3 --val-pairs 3 --seed 7 --threads 1";

static int train(const char *out, const char *extra) {
    char fmt[1024];
    snprintf(fmt, sizeof fmt, "train %s --out %%s %s", k_common, extra);
    return gct_geocorr(fmt, g_spair, gct_path(g_dir, "cache"), gct_path(g_dir, "init"), out);
}

/* Mean loss of log lines "step N ... loss X" with N in [a, b]. */
static double mean_loss(const char *log, int a, int b) {
    char *text;
    size_t len;
    assert_int_equal(gc_read_file(log, &text, &len, 1 << 24), GC_OK);
    double sum = 0;
    int n = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        long step;
        double loss;
        if (sscanf(l, "step %ld epoch %*d pair %*d loss %lf", &step, &loss) == 2 && step >= a && step <= b) {
            sum += loss;
            n++;
        }
    }
    free(text);
    assert_true(n > 0);
    return sum / n;
}

static void expect_same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    assert_int_equal(gc_read_file(a, &x, &nx, 1 << 26), GC_OK);
    assert_int_equal(gc_read_file(b, &y, &ny, 1 << 26), GC_OK);
    assert_int_equal(nx, ny);
    if (memcmp(x, y, nx) != 0) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

static void test_train_resume(void **state) {
    (void)state;
    /* 6 training pairs x 4 epochs = 24 steps */
    assert_int_equal(train(gct_path(g_dir, "full"), ""), 0);
    const double first = mean_loss(gct_path(g_dir, "full/train.log"), 1, 6), last = mean_loss(gct_path(g_dir, "full/train.log"), 19, 24);
    printf("  mean loss epoch 1 %.4f, epoch 4 %.4f\n", first, last);
    assert_true(last < first);
    assert_int_equal(access(gct_path(g_dir, "full/best.safetensors"), F_OK), 0);
    /* checkpoints load back under the reference names */
    char in[1300];
    snprintf(in, sizeof in, "%s", gct_path(g_dir, "pp_in.st"));
    float *x = malloc(96 * 8 * 8 * sizeof(float));
    gc_prng_fill("train.in", 1, 0, 1, x, 96 * 64);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "input", x, 1, 96, 8, 8), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    free(x);
    assert_int_equal(gct_geocorr("trace postproc --weights %s --groups 8 --inputs %s --out %s", gct_path(g_dir, "full/best.safetensors"),
                                 in, gct_path(g_dir, "best_out.st")), 0);
    assert_int_equal(gct_geocorr("trace postproc --weights %s --groups 8 --inputs %s --out %s", gct_path(g_dir, "full/last.safetensors"),
                                 in, gct_path(g_dir, "last_out.st")), 0);
    /* interrupted after 10 steps, then resumed: the same parameters and state as the uninterrupted run */
    assert_int_equal(train(gct_path(g_dir, "part"), "--max-steps 10"), 0);
    assert_int_equal(train(gct_path(g_dir, "part"), "--resume"), 0);
    /* the progress display (stderr is a file here: plain lines), counted from the resumed step */
    printf("  %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "train 11/24 steps (45%)"));
    assert_non_null(strstr(gct_last_stderr(), "train 24/24 steps (100%)"));
    assert_non_null(strstr(gct_last_stderr(), "  loss "));
    expect_same_file(gct_path(g_dir, "full/last.safetensors"), gct_path(g_dir, "part/last.safetensors"));
    expect_same_file(gct_path(g_dir, "full/last.state.safetensors"), gct_path(g_dir, "part/last.state.safetensors"));
}

/* The reference's initialisation, checked on the checkpoint of one step at lr 1e-9 (AdamW moves each
 * element by <= ~1e-9): it equals gc_postproc_init_reference with the run's seed and the cache's
 * widths (16, 24, 24, 32 -> 128), every conv's std is within 5% of sqrt(2/(C_out k k)) where the
 * tensor has >= 2048 elements (>= 3 sigma of a sample std there: 1/sqrt(2n) <= 1.6%), the others take
 * their constants. */
static void expect_reference_init(const char *ckpt, uint64_t seed) {
    gc_postproc ref;
    const int64_t fd[4] = {16, 24, 24, 32};
    assert_int_equal(gc_postproc_new(&ref, 4, fd, 128, 32), GC_OK);
    gc_postproc_init_reference(&ref, seed);
    gc_weights *w = gct_open(ckpt);
    int checked = 0;
    for (int i = 0; i < ref.n_tensors; i++) {
        const gc_pp_tensor *t = &ref.tensors[i];
        const float *want = ref.data + t->offset, *got;
        assert_int_equal(gc_weights_f32(w, t->name, t->ndim, t->shape, &got), GC_OK);
        double d = 0, ss = 0, sum = 0;
        for (int64_t j = 0; j < t->numel; j++) {
            d = fmax(d, fabs((double)got[j] - want[j]));
            sum += got[j];
            ss += (double)got[j] * got[j];
        }
        assert_true(d <= 1e-8);
        if (t->ndim == 4) {
            const double kstd = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
            const double mean = sum / t->numel, sd = sqrt(ss / t->numel - mean * mean);
            if (t->numel >= 2048) {
                printf("  %-40s n %6lld std %.5f Kaiming %.5f (%+.2f%%) mean %+.5f\n", t->name, (long long)t->numel, sd,
                       kstd, 100 * (sd / kstd - 1), mean);
                assert_true(fabs(sd / kstd - 1) <= 0.05);
                assert_true(fabs(mean) <= 4 * kstd / sqrt((double)t->numel));
                checked++;
            }
        } else {
            const float c = strstr(t->name, "norm.bias") ? 0.0f
                            : strcmp(t->name, "logit_scale") == 0 ? logf(1.0f / 0.07f)
                            : strcmp(t->name, "self_logit_scale") == 0 ? logf(10.0f)
                            : 1.0f;
            for (int64_t j = 0; j < t->numel; j++) assert_true(fabs(got[j] - c) <= 1e-8);
        }
    }
    assert_true(checked >= 8);
    gc_weights_free(w);
    gc_postproc_clear(&ref);
}

/* `geocorr train` without --init: widths from the cache (16, 24, 24, 32), output --proj-dim 128,
 * 32 groups, the reference's initialisation drawn from the seed; the loss falls and the same seed
 * gives the same bytes. */
static void test_train_from_scratch(void **state) {
    (void)state;
    static const char *fmt = "train --dataset spair --root %s --cache %s --out %s --proj-dim 128 --val-split test "
                             "--schedule constant --pair-augment --val-pairs 1 --seed %d --threads 1 %s";
    const char *cache = gct_path(g_dir, "cache");
    assert_int_equal(gct_geocorr(fmt, g_spair, cache, gct_path(g_dir, "s_init"), 11, "--lr 1e-9 --wd 0 --max-steps 1"), 0);
    expect_reference_init(gct_path(g_dir, "s_init/last.safetensors"), 11);
    /* 6 training pairs x 4 epochs = 24 steps (2 epochs under the sanitizers) */
    const bool asan = getenv("GEOCORR_SANITIZED") != NULL;
    const char *run = asan ? "--lr 5e-3 --epochs 2 --val-every 100" : "--lr 5e-3 --epochs 4 --val-every 100";
    assert_int_equal(gct_geocorr(fmt, g_spair, cache, gct_path(g_dir, "s_a"), 11, run), 0);
    const int last_epoch = asan ? 2 : 4;
    const double first = mean_loss(gct_path(g_dir, "s_a/train.log"), 1, 6),
                 last = mean_loss(gct_path(g_dir, "s_a/train.log"), 6 * last_epoch - 5, 6 * last_epoch);
    printf("  from scratch: mean loss epoch 1 %.4f, epoch %d %.4f\n", first, last_epoch, last);
    assert_true(last < first);
    /* the same seed, the same bytes: a second identical run, Release only (under the sanitizers it repeats the
     * first run's code; test_train_resume's full == stopped + resumed runs also compare bytes there) */
    if (!asan) {
        assert_int_equal(gct_geocorr(fmt, g_spair, cache, gct_path(g_dir, "s_b"), 11, run), 0);
        expect_same_file(gct_path(g_dir, "s_a/last.safetensors"), gct_path(g_dir, "s_b/last.safetensors"));
        expect_same_file(gct_path(g_dir, "s_a/last.state.safetensors"), gct_path(g_dir, "s_b/last.state.safetensors"));
    }
    /* another seed, another initialisation; --feature-dims that do not match the cache are named */
    gc_postproc a, b;
    const int64_t fd[4] = {16, 24, 24, 32};
    assert_int_equal(gc_postproc_new(&a, 4, fd, 128, 32), GC_OK);
    assert_int_equal(gc_postproc_new(&b, 4, fd, 128, 32), GC_OK);
    gc_postproc_init_reference(&a, 11);
    gc_postproc_init_reference(&b, 12);
    assert_true(memcmp(a.data, b.data, (size_t)a.n_params * sizeof(float)) != 0);
    gc_postproc_clear(&a);
    gc_postproc_clear(&b);
    assert_int_not_equal(gct_geocorr(fmt, g_spair, cache, gct_path(g_dir, "s_e"), 11, "--feature-dims 16,24,24,48"), 0);
    assert_non_null(strstr(gct_last_stderr(), "'dino' has 32 channels"));
    assert_int_not_equal(gct_geocorr(fmt, g_spair, cache, gct_path(g_dir, "s_e"), 11, "--feature-dims 16,24,24"), 0);
    assert_non_null(strstr(gct_last_stderr(), "--feature-dims"));
}

/* AP-10K (one flip table for every species): a short run trains and validates. */
static void test_ap10k(void **state) {
    (void)state;
    char root[1300];
    snprintf(root, sizeof root, "%s/minidata/data/ap-10k", gct_fixtures());
    write_cache_of(GC_DS_AP10K, root, gct_path(g_dir, "ap_cache"), "trn", false);
    write_cache_of(GC_DS_AP10K, root, gct_path(g_dir, "ap_cache"), "test", false);
    assert_int_equal(gct_geocorr("train --dataset ap10k --root %s --cache %s --init %s --val-split test --val-pairs 2 "
                                 "--pair-augment --epochs 1 --threads 1 --out %s",
                                 root, gct_path(g_dir, "ap_cache"), gct_path(g_dir, "init"), gct_path(g_dir, "ap_out")), 0);
    assert_int_equal(access(gct_path(g_dir, "ap_out/best.safetensors"), F_OK), 0);
    assert_true(mean_loss(gct_path(g_dir, "ap_out/train.log"), 1, 4) > 0);
}

static void test_cache_errors(void **state) {
    (void)state;
    /* a missing cache file */
    assert_int_not_equal(gct_geocorr("train --dataset spair --root %s --cache %s --init %s --val-split test --out %s",
                                     g_spair, gct_path(g_dir, "no_cache"), gct_path(g_dir, "init"), gct_path(g_dir, "e2")), 0);
    assert_non_null(strstr(gct_last_stderr(), "feature cache file missing"));
    assert_int_not_equal(gct_geocorr("train --dataset spair --root %s --cache %s --init %s --schedule fast --out %s",
                                     g_spair, gct_path(g_dir, "cache"), gct_path(g_dir, "init"), gct_path(g_dir, "e3")), 0);
    assert_non_null(strstr(gct_last_stderr(), "--schedule"));
}

/* A DINO-only post-processor (the reference's AggregationNetwork(feature_dims=[32])): block 3 of the
 * tiny .PTH as block 0, one mixing weight. It trains on a cache holding only `dino`. */
static void test_dino_only(void **state) {
    (void)state;
    write_cache(gct_path(g_dir, "dino_cache"), "trn", true);
    write_cache(gct_path(g_dir, "dino_cache"), "test", true);
    mkdir(gct_path(g_dir, "dino_init"), 0755);
    const char *cfg = "{\"num_norm_groups\": 8}\n";
    gct_write_file(gct_path(g_dir, "dino_init/config.json"), cfg, strlen(cfg));
    gc_weights *w = gct_open(gct_fixture("ckpt/postproc_tiny.expected.safetensors"));
    gc_st_writer *wr = gc_st_writer_new();
    for (int64_t i = 0; i < gc_weights_count(w); i++) {
        const gc_tensor_ref *t = gc_weights_at(w, i);
        char name[128];
        if (strncmp(t->name, "bottleneck_layers.3.0.", 22) == 0)
            snprintf(name, sizeof name, "bottleneck_layers.0.0.%s", t->name + 22);
        else if (strcmp(t->name, "logit_scale") == 0)
            snprintf(name, sizeof name, "%s", t->name);
        else
            continue;
        assert_int_equal(gc_st_writer_add(wr, name, t->dtype, t->ndim, t->shape, t->data), GC_OK);
    }
    const float mixing = 1.0f;
    assert_int_equal(GC_ST_ADD_F32(wr, "mixing_weights", &mixing, 1), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, gct_path(g_dir, "dino_init/dino.safetensors")), GC_OK);
    gc_st_writer_free(wr);
    gc_weights_free(w);
    assert_int_equal(gct_geocorr("train --dataset spair --root %s --cache %s --init %s --val-split test --val-pairs 2 "
                                 "--pair-augment --epochs 1 --threads 1 --out %s",
                                 g_spair, gct_path(g_dir, "dino_cache"), gct_path(g_dir, "dino_init"), gct_path(g_dir, "dino_out")), 0);
    float *x = malloc(32 * 8 * 8 * sizeof(float));
    gc_prng_fill("dino.in", 1, 0, 1, x, 32 * 64);
    wr = gc_st_writer_new();
    assert_int_equal(GC_ST_ADD_F32(wr, "input", x, 1, 32, 8, 8), GC_OK);
    assert_int_equal(gc_st_writer_save(wr, gct_path(g_dir, "dino_in.st")), GC_OK);
    gc_st_writer_free(wr);
    free(x);
    assert_int_equal(gct_geocorr("trace postproc --weights %s --groups 8 --inputs %s --out %s",
                                 gct_path(g_dir, "dino_out/best.safetensors"), gct_path(g_dir, "dino_in.st"), gct_path(g_dir, "dino_trace.st")), 0);
    gc_weights *o = gct_open(gct_path(g_dir, "dino_trace.st"));
    const gc_tensor_ref *mix = gc_weights_find(o, "mixing_softmax");
    assert_non_null(mix);
    assert_int_equal(mix->shape[0], 1);
    assert_null(gc_weights_find(o, "b1.out"));
    gc_weights_free(o);
    /* the four-group network on that cache: the file and the missing map are named */
    assert_int_not_equal(gct_geocorr("train --dataset spair --root %s --cache %s --init %s --val-split test --out %s",
                                     g_spair, gct_path(g_dir, "dino_cache"), gct_path(g_dir, "init"), gct_path(g_dir, "e1")), 0);
    assert_non_null(strstr(gct_last_stderr(), "dino_cache/"));
    assert_non_null(strstr(gct_last_stderr(), "'s3'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_threshold),
        cmocka_unit_test(test_train_resume),
        cmocka_unit_test(test_train_from_scratch),
        cmocka_unit_test(test_dino_only),
        cmocka_unit_test(test_ap10k),
        cmocka_unit_test(test_cache_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
