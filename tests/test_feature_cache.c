/* The feature cache: a run killed midway is completed by a rerun (every file valid, no valid file
 * computed again, a torn file, stale temporaries and the dead run's claim redone/removed/taken over);
 * shards partition the images exactly and give the same bytes; files of another model or grid are
 * refused with a clear message; concurrent runs on one folder compute every file once (claims: a live
 * one is waited for, a stale one taken over); the status counts without a model; `geocorr extract`
 * with a real (tiny) DINOv2, alone and as three concurrent processes. The cache machinery is tested
 * with a cheap backbone (per-cell colour means of the original image) so that the test stays fast
 * under sanitizers. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "data/dataset.h"
#include "io/file_claim.h"
#include "pipeline/feature_cache.h"

typedef struct {
    const char *log; /* one line "rel flip" per computation, appended across processes */
    int delay_ms;    /* per computation, so that concurrent runs overlap */
} mean_ctx;

static gc_status mean_compute(void *vctx, const gc_image *img, int flip, float *const *maps) {
    mean_ctx *c = vctx;
    float *m = maps[0];
    for (int ch = 0; ch < 3; ch++)
        for (int gy = 0; gy < 60; gy++)
            for (int gx = 0; gx < 60; gx++) {
                int x0 = gx * img->w / 60, x1 = GC_MAX(x0 + 1, (gx + 1) * img->w / 60);
                int y0 = gy * img->h / 60, y1 = GC_MAX(y0 + 1, (gy + 1) * img->h / 60);
                double s = 0;
                for (int y = y0; y < y1 && y < img->h; y++)
                    for (int x = x0; x < x1 && x < img->w; x++) s += img->rgb[3 * ((size_t)y * img->w + (flip ? img->w - 1 - x : x)) + ch];
                m[(ch * 60 + gy) * 60 + gx] = (float)(s / ((double)(x1 - x0) * (y1 - y0)));
            }
    if (c->delay_ms) usleep((useconds_t)c->delay_ms * 1000);
    int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    char line[64];
    int n = snprintf(line, sizeof line, "%d %d\n", img->w * 7 + img->h, flip); /* identifies the image */
    if (fd >= 0) (void)!write(fd, line, (size_t)n), close(fd);
    return GC_OK;
}

static mean_ctx g_ctx;
static gc_feature_fn g_fn;
static char g_root[1300];
static char **g_images;
static int g_n;
static gc_eval_set g_set;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int setup(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("fcache");
    static char log[1300];
    snprintf(log, sizeof log, "%s/compute.log", tmp);
    g_ctx.log = log;
    snprintf(g_fn.model_id, sizeof g_fn.model_id, "test-cell-means:v1");
    g_fn.n_maps = 1;
    snprintf(g_fn.names[0], sizeof g_fn.names[0], "mean");
    g_fn.shape[0][0] = 3, g_fn.shape[0][1] = 60, g_fn.shape[0][2] = 60;
    g_fn.compute = mean_compute, g_fn.ctx = &g_ctx;
    char root[1200];
    snprintf(root, sizeof root, "%s/minidata/data/SPair-71k", gct_fixtures());
    snprintf(g_root, sizeof g_root, "%s/JPEGImages", root);
    if (gc_eval_set_load(&g_set, GC_DS_SPAIR, root, "test", GC_AP10K_INTRA) != GC_OK) fail_msg("%s", gc_last_error());
    g_images = calloc((size_t)g_set.n_pairs * 2, sizeof(char *));
    for (int i = 0; i < g_set.n_pairs; i++) g_images[2 * i] = g_set.pairs[i].src, g_images[2 * i + 1] = g_set.pairs[i].trg;
    qsort(g_images, (size_t)g_set.n_pairs * 2, sizeof(char *), cmp_str);
    for (int i = 0; i < g_set.n_pairs * 2; i++)
        if (!g_n || strcmp(g_images[g_n - 1], g_images[i])) g_images[g_n++] = g_images[i];
    return 0;
}

