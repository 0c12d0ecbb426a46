/* Evaluation cost on a synthetic SPair-71k test split of the real size (18 categories x 100 images,
 * 12,234 pairs, 30 keypoint ids): reading the annotations, reading a predictions file, and scoring
 * every convention (per image, per keypoint, geo-aware three ways, azimuth bins); then the same pairs
 * matched on a feature cache of DINOv2-B-sized descriptors (768 x 60 x 60, F16) with window
 * soft-argmax and scored (only 20 images per category carry features, to keep the cache at 2 GB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/cache_eval.h"
#include "data/dataset.h"
#include "eval/pck.h"
#include "io/safetensors.h"
#include "pipeline/feature_cache.h"

static const char *const k_cats[18] = {"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
                                       "cow", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "train", "tvmonitor"};

static uint64_t g_rng = 88172645463325252ull;
static int rnd(int n) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (int)(g_rng % (uint64_t)n);
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

int main(void) {
    char root[256], p[512];
    snprintf(root, sizeof root, "/tmp/gc_bench_eval_%d", (int)getpid());
    const char *sub[] = {"", "/JPEGImages", "/ImageAnnotation", "/PairAnnotation", "/PairAnnotation/test"};
    for (int i = 0; i < 5; i++) snprintf(p, sizeof p, "%s%s", root, sub[i]), mkdir(p, 0700);
    static char buf[1 << 16];
    int kp[100][30][2];
    double t0 = gc_now();
    int pair_id = 0, total = 12234;
    FILE *P = NULL;
    snprintf(p, sizeof p, "%s/pred.json", root);
    P = fopen(p, "wb");
    fputs("{\"frame\":\"pixels\",\"pairs\":[", P);
    for (int c = 0; c < 18; c++) {
        snprintf(p, sizeof p, "%s/JPEGImages/%s", root, k_cats[c]), mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/ImageAnnotation/%s", root, k_cats[c]), mkdir(p, 0700);
        for (int i = 0; i < 100; i++) {
            int n = snprintf(buf, sizeof buf, "{\"image_width\":500,\"image_height\":375,\"bndbox\":[20,30,%d,%d],"
                             "\"azimuth_id\":%d,\"kps\":{", 300 + rnd(150), 200 + rnd(150), rnd(8));
            for (int k = 0; k < 30; k++) {
                bool vis = rnd(3) != 0;
                kp[i][k][0] = vis ? rnd(500) : -1, kp[i][k][1] = rnd(375);
                n += vis ? snprintf(buf + n, sizeof buf - n, "%s\"%d\":[%d,%d]", k ? "," : "", k, kp[i][k][0], kp[i][k][1])
                         : snprintf(buf + n, sizeof buf - n, "%s\"%d\":null", k ? "," : "", k);
            }
            snprintf(buf + n, sizeof buf - n, "}}");
            snprintf(p, sizeof p, "%s/ImageAnnotation/%s/%04d.json", root, k_cats[c], i), put(p, buf);
            snprintf(p, sizeof p, "%s/JPEGImages/%s/%04d.jpg", root, k_cats[c], i), put(p, "");
        }
        int npairs = total / 18 + (c < total % 18);
        for (int j = 0; j < npairs; j++, pair_id++) {
            int s = rnd(20), t = (s + 1 + rnd(19)) % 20; /* pairs among the first 20 images (cached features) */
            snprintf(buf, sizeof buf, "{\"category\":\"%s\",\"src_imname\":\"%04d.jpg\",\"trg_imname\":\"%04d.jpg\","
                     "\"src_bndbox\":[20,30,300,200],\"trg_bndbox\":[20,30,%d,%d],\"src_imsize\":[500,375,3],\"trg_imsize\":[500,375,3]}",
                     k_cats[c], s, t, 300 + rnd(150), 200 + rnd(150));
            snprintf(p, sizeof p, "%s/PairAnnotation/test/%06d-%04d-%04d:%s.json", root, pair_id, s, t, k_cats[c]);
            put(p, buf);
            fprintf(P, "%s{\"src\":\"%s/%04d.jpg\",\"trg\":\"%s/%04d.jpg\",\"pred\":[", pair_id ? "," : "", k_cats[c], s,
                    k_cats[c], t);
            for (int k = 0; k < 30; k++)
                fprintf(P, "%s[%d,%d]", k ? "," : "", kp[t][k][0] + rnd(121) - 60, kp[t][k][1] + rnd(121) - 60);
            fputs("]}", P);
        }
    }
    fputs("]}", P);
    fclose(P);
    printf("synthetic SPair test split: 18 categories, 1800 images, %d pairs (written in %.1f s)\n", pair_id, gc_now() - t0);

    gc_geo_groups g;
    if (gc_geo_groups_load(&g, NULL) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
    gc_eval_set set;
    double t1 = gc_now();
    if (gc_eval_set_load(&set, GC_DS_SPAIR, root, "test", GC_AP10K_INTRA) != GC_OK)
        return fprintf(stderr, "%s\n", gc_last_error()), 1;
    double t2 = gc_now();
    gc_pck_pred *preds;
    int np;
    snprintf(p, sizeof p, "%s/pred.json", root);
    if (gc_pck_preds_load(p, &set, &preds, &np) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
    double t3 = gc_now();
    gc_pck_opts o = {.n_alpha = 3, .alpha = {0.1, 0.05, 0.01}, .geo = true, .groups = &g};
    gc_pck_report r;
    if (gc_pck_score(&set, preds, np, &o, &r) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
    double t4 = gc_now();
    printf("read annotations (12,234 pair + 1,800 image JSONs): %.3f s\n", t2 - t1);
    printf("read predictions (%d pairs x 30 ids):               %.3f s\n", np, t3 - t2);
    printf("score all conventions (img/kpt/geo x3/azimuth):     %.3f s\n", t4 - t3);
    printf("total eval (excluding matching):                    %.3f s   [overall PCK@0.1 per image %.4f]\n",
           t4 - t1, r.img.pck[0]);
    gc_pck_report_free(&r);

    /* feature cache: 20 images per category, dino [768, 60, 60] F16, random values */
    double t5 = gc_now();
    uint16_t *h = malloc((size_t)768 * 3600 * sizeof(uint16_t));
    for (int c = 0; c < 18; c++)
        for (int i = 0; i < 20; i++) {
            for (int64_t k = 0; k < (int64_t)768 * 3600; k++) h[k] = gc_f32_to_f16((float)(rnd(2001) - 1000) / 1000.0f);
            char rel[64];
            snprintf(rel, sizeof rel, "%s/%04d.jpg", k_cats[c], i);
            char *fp = gc_cache_path(root, rel, 0);
            char *dir = gc_strfmt("%s/%s", root, k_cats[c]);
            mkdir(dir, 0700);
            gc_st_writer *wr = gc_st_writer_new();
            gc_st_writer_add_ref(wr, "dino", GC_DT_F16, 3, (const int64_t[]){768, 60, 60}, h);
            gc_st_writer_meta(wr, "model", "bench");
            if (gc_st_writer_save(wr, fp) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
            gc_st_writer_free(wr);
            free(fp), free(dir);
        }
    free(h);
    double t6 = gc_now();
    int *sel, n;
    gc_eval_set_sample(&set, 0, &sel, &n);
    gc_eval_cache_config co = {.cache_dir = root, .match = {.window = 7}};
    if (gc_cache_predict(&set, sel, n, &co, preds) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
    double t7 = gc_now();
    if (gc_pck_score(&set, preds, n, &o, &r) != GC_OK) return fprintf(stderr, "%s\n", gc_last_error()), 1;
    double t8 = gc_now();
    printf("feature cache written (360 files x 768x60x60 F16):  %.1f s\n", t6 - t5);
    printf("match %d pairs on cached descriptors (window 7):  %.3f s  (%.2f ms/pair)\n", n, t7 - t6, 1e3 * (t7 - t6) / n);
    printf("score them:                                         %.3f s\n", t8 - t7);
    printf("total eval on cached descriptors:                   %.3f s\n", t8 - t6 + (t2 - t1));
    gc_pck_report_free(&r);
    gc_free(sel);
    gc_free(preds);
    gc_eval_set_free(&set);
    gc_geo_groups_free(&g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) != 0;
}
