/* libFuzzer target: the benchmark annotation readers. The input is written as one SPair image
 * annotation, one SPair pair annotation and one AP-10K image annotation of a tiny dataset laid out in
 * a temporary folder (the first byte picks which file receives it; the others are valid), then the
 * split is loaded and a predictions file (the same bytes) is read against it and scored. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "fuzz_util.h"
#include "eval/pck.h"

static char g_dir[256];

static void put(const char *rel, const void *buf, size_t n) { gc_fuzz_put(g_dir, rel, buf, n); }

static void mk(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    mkdir(p, 0700);
}

static const char k_img[] = "{\"image_width\":100,\"image_height\":80,\"bndbox\":[1,2,50,60],\"azimuth_id\":3,\"kps\":{"
    "\"0\":[10,20],\"1\":null,\"2\":null,\"3\":null,\"4\":null,\"5\":null,\"6\":null,\"7\":null,\"8\":null,\"9\":null,"
    "\"10\":null,\"11\":null,\"12\":null,\"13\":null,\"14\":null,\"15\":null,\"16\":null,\"17\":null,\"18\":null,"
    "\"19\":null,\"20\":null,\"21\":null,\"22\":null,\"23\":null,\"24\":null,\"25\":null,\"26\":null,\"27\":null,"
    "\"28\":null,\"29\":[5,5]}}";
static const char k_pair[] = "{\"category\":\"cat\",\"src_imname\":\"a.jpg\",\"trg_imname\":\"b.jpg\",\"trg_bndbox\":[1,2,50,60],"
    "\"src_imsize\":[100,80,3],\"trg_imsize\":[100,80,3]}";
static const char k_ap[] = "{\"width\":64,\"height\":48,\"bbox\":[1,2,30,40],\"keypoints\":[1,2,2,0,0,0,3,4,2,0,0,0,0,0,0,"
    "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}";
static const char k_appair[] = "{\"src_json_path\":\"data/ap/ImageAnnotation/F/s/1.json\","
                               "\"trg_json_path\":\"data/ap/ImageAnnotation/F/s/2.json\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/gc_fuzz_ann_%d", (int)getpid());
        mkdir(g_dir, 0700);
        const char *dirs[] = {"sp", "sp/JPEGImages", "sp/JPEGImages/cat", "sp/ImageAnnotation", "sp/ImageAnnotation/cat",
                              "sp/PairAnnotation", "sp/PairAnnotation/test", "data", "data/ap", "data/ap/JPEGImages",
                              "data/ap/JPEGImages/F", "data/ap/JPEGImages/F/s", "data/ap/ImageAnnotation",
                              "data/ap/ImageAnnotation/F", "data/ap/ImageAnnotation/F/s", "data/ap/PairAnnotation",
                              "data/ap/PairAnnotation/test"};
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) mk(dirs[i]);
        put("sp/JPEGImages/cat/a.jpg", "x", 1), put("sp/JPEGImages/cat/b.jpg", "x", 1);
        put("data/ap/JPEGImages/F/s/1.jpg", "x", 1), put("data/ap/JPEGImages/F/s/2.jpg", "x", 1);
        put("data/ap/PairAnnotation/test/1-2:s.json", k_appair, sizeof k_appair - 1);
    }
    int which = size ? data[0] % 4 : 0; /* 3: every annotation valid, the bytes are only the predictions */
    const uint8_t *d = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0;
    put("sp/ImageAnnotation/cat/a.json", which == 0 ? (const void *)d : k_img, which == 0 ? n : sizeof k_img - 1);
    put("sp/ImageAnnotation/cat/b.json", k_img, sizeof k_img - 1);
    put("sp/PairAnnotation/test/1-a-b:cat.json", which == 1 ? (const void *)d : k_pair, which == 1 ? n : sizeof k_pair - 1);
    put("data/ap/ImageAnnotation/F/s/1.json", which == 2 ? (const void *)d : k_ap, which == 2 ? n : sizeof k_ap - 1);
    put("data/ap/ImageAnnotation/F/s/2.json", k_ap, sizeof k_ap - 1);
    put("p.json", d, n);
    char root[300], pp[300];
    snprintf(pp, sizeof pp, "%s/p.json", g_dir);
    gc_eval_set s;
    snprintf(root, sizeof root, "%s/sp", g_dir);
    if (gc_eval_set_load(&s, GC_DS_SPAIR, root, "test", GC_AP10K_INTRA) == GC_OK) {
        gc_pck_pred *p;
        int np;
        if (gc_pck_preds_load(pp, &s, &p, &np) == GC_OK) {
            gc_pck_opts o = {.n_alpha = 1, .alpha = {0.1}, .errors = true};
            gc_pck_report r;
            if (gc_pck_score(&s, p, np, &o, &r) == GC_OK) gc_pck_report_free(&r);
            gc_free(p);
        }
        gc_eval_set_free(&s);
    }
    snprintf(root, sizeof root, "%s/data/ap", g_dir);
    if (gc_eval_set_load(&s, GC_DS_AP10K, root, "test", GC_AP10K_INTRA) == GC_OK) gc_eval_set_free(&s);
    return 0;
}