static int teardown(void **st) {
    (void)st;
    free(g_images);
    gc_eval_set_free(&g_set);
    return 0;
}

static int count_lines(const char *path, const char *line) {
    FILE *f = fopen(path, "r");
    char buf[128];
    int n = 0;
    while (f && fgets(buf, sizeof buf, f)) n += !line || strcmp(buf, line) == 0;
    if (f) fclose(f);
    return n;
}

/* Files under dir (recursively) whose name contains `part`. */
static int count_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) n += count_named(p, part);
        else n += strstr(e->d_name, part) != NULL;
    }
    if (d) closedir(d);
    return n;
}

/* Every file of the full cache (all images, both orientations) is valid for g_fn. */
static void expect_complete(const char *cache) {
    for (int i = 0; i < 2 * g_n; i++) {
        char *p = gc_cache_path(cache, g_images[i / 2], i % 2);
        if (gc_cache_open(p, &g_fn, i % 2, NULL) != GC_OK) fail_msg("%s", gc_last_error());
        free(p);
    }
    assert_int_equal(count_named(cache, ".lock"), 0);
    assert_int_equal(count_named(cache, ".tmp."), 0);
}

/* The progress callback of the killed run: SIGKILL when the run has claimed the file after its 10th
 * written one (as GEOCORR_EXTRACT_CRASH_AFTER does in geocorr extract): it dies holding that claim. */
static void kill_after_10(void *ctx, gc_extract_event ev, const gc_extract_stats *s, double seconds) {
    if (ev == GC_EXTRACT_FILE_STARTED && s->computed + s->redone >= 10) raise(SIGKILL);
}

static void test_resume_after_kill(void **st) {
    (void)st;
    const char *cache = gct_tmpdir("fcache_kill");
    gc_extract_config o = {.cache_dir = cache, .flip = true, .n_shards = 1, .progress = kill_after_10};
    unlink(g_ctx.log);
    pid_t pid = fork();
    if (pid == 0) {
        gc_extract_stats s;
        gc_cache_extract(&g_fn, g_root, g_images, g_n, &o, &s);
        _exit(0); /* not reached: the callback kills the child after 10 files */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int total = 2 * g_n, valid = 0;
    struct stat before[64];
    assert_true(total <= 64);
    char *torn = NULL;
    for (int i = 0; i < total; i++) {
        char *p = gc_cache_path(cache, g_images[i / 2], i % 2);
        if (stat(p, &before[i]) == 0) {
            assert_int_equal(gc_cache_open(p, &g_fn, i % 2, NULL), GC_OK);
            valid++;
            if (!torn) torn = p, p = NULL; /* the first finished file gets torn below */
        } else before[i].st_ino = 0;
        free(p);
    }
    assert_int_equal(valid, 10);
    assert_int_equal(count_lines(g_ctx.log, NULL), 10);
    /* the run died holding the claim of its 11th file: a stale claim the rerun must take over */
    assert_int_equal(count_named(cache, ".lock"), 1);
    gc_extract_shard_status sh;
    gc_extract_models models;
    assert_int_equal(gc_cache_status(cache, g_images, g_n, true, 1, &sh, &models), GC_OK);
    assert_true(sh.total == total && sh.done == 10 && sh.invalid == 0 && sh.stale == 1 && sh.running == 0);
    /* a torn write (as a non-atomic copy would leave) and a stale temporary of a killed writer */
    assert_int_equal(truncate(torn, 100), 0);
    char stale[1400];
    snprintf(stale, sizeof stale, "%s.tmp.AbC123", torn);
    gct_write_file(stale, "junk", 4);
    printf("  killed after 10 files; tore %s\n", gc_basename(torn));
    gc_extract_stats s;
    o.progress = NULL;
    assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, g_n, &o, &s), GC_OK);
    printf("  rerun: %lld files, %lld computed, %lld redone, %lld skipped\n", (long long)s.total, (long long)s.computed,
           (long long)s.redone, (long long)s.skipped);
    assert_int_equal(s.total, total);
    assert_int_equal(s.skipped, 9);
    assert_int_equal(s.redone, 1);
    assert_int_equal(s.computed, total - 10);
    assert_false(gc_file_exists(stale));
    for (int i = 0; i < total; i++) {
        char *p = gc_cache_path(cache, g_images[i / 2], i % 2);
        struct stat now;
        assert_int_equal(stat(p, &now), 0);
        assert_int_equal(gc_cache_open(p, &g_fn, i % 2, NULL), GC_OK);
        if (before[i].st_ino && strcmp(p, torn) != 0) { /* valid files were not rewritten */
            assert_true(now.st_ino == before[i].st_ino);
            assert_true(now.st_mtim.tv_sec == before[i].st_mtim.tv_sec && now.st_mtim.tv_nsec == before[i].st_mtim.tv_nsec);
        }
        free(p);
    }
    /* every (image, orientation) computed exactly once, the torn one twice */
    assert_int_equal(count_lines(g_ctx.log, NULL), total + 1);
    expect_complete(cache);
    free(torn);
}

