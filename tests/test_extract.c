/* `geocorr extract` with the full feature pipeline (the tiny e2e models: tiny CLIP, captioner, text
 * encoder, SD x0.1, tiny DINOv2) on the four images of the mini AP-10K cross-species split: every cached
 * map (s5, s4, s3, dino, F32) has the same bytes as `geocorr features` writes for that image, the
 * metadata names the pipeline's model, a rerun skips every file, `geocorr eval --cache` matches on the
 * cache, `geocorr train` trains a post-processor on it, and a DINOv2-only run redoes the full model's
 * file, after which eval refuses the mixed cache. Skipped under GEOCORR_SANITIZED (minutes there; the
 * pipeline runs under ASan in test_pipeline, the cache machinery in test_feature_cache). */
#include <cjson/cJSON.h>

#include <sys/stat.h>

#include "pipeline_models.h"

#include "data/dataset.h"
#include "pipeline/feature_cache.h"
#include "io/safetensors.h"

static void expect_same_maps(const char *a_path, const char *b_path) {
    gc_weights *a = gct_open(a_path), *b = gct_open(b_path);
    static const char *const names[4] = {"s5", "s4", "s3", "dino"};
    for (int k = 0; k < 4; k++) {
        const gc_tensor_ref *x = gc_weights_find(a, names[k]), *y = gc_weights_find(b, names[k]);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(x->dtype, GC_DT_F32);
        assert_int_equal(y->dtype, GC_DT_F32);
        assert_int_equal(x->ndim, 3);
        assert_int_equal(x->numel, y->numel);
        assert_memory_equal(x->shape, y->shape, 3 * sizeof(int64_t));
        assert_memory_equal(x->data, y->data, (size_t)x->numel * sizeof(float));
        printf("  %-4s [%lld, %lld, %lld] identical to geocorr features\n", names[k], (long long)x->shape[0],
               (long long)x->shape[1], (long long)x->shape[2]);
    }
    gc_weights_free(a);
    gc_weights_free(b);
}

static void test_extract_full_pipeline(void **st) {
    (void)st;
    const char *san = getenv("GEOCORR_SANITIZED");
    if (san && *san && strcmp(san, "0") != 0) {
        printf("  skipped under GEOCORR_SANITIZED (five tiny-pipeline runs take minutes there)\n");
        return;
    }
    models m;
    tiny_models(&m);
    char root[1200], cache[1300], feat[1300], json[1300], img[1400], cached[1400];
    const char *tmp = gct_tmpdir("extract_full"); /* (a second call would wipe it) */
    snprintf(root, sizeof root, "%s/minidata/data/ap-10k", gct_fixtures());
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(feat, sizeof feat, "%s/feat.safetensors", tmp);
    snprintf(json, sizeof json, "%s/eval.json", tmp);
    const char *extract = "extract --dataset ap10k --subset cross-species --root '%s' --cache '%s' %s --no-progress";
    if (gct_geocorr(extract, root, cache, m.flags) != 0) fail_msg("extract: %s", gct_last_stderr());
    printf("  %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "4 files: 4 computed"));

    /* the cached maps of one image = `geocorr features` for it, bit for bit */
    snprintf(img, sizeof img, "%s/JPEGImages/Felidae/king cheetah/000000001009.jpg", root);
    if (gct_geocorr("features %s --image '%s' --out '%s'", m.flags, img, feat) != 0)
        fail_msg("features: %s", gct_last_stderr());
    snprintf(cached, sizeof cached, "%s/Felidae/king cheetah/000000001009.safetensors", cache);
    expect_same_maps(cached, feat);
    gc_weights *w = gct_open(cached);
    const char *model = gc_weights_meta(w, "model");
    printf("  model id %s\n", model);
    assert_non_null(strstr(model, "geoaware-d64-sd"));
    assert_string_equal(gc_weights_meta(w, "grid"), "15x15"); /* the first map's grid (s5) */
    gc_weights_free(w);

    /* a rerun with the same models skips everything */
    if (gct_geocorr(extract, root, cache, m.flags) != 0) fail_msg("extract rerun: %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "0 computed, 0 redone (invalid), 4 skipped (valid)"));

    /* eval on the cache: the zero-shot descriptor from s3, s4, s5, dino; predictions for both pairs */
    if (gct_geocorr("eval --dataset ap10k --subset cross-species --root '%s' --cache '%s' --json '%s'", root, cache,
                    json) != 0)
        fail_msg("eval --cache: %s", gct_last_stderr());
    cJSON *j = gct_load_json(json);
    const cJSON *pi = cJSON_GetObjectItem(j, "per_image");
    assert_int_equal((int)cJSON_GetObjectItem(pi, "n")->valuedouble, 2);
    printf("  eval --cache: 2 pairs, PCK@0.1 per image %.3f\n",
           cJSON_GetObjectItem(cJSON_GetObjectItem(pi, "overall"), "0.1")->valuedouble);
    cJSON_Delete(j);

    /* geocorr train reads the cache: the AP-10K trn images are not in it (six more pipeline runs), so
     * the four extracted files stand in for them, copied byte for byte under their names; a
     * post-processor with the cache's channel counts (taken from the files) trains on them */
    gc_eval_set trn;
    assert_int_equal(gc_eval_set_load(&trn, GC_DS_AP10K, root, "trn", GC_AP10K_INTRA), GC_OK);
    static const char *const extracted[4] = {"Felidae/cat/000000001001", "Felidae/cat/000000001003",
                                             "Felidae/king cheetah/000000001009", "Felidae/king cheetah/000000001011"};
    for (int i = 0; i < 2 * trn.n_pairs; i++) {
        char src[1400], *buf;
        size_t len;
        snprintf(src, sizeof src, "%s/%s.safetensors", cache, extracted[i % 4]);
        char *dst = gc_cache_path(cache, i % 2 ? trn.pairs[i / 2].trg : trn.pairs[i / 2].src, 0);
        for (char *q = dst + strlen(cache) + 1; *q; q++)
            if (*q == '/') *q = 0, mkdir(dst, 0755), *q = '/';
        assert_int_equal(gc_read_file(src, &buf, &len, 1 << 30), GC_OK);
        gct_write_file(dst, buf, len);
        free(buf), free(dst);
    }
    gc_eval_set_free(&trn);
    char out[1400];
    snprintf(out, sizeof out, "%s/train", tmp);
    if (gct_geocorr("train --dataset ap10k --root '%s' --cache '%s' --proj-dim 32 --norm-groups 8 --train-split trn "
                    "--val-split trn --val-pairs 2 --epochs 1 --threads 1 --out '%s'", root, cache, out) != 0)
        fail_msg("train: %s", gct_last_stderr());
    snprintf(out, sizeof out, "%s/train/best.safetensors", tmp);
    assert_true(gc_file_exists(out));
    printf("  train on the cache: %s written\n", gc_basename(out));

    /* a DINOv2-only run does not take the full model's file for its own (redone), and eval refuses the
     * cache that now mixes two models */
    char dino_flags[1400];
    snprintf(dino_flags, sizeof dino_flags, "--dinov2 '%s' --shard 0/4", m.dino);
    if (gct_geocorr(extract, root, cache, dino_flags) != 0) fail_msg("extract --dinov2: %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "1 files: 0 computed, 1 redone (invalid)"));
    assert_int_not_equal(gct_geocorr("eval --dataset ap10k --subset cross-species --root '%s' --cache '%s'", root, cache), 0);
    printf("  mixed cache: %s", gct_last_stderr());
    assert_non_null(strstr(gct_last_stderr(), "other files of the cache are"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_extract_full_pipeline)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