/* Three runs of the same shard on one folder at once: together they compute every file exactly once,
 * each returns only when the whole shard is valid, and no claim or temporary is left. */
static void test_concurrent_runs(void **st) {
    (void)st;
    const char *cache = gct_tmpdir("fcache_conc"), *tmp = gct_tmpdir("fcache_conc_stats");
    unlink(g_ctx.log);
    g_ctx.delay_ms = 20;
    pid_t pid[3];
    for (int k = 0; k < 3; k++) {
        pid[k] = fork();
        if (pid[k] == 0) {
            gc_extract_config o = {.cache_dir = cache, .flip = true, .n_shards = 1};
            gc_extract_stats s;
            gc_status rc = gc_cache_extract(&g_fn, g_root, g_images, g_n, &o, &s);
            FILE *f = fopen(gct_path(tmp, k == 0 ? "0" : k == 1 ? "1" : "2"), "w");
            if (f) fprintf(f, "%d %lld %lld %lld %lld %lld\n", (int)rc, (long long)s.total, (long long)s.computed,
                           (long long)s.redone, (long long)s.skipped, (long long)s.by_others), fclose(f);
            _exit(0);
        }
    }
    for (int k = 0; k < 3; k++) {
        int status;
        waitpid(pid[k], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    g_ctx.delay_ms = 0;
    long long total = 2 * g_n, sum = 0;
    for (int k = 0; k < 3; k++) {
        int rc;
        long long t, c, r, sk, o;
        FILE *f = fopen(gct_path(tmp, k == 0 ? "0" : k == 1 ? "1" : "2"), "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%d %lld %lld %lld %lld %lld", &rc, &t, &c, &r, &sk, &o), 6);
        fclose(f);
        printf("  run %d: %lld computed, %lld redone, %lld skipped, %lld by the others\n", k, c, r, sk, o);
        assert_int_equal(rc, GC_OK);
        assert_int_equal(t, total);
        assert_int_equal(r, 0);
        assert_int_equal(c + sk + o, total); /* each run accounts for every file of the shard */
        sum += c;
    }
    assert_int_equal(sum, total);                            /* together: each file computed once ... */
    assert_int_equal(count_lines(g_ctx.log, NULL), total);  /* ... and the backbone ran once per file */
    expect_complete(cache);
}

/* A live claim is waited for (the run finishes the file once the holder lets go without writing it),
 * a stale one (its holder died) is taken over; gc_cache_status sees both without computing. */
static void test_claims(void **st) {
    (void)st;
    const char *cache = gct_tmpdir("fcache_claims");
    char *live = gc_cache_path(cache, g_images[0], 0), *dead = gc_cache_path(cache, g_images[1], 0);
    char dir[1400];
    snprintf(dir, sizeof dir, "%s", live);
    *strrchr(dir, '/') = 0;
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(dir, sizeof dir, "%s", dead);
    *strrchr(dir, '/') = 0;
    mkdir(dir, 0777);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t holder = fork();
    if (holder == 0) { /* claims `live`, says so, keeps it 400 ms, lets go without writing the file */
        gc_claim c;
        bool taken;
        if (gc_claim_try(&c, live, &taken) != GC_OK || !taken) _exit(1);
        (void)!write(go[1], "x", 1);
        usleep(400 * 1000);
        gc_claim_release(&c);
        _exit(0);
    }
    char b;
    assert_int_equal(read(go[0], &b, 1), 1);
    pid_t dier = fork();
    if (dier == 0) { /* claims `dead` and dies holding it */
        gc_claim c;
        bool taken;
        if (gc_claim_try(&c, dead, &taken) != GC_OK || !taken) _exit(1);
        _exit(0);
    }
    int status;
    waitpid(dier, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(gc_claim_probe(live), GC_CLAIM_LIVE);
    assert_int_equal(gc_claim_probe(dead), GC_CLAIM_STALE);
    gc_claim c;
    bool taken;
    assert_int_equal(gc_claim_try(&c, live, &taken), GC_OK);
    assert_false(taken); /* held by a live process */
    gc_extract_shard_status sh[2];
    gc_extract_models models;
    assert_int_equal(gc_cache_status(cache, g_images, 2, false, 2, sh, &models), GC_OK);
    assert_true(sh[0].total == 1 && sh[0].running == 1 && sh[0].stale == 0 && sh[0].done == 0);
    assert_true(sh[1].total == 1 && sh[1].running == 0 && sh[1].stale == 1 && sh[1].done == 0);
    /* the run computes `dead` (taking over the stale claim), waits for `live`, then computes it */
    unlink(g_ctx.log);
    gc_extract_config o = {.cache_dir = cache, .n_shards = 1};
    gc_extract_stats s;
    double t0 = gc_now();
    assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, 2, &o, &s), GC_OK);
    double waited = gc_now() - t0;
    printf("  live claim waited for %.2f s, stale claim taken over\n", waited);
    waitpid(holder, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(s.computed == 2 && s.by_others == 0 && s.skipped == 0);
    assert_int_equal(count_lines(g_ctx.log, NULL), 2);
    assert_true(gc_cache_open(live, &g_fn, 0, NULL) == GC_OK && gc_cache_open(dead, &g_fn, 0, NULL) == GC_OK);
    assert_int_equal(count_named(cache, ".lock"), 0);
    assert_int_equal(gc_cache_status(cache, g_images, 2, false, 1, sh, &models), GC_OK);
    assert_true(sh[0].done == 2 && sh[0].running == 0 && sh[0].stale == 0);
    assert_true(models.n == 1 && strcmp(models.id[0], g_fn.model_id) == 0 && models.count[0] == 2);
    close(go[0]), close(go[1]);
    free(live), free(dead);
}

/* noinline: inlined, GCC 12's -Wdangling-pointer takes strstr results on the returned buffer for
 * pointers to the local `b`. */
__attribute__((noinline)) static char *slurp(const char *p, size_t *n) {
    char *b = NULL;
    if (gc_read_file(p, &b, n, 1u << 30) != GC_OK) fail_msg("%s", gc_last_error());
    return b;
}

static void test_shards(void **st) {
    (void)st;
    const char *full = gct_tmpdir("fcache_full");
    gc_extract_config o = {.cache_dir = full, .flip = false, .n_shards = 1, .f16 = true};
    gc_extract_stats s;
    assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, g_n, &o, &s), GC_OK);
    int owners[64] = {0};
    int sum = 0;
    for (int k = 0; k < 3; k++) {
        char tag[32];
        snprintf(tag, sizeof tag, "fcache_shard%d", k);
        const char *dir = gct_tmpdir(tag);
        gc_extract_config so = {.cache_dir = dir, .n_shards = 3, .shard = k, .f16 = true};
        assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, g_n, &so, &s), GC_OK);
        sum += (int)s.total;
        for (int i = 0; i < g_n; i++) {
            char *p = gc_cache_path(dir, g_images[i], 0);
            if (gc_file_exists(p)) {
                owners[i]++;
                char *q = gc_cache_path(full, g_images[i], 0);
                size_t n1, n2;
                char *a = slurp(p, &n1), *b = slurp(q, &n2);
                assert_true(n1 == n2 && memcmp(a, b, n1) == 0); /* same bytes as the unsharded run */
                free(a), free(b), free(q);
            }
            free(p);
        }
    }
    for (int i = 0; i < g_n; i++) assert_int_equal(owners[i], 1);
    assert_int_equal(sum, g_n);
    printf("  3 shards partition the %d images exactly; bytes identical to one run\n", g_n);
}

static void test_foreign_files(void **st) {
    (void)st;
    const char *dir = gct_tmpdir("fcache_foreign");
    gc_extract_config o = {.cache_dir = dir, .n_shards = 1};
    gc_extract_stats s;
    assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, 1, &o, &s), GC_OK);
    char *p = gc_cache_path(dir, g_images[0], 0);
    gc_feature_fn other = g_fn;
    snprintf(other.model_id, sizeof other.model_id, "another-model");
    assert_int_equal(gc_cache_open(p, &other, 0, NULL), GC_ERR_FORMAT);
    printf("  %s\n", gc_last_error());
    assert_non_null(strstr(gc_last_error(), "features of model 'test-cell-means:v1', expected 'another-model'"));
    other = g_fn;
    other.shape[0][1] = other.shape[0][2] = 30;
    assert_int_equal(gc_cache_open(p, &other, 0, NULL), GC_ERR_SHAPE);
    printf("  %s\n", gc_last_error());
    assert_non_null(strstr(gc_last_error(), "another grid"));
    assert_int_equal(gc_cache_open(p, &g_fn, 1, NULL), GC_ERR_FORMAT); /* an original file is not a flipped one */
    /* a foreign file in place is redone, not trusted */
    gc_feature_fn other2 = g_fn;
    snprintf(other2.model_id, sizeof other2.model_id, "another-model");
    assert_int_equal(gc_cache_extract(&other2, g_root, g_images, 1, &o, &s), GC_OK);
    assert_int_equal(s.redone, 1);
    assert_int_equal(gc_cache_open(p, &other2, 0, NULL), GC_OK);
    free(p);
}

/* A DINOv2 folder (config.json + model.safetensors) with the fixtures' tiny model. */
static const char *tiny_dino_dir(void) {
    const char *dino = gct_tmpdir("fcache_dino");
    char cfg[1300], mdl[1300];
    snprintf(cfg, sizeof cfg, "%s/config.json", dino);
    snprintf(mdl, sizeof mdl, "%s/model.safetensors", dino);
    size_t n;
    char *c = slurp(gct_fixture("dinov2_tiny.config.json"), &n);
    gct_write_file(cfg, c, n);
    free(c);
    assert_int_equal(symlink(gct_fixture("dinov2_tiny.model.safetensors"), mdl), 0);
    return dino;
}

/* The CLI with the fixtures' tiny DINOv2 on the two AP-10K cross-species pairs' images (one shard). */
static void test_cli_dinov2(void **st) {
    (void)st;
    if (getenv("GEOCORR_SANITIZED")) {
        printf("  (skipped under sanitizers: DINOv2 at 840x840 is slow there; the cache logic is covered above)\n");
        return;
    }
    const char *dino = tiny_dino_dir(), *cache = gct_tmpdir("fcache_cli");
    int rc = gct_geocorr("extract --dataset ap10k --subset cross-species --root '%s/minidata/data/ap-10k' --cache '%s' "
                         "--dinov2 '%s' --dtype f16 --shard 1/2 --no-progress", gct_fixtures(), cache, dino);
    printf("  %s", gct_last_stderr());
    assert_int_equal(rc, 0);
    /* sorted images: Felidae/cat/...1001, ...1003, Felidae/king cheetah/...1009, ...1011 -> shard 1 has 1003, 1011 */
    char p[1400];
    snprintf(p, sizeof p, "%s/Felidae/cat/000000001003.safetensors", cache);
    gc_weights *w;
    assert_int_equal(gc_safetensors_open(p, &w), GC_OK);
    const gc_tensor_ref *t = gc_weights_find(w, "dino");
    assert_non_null(t);
    assert_int_equal(t->dtype, GC_DT_F16);
    assert_true(t->ndim == 3 && t->shape[0] == 64 && t->shape[1] == 60 && t->shape[2] == 60);
    assert_non_null(strstr(gc_weights_meta(w, "model"), "dinov2-d64:"));
    gc_weights_free(w);
    snprintf(p, sizeof p, "%s/Felidae/cat/000000001001.safetensors", cache);
    assert_false(gc_file_exists(p));
    rc = gct_geocorr("extract --dataset ap10k --subset cross-species --root '%s/minidata/data/ap-10k' --cache '%s' "
                     "--dinov2 '%s' --dtype f16 --shard 1/2 --no-progress", gct_fixtures(), cache, dino);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(gct_last_stderr(), "0 computed, 0 redone (invalid), 2 skipped (valid)"));
}

/* The counts of extract's summary line on stderr. */
static bool parse_summary(const char *text, long long v[5]) {
    const char *line = strstr(text, "extract: shard 0/1: ");
    return line && sscanf(line, "extract: shard 0/1: %lld files: %lld computed, %lld redone (invalid), %lld skipped "
                                "(valid), %lld computed by concurrent runs", &v[0], &v[1], &v[2], &v[3], &v[4]) == 5;
}

/* Three `geocorr extract` processes (tiny DINOv2, both orientations of the mini SPair test images) on
 * one folder at once: a complete cache of one model, no torn file, no file computed twice (the three
 * runs' "computed" counts add up to the file count), and `--status` says so without loading a model. */
static void test_cli_concurrent(void **st) {
    (void)st;
    if (getenv("GEOCORR_SANITIZED")) {
        printf("  (skipped under sanitizers: DINOv2 at 840x840 is slow there; test_concurrent_runs covers the claims)\n");
        return;
    }
    const char *dino = tiny_dino_dir(), *cache = gct_tmpdir("fcache_cli_conc"), *logs = gct_tmpdir("fcache_cli_logs");
    char root[1300];
    snprintf(root, sizeof root, "%s/minidata/data/SPair-71k", gct_fixtures());
    const char *bin = getenv("GEOCORR_BIN");
    assert_non_null(bin);
    pid_t pid[3];
    for (int k = 0; k < 3; k++) {
        pid[k] = fork();
        if (pid[k] == 0) {
            char err[1400];
            snprintf(err, sizeof err, "%s/%d.txt", logs, k);
            int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 2) < 0) _exit(99);
            execl(bin, bin, "extract", "--dataset", "spair", "--root", root, "--split", "test", "--flip", "--cache", cache,
                  "--dinov2", dino, "--dtype", "f16", "--threads", "1", "--no-progress", (char *)NULL);
            _exit(98);
        }
    }
    long long sum = 0, total = 2 * g_n;
    for (int k = 0; k < 3; k++) {
        int status;
        waitpid(pid[k], &status, 0);
        char err[1400];
        snprintf(err, sizeof err, "%s/%d.txt", logs, k);
        size_t n;
        char *text = slurp(err, &n);
        printf("  %s", text);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        long long v[5]; /* files, computed, redone, skipped, by concurrent runs */
        assert_true(parse_summary(text, v));
        assert_true(v[0] == total && v[2] == 0 && v[1] + v[3] + v[4] == total);
        sum += v[1];
        free(text);
    }
    assert_int_equal(sum, total);
    char model[128] = {0};
    for (int i = 0; i < 2 * g_n; i++) {
        char *p = gc_cache_path(cache, g_images[i / 2], i % 2);
        gc_weights *w;
        if (gc_safetensors_open(p, &w) != GC_OK) fail_msg("%s", gc_last_error()); /* a torn file fails here */
        const gc_tensor_ref *t = gc_weights_find(w, "dino");
        assert_true(t && t->dtype == GC_DT_F16 && t->ndim == 3 && t->shape[0] == 64 && t->shape[1] == 60);
        assert_string_equal(gc_weights_meta(w, "flip"), i % 2 ? "1" : "0");
        if (!model[0]) snprintf(model, sizeof model, "%s", gc_weights_meta(w, "model"));
        assert_string_equal(gc_weights_meta(w, "model"), model);
        gc_weights_free(w);
        free(p);
    }
    assert_int_equal(count_named(cache, ".lock"), 0);
    assert_int_equal(count_named(cache, ".tmp."), 0);
    /* --status needs no model flags and loads none */
    assert_int_equal(gct_geocorr("extract --status --dataset spair --root '%s' --split test --flip --cache '%s' --shard 0/3 "
                                 "> '%s/status.txt'", root, cache, logs), 0);
    size_t n;
    char *text = slurp(gct_path(logs, "status.txt"), &n);
    printf("%s", text);
    char want[256];
    snprintf(want, sizeof want, "all: %lld/%lld done (complete)\n", total, total);
    assert_non_null(strstr(text, want));
    for (int k = 0; k < 3; k++) {
        snprintf(want, sizeof want, "shard %d/3: ", k);
        assert_non_null(strstr(text, want));
    }
    snprintf(want, sizeof want, "model %s: %lld files\n", model, total);
    assert_non_null(strstr(text, want));
    free(text);
}

/* --status on a cache being filled: counts per shard, invalid files and claims, and a clear error for a
 * dataset that is not there. */
static void test_cli_status(void **st) {
    (void)st;
    const char *cache = gct_tmpdir("fcache_cli_status"), *out = gct_tmpdir("fcache_cli_status_out");
    gc_extract_config o = {.cache_dir = cache, .n_shards = 2, .shard = 0};
    gc_extract_stats s;
    assert_int_equal(gc_cache_extract(&g_fn, g_root, g_images, g_n, &o, &s), GC_OK); /* shard 0 of 2, originals */
    char *torn = gc_cache_path(cache, g_images[0], 0);
    assert_int_equal(truncate(torn, 50), 0);
    char root[1300];
    snprintf(root, sizeof root, "%s/minidata/data/SPair-71k", gct_fixtures());
    assert_int_equal(gct_geocorr("extract --status --dataset spair --root '%s' --cache '%s' --shard 1/2 > '%s/s.txt'", root,
                                 cache, out), 0);
    size_t n;
    char *text = slurp(gct_path(out, "s.txt"), &n);
    printf("%s", text);
    char want[256];
    int half = (g_n + 1) / 2;
    snprintf(want, sizeof want, "shard 0/2: %d/%d done, 1 invalid (redone by the next run)\n", half - 1, half);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "shard 1/2: 0/%d done\n", g_n - half);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "model %s: %d files\n", g_fn.model_id, half - 1);
    assert_non_null(strstr(text, want));
    free(text);
    free(torn);
    assert_int_equal(gct_geocorr("extract --status --dataset spair --root '%s/nowhere' --cache '%s'", out, cache), 1);
    printf("  %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "nowhere"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_concurrent_runs),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_cli_dinov2),
        cmocka_unit_test(test_cli_concurrent),
        cmocka_unit_test(test_cli_status),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
