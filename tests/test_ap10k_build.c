/* geocorr ap10k-build (TRACE.md §9): CPython's `random` bit for bit; the fixture release -> the
 * notebook's tree (file set equal; annotation and pair JSON equal parsed, with JSON types, key order
 * free; lists and JPEGs byte for byte), the release untouched; the notebook's rules on a small release
 * written here (first annotation kept, image fields win, values copied with their JSON types, crowd
 * list); bad releases and bad output folders give clear errors and leave nothing behind. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "base/sha256.h"
#include "eval/py_random.h"
#include "io/json_raw.h"

/* Known outputs of CPython (random.Random(), printed by Debian's python3 3.11.7; the C code follows
 * the algorithm text of TRACE.md §9, and the fixture tree below checks it on the notebook's own use):
 * seed(42) then random() x3 (0.6394267984578837 first, the value every Python tutorial shows);
 * getrandbits(1, 7, 32, 33, 64); _randbelow(1, 10, 1000, 2**32 + 5, 3); shuffle(range(10));
 * sample(range(100), 10) (set path: n > 21 + 4**3); sample(range(50), 10) and sample(range(20), 3)
 * (pool path); sample(range(10**6), 5); sample(range(7), 7), sample(range(5), 0), random();
 * seed(2**40 + 3) (a two-word key) and seed(0), random(). */
static void test_py_random(void **st) {
    (void)st;
    gc_py_random r;
    gc_py_random_seed(&r, 42);
    const double rnd[3] = {0.6394267984578837, 0.025010755222666936, 0.27502931836911926};
    for (int i = 0; i < 3; i++) assert_true(gc_py_random_random(&r) == rnd[i]);
    gc_py_random_seed(&r, 42);
    const int bits[5] = {1, 7, 32, 33, 64};
    const uint64_t gb[5] = {1, 14, 107420369, 3184935163ull, 4117511471858006928ull};
    for (int i = 0; i < 5; i++) assert_true(gc_py_random_getrandbits(&r, bits[i]) == gb[i]);
    gc_py_random_seed(&r, 42);
    const uint64_t below[5] = {1, 10, 1000, (1ull << 32) + 5, 3}, rb[5] = {0, 0, 759, 1181241943, 0};
    for (int i = 0; i < 5; i++) assert_true(gc_py_random_randbelow(&r, below[i]) == rb[i]);
    gc_py_random_seed(&r, 42);
    int64_t x[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, sh[10] = {7, 3, 2, 8, 5, 6, 9, 4, 0, 1};
    gc_py_random_shuffle(&r, x, 10);
    for (int i = 0; i < 10; i++) assert_int_equal(x[i], sh[i]);
    struct {
        int64_t n, k, want[10];
    } smp[] = {{100, 10, {81, 14, 3, 94, 35, 31, 28, 17, 13, 86}},
               {50, 10, {40, 7, 1, 17, 15, 14, 8, 6, 34, 5}},
               {20, 3, {3, 0, 8}},
               {1000000, 5, {670487, 116739, 26225, 777572, 288389}}};
    for (size_t t = 0; t < GC_COUNTOF(smp); t++) {
        int64_t got[10];
        gc_py_random_seed(&r, 42);
        assert_int_equal(gc_py_random_sample(&r, smp[t].n, smp[t].k, got), GC_OK);
        for (int i = 0; i < smp[t].k; i++) assert_int_equal(got[i], smp[t].want[i]);
    }
    int64_t got[7], perm7[7] = {5, 0, 6, 2, 4, 3, 1};
    gc_py_random_seed(&r, 42);
    assert_int_equal(gc_py_random_sample(&r, 7, 7, got), GC_OK);
    for (int i = 0; i < 7; i++) assert_int_equal(got[i], perm7[i]);
    assert_int_equal(gc_py_random_sample(&r, 5, 0, got), GC_OK); /* draws nothing */
    assert_true(gc_py_random_random(&r) == 0.7364712141640124);
    assert_int_equal(gc_py_random_sample(&r, 3, 4, got), GC_ERR_ARG);
    gc_py_random_seed(&r, (1ull << 40) + 3); /* a two-word key */
    assert_true(gc_py_random_random(&r) == 0.21978710637116716);
    gc_py_random_seed(&r, 0);
    assert_true(gc_py_random_random(&r) == 0.8444218515250481);
}

/* ---- tree comparison ---------------------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} names;

static void names_add(names *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, (size_t)l->cap * sizeof(char *));
    }
    l->v[l->n++] = strdup(s);
}

static void names_free(names *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_s(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file below root/rel, as paths relative to root. */
static void walk(const char *root, const char *rel, names *out) {
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char r[2048], full[4096];
        snprintf(r, sizeof r, "%s/%s", rel, e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        assert_int_equal(stat(full, &st), 0);
        if (S_ISDIR(st.st_mode)) walk(root, r, out);
        else names_add(out, r);
    }
    closedir(d);
}

static void tree(const char *root, names *out) {
    memset(out, 0, sizeof *out);
    const char *sub[3] = {"ImageAnnotation", "JPEGImages", "PairAnnotation"};
    for (int i = 0; i < 3; i++) walk(root, sub[i], out);
    qsort(out->v, (size_t)out->n, sizeof(char *), cmp_s);
}

/* JSON equality as Python compares parsed documents: types kept (int 1 != float 1.0), objects by key
 * (the last of a repeated key), arrays in order. */
static bool jr_equal(const gc_jr_doc *a, int64_t x, const gc_jr_doc *b, int64_t y) {
    const gc_jr_node *p = &a->nodes[x], *q = &b->nodes[y];
    if (p->type != q->type) return false;
    if (p->type == GC_JR_NUMBER) {
        int64_t i, j;
        if (p->is_int != q->is_int) return false;
        if (p->is_int && gc_jr_int64(a, x, &i) && gc_jr_int64(b, y, &j)) return i == j;
        return gc_jr_num(a, x) == gc_jr_num(b, y);
    }
    if (p->type == GC_JR_STRING) {
        char *s = gc_jr_str(a, x, 0), *t = gc_jr_str(b, y, 0);
        bool eq = s && t && strcmp(s, t) == 0;
        free(s), free(t);
        return eq;
    }
    if (p->type == GC_JR_ARRAY) {
        if (p->count != q->count) return false;
        for (int64_t i = p->first, j = q->first; i >= 0; i = a->nodes[i].next, j = b->nodes[j].next)
            if (!jr_equal(a, i, b, j)) return false;
        return true;
    }
    if (p->type == GC_JR_OBJECT) {
        for (int side = 0; side < 2; side++) {
            const gc_jr_doc *u = side ? b : a, *w = side ? a : b;
            int64_t ou = side ? y : x, ow = side ? x : y;
            for (int64_t m = u->nodes[ou].first; m >= 0; m = u->nodes[m].next) {
                char *k = gc_jr_str(u, m, 1);
                int64_t mu = gc_jr_get(u, ou, k), mw = gc_jr_get(w, ow, k);
                free(k);
                if (mw < 0 || !jr_equal(u, mu, w, mw)) return false;
            }
        }
    }
    return true;
}

static char *slurp(const char *path, size_t *n) {
    char *t;
    if (gc_read_file(path, &t, n, 1 << 26) != GC_OK) fail_msg("%s", gc_last_error());
    return t;
}

/* got/ and want/ hold the same files under the three folders; *.json equal parsed, the rest bytes. */
static void expect_same_tree(const char *got, const char *want) {
    names g, w;
    tree(got, &g), tree(want, &w);
    for (int i = 0; i < g.n || i < w.n; i++) {
        int c = i >= g.n ? 1 : i >= w.n ? -1 : strcmp(g.v[i], w.v[i]);
        if (c) fail_msg("file sets differ at %s (%s)", c < 0 ? g.v[i] : w.v[i], c < 0 ? "not expected" : "missing");
    }
    int json = 0, bytes = 0;
    for (int i = 0; i < g.n; i++) {
        char pg[4096], pw[4096];
        snprintf(pg, sizeof pg, "%s/%s", got, g.v[i]);
        snprintf(pw, sizeof pw, "%s/%s", want, w.v[i]);
        size_t ng, nw;
        char *tg = slurp(pg, &ng), *tw = slurp(pw, &nw);
        size_t l = strlen(g.v[i]);
        if (l > 5 && strcmp(g.v[i] + l - 5, ".json") == 0) {
            gc_jr_doc dg, dw;
            if (gc_jr_parse(&dg, tg, ng, pg) != GC_OK || gc_jr_parse(&dw, tw, nw, pw) != GC_OK) fail_msg("%s", gc_last_error());
            if (!jr_equal(&dg, 0, &dw, 0)) fail_msg("%s: differs from the expected file (parsed)", g.v[i]);
            gc_jr_free(&dg), gc_jr_free(&dw);
            json++;
        } else {
            if (ng != nw || memcmp(tg, tw, ng) != 0) fail_msg("%s: bytes differ from the expected file", g.v[i]);
            bytes++;
        }
        free(tg), free(tw);
    }
    printf("  %d files: %d JSON equal parsed (types kept), %d lists and images equal byte for byte\n", g.n, json, bytes);
    names_free(&g), names_free(&w);
}

/* SHA-256 over every file's relative path and bytes below root: the release before and after. */
static void tree_digest(const char *root, uint8_t out[32]) {
    names l = {0};
    walk(root, ".", &l);
    qsort(l.v, (size_t)l.n, sizeof(char *), cmp_s);
    size_t cap = 1 << 20, n = 0;
    char *all = malloc(cap);
    for (int i = 0; i < l.n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", root, l.v[i]);
        size_t m;
        char *t = slurp(p, &m);
        size_t need = n + strlen(l.v[i]) + 1 + 32;
        if (need > cap) all = realloc(all, cap = 2 * need);
        memcpy(all + n, l.v[i], strlen(l.v[i]) + 1), n += strlen(l.v[i]) + 1;
        gc_sha256(t, m, (uint8_t *)all + n), n += 32;
        free(t);
    }
    gc_sha256(all, n, out);
    free(all);
    names_free(&l);
}

/* The fixture release (read in place) -> the expected tree; OUT may be an existing empty folder. */
static void test_fixture_release(void **st) {
    (void)st;
    char raw[1200], want[1200], out[1300];
    snprintf(raw, sizeof raw, "%s/ap10k_build/raw", gct_fixtures());
    snprintf(want, sizeof want, "%s/ap10k_build/expected", gct_fixtures());
    const char *tmp = gct_tmpdir("ap10k_fixture");
    uint8_t before[32], after[32];
    tree_digest(raw, before);
    snprintf(out, sizeof out, "%s/repo/data/ap-10k", tmp); /* parents are created */
    int rc = gct_geocorr("ap10k-build --raw '%s' --out '%s' > '%s/stdout.txt'", raw, out, tmp);
    if (rc) fail_msg("%s", gct_last_stderr());
    expect_same_tree(out, want);
    /* the counts printed, as the fixture summary has them */
    size_t n;
    char *log = slurp(gct_path(tmp, "stdout.txt"), &n);
    printf("%s", log);
    assert_non_null(strstr(log, "intra-species trn 2 / val 35 / test 509, cross-species val 16 / test 425, "
                                "cross-family val 20 / test 180"));
    assert_non_null(strstr(log, "may differ slightly"));
    free(log);
    tree_digest(raw, after);
    assert_memory_equal(before, after, 32); /* the release is only read */
    /* an existing empty OUT is fine */
    snprintf(out, sizeof out, "%s/empty", tmp);
    assert_int_equal(mkdir(out, 0777), 0);
    rc = gct_geocorr("ap10k-build --raw '%s' --out '%s' --quiet > /dev/null", raw, out);
    if (rc) fail_msg("%s", gct_last_stderr());
    expect_same_tree(out, want);
}

/* ---- a release written here --------------------------------------------------------------------- */

static const char k_empty[] = "{\"images\": [], \"annotations\": [], \"categories\": []}";

/* 17 keypoint triples with the first `vis` visible (v = 2) */
static void kps(char *buf, size_t n, int vis) {
    buf[0] = 0;
    for (int k = 0; k < 17; k++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%d, %d, %d", k ? ", " : "", k < vis ? 3 + k : 0, k < vis ? 4 + k : 0, k < vis ? 2 : 0);
    }
}

/* images 2..4 (not on the shipped crowd list) of species cat (Felidae), 3 visible keypoints each;
 * annotation ids 12..14, area n.0 */
static void coco_main(char *buf, size_t n) {
    char k[512];
    kps(k, sizeof k, 3);
    snprintf(buf, n,
             "{\"images\": [{\"id\": 4, \"file_name\": \"000000000004.jpg\", \"width\": 40, \"height\": 30},"
             " {\"id\": 2, \"file_name\": \"000000000002.jpg\", \"width\": 40, \"height\": 30},"
             " {\"id\": 3, \"file_name\": \"000000000003.jpg\", \"width\": 40, \"height\": 30}],"
             " \"annotations\": [{\"id\": 14, \"image_id\": 4, \"category_id\": 1, \"bbox\": [1, 2, 30, 20], \"area\": 12.0,"
             " \"num_keypoints\": 3, \"keypoints\": [%s]},"
             " {\"id\": 12, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1, 2, 30, 20], \"area\": 13.0, \"num_keypoints\": 3,"
             " \"keypoints\": [%s]},"
             " {\"id\": 13, \"image_id\": 3, \"category_id\": 1, \"bbox\": [1, 2, 30, 20], \"area\": 14.0, \"num_keypoints\": 3,"
             " \"keypoints\": [%s]}],"
             " \"categories\": [{\"id\": 1, \"name\": \"cat\", \"supercategory\": \"Felidae\"},"
             " {\"id\": 2, \"name\": \"dog\", \"supercategory\": \"Canidae\"}]}",
             k, k, k);
}

static void write_release(const char *raw, const char *train, const char *test, const char *val) {
    char p[1400];
    mkdir(raw, 0777);
    snprintf(p, sizeof p, "%s/annotations", raw);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/data", raw);
    mkdir(p, 0777);
    const char *split[3] = {"train", "test", "val"}, *text[3] = {train, test, val};
    for (int i = 0; i < 3; i++) {
        if (!text[i]) continue;
        snprintf(p, sizeof p, "%s/annotations/ap10k-%s-split1.json", raw, split[i]);
        gct_write_file(p, text[i], strlen(text[i]));
    }
    for (int id = 2; id <= 4; id++) {
        char b[32];
        snprintf(p, sizeof p, "%s/data/%012d.jpg", raw, id);
        snprintf(b, sizeof b, "jpeg bytes of %d", id);
        gct_write_file(p, b, strlen(b));
    }
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

/* The notebook's rules on a small release: the first annotation of an image is kept (a later one, of
 * another species, is not); the record takes the image's "id"; values keep their JSON text (12.0 stays
 * a float); --crowd-list leaves an image out of the lists and marks its file "is_crowd": 1; the lists
 * hold the rest (all in test: fewer than 30), the pairs C(2, 2) = 1. */
static void test_small_release(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("ap10k_small");
    char raw[1300], out[1300], crowd[1300], main_[4096], second[2048];
    snprintf(raw, sizeof raw, "%s/raw", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    snprintf(crowd, sizeof crowd, "%s/crowd.txt", tmp);
    coco_main(main_, sizeof main_);
    char k[512];
    kps(k, sizeof k, 5);
    snprintf(second, sizeof second, "{\"images\": [], \"categories\": [], \"annotations\": [{\"id\": 99, \"image_id\": 4, "
             "\"category_id\": 2, \"bbox\": [0, 0, 5, 5], \"area\": 1, \"num_keypoints\": 5, \"keypoints\": [%s]}]}", k);
    write_release(raw, main_, second, k_empty);
    gct_write_file(crowd, "  000000000002 \r\n", 17); /* replaces the shipped list */
    int rc = gct_geocorr("ap10k-build --raw '%s' --out '%s' --crowd-list '%s' --quiet", raw, out, crowd);
    if (rc) fail_msg("%s", gct_last_stderr());
    size_t n;
    char *t = slurp(gct_path(out, "ImageAnnotation/Felidae/cat/000000000004.json"), &n);
    gc_jr_doc d;
    assert_int_equal(gc_jr_parse(&d, t, n, "record"), GC_OK);
    int64_t id, area = gc_jr_get(&d, 0, "area");
    assert_true(gc_jr_int64(&d, gc_jr_get(&d, 0, "id"), &id) && id == 4); /* the image's id */
    assert_true(area >= 0 && !d.nodes[area].is_int && gc_jr_num(&d, area) == 12.0);
    assert_true(gc_jr_get(&d, 0, "file_name") >= 0 && gc_jr_get(&d, 0, "is_crowd") < 0);
    gc_jr_free(&d);
    free(t);
    assert_false(gc_dir_exists(gct_path(out, "ImageAnnotation/Canidae"))); /* image 4's second annotation: dropped */
    t = slurp(gct_path(out, "ImageAnnotation/Felidae/cat/000000000002.json"), &n);
    assert_non_null(strstr(t, "\"is_crowd\": 1"));
    free(t);
    t = slurp(gct_path(out, "ImageAnnotation/Felidae/cat/test_filtered.txt"), &n);
    assert_string_equal(t, "data/ap-10k/ImageAnnotation/Felidae/cat/000000000003.json\n"
                           "data/ap-10k/ImageAnnotation/Felidae/cat/000000000004.json\n");
    free(t);
    t = slurp(gct_path(out, "ImageAnnotation/Felidae/cat/train_filtered.txt"), &n);
    assert_int_equal(n, 0);
    free(t);
    t = slurp(gct_path(out, "JPEGImages/Felidae/cat/000000000003.jpg"), &n);
    assert_string_equal(t, "jpeg bytes of 3");
    free(t);
    assert_int_equal(count_entries(gct_path(out, "PairAnnotation/test")), 1);
    assert_int_equal(count_entries(gct_path(out, "PairAnnotation/trn")), 0);
}

/* One bad input: the command fails with `msg` in its message, OUT does not appear and no temporary
 * folder is left beside it. */
static void expect_failure(const char *raw, const char *out, const char *extra, const char *msg) {
    int rc = gct_geocorr("ap10k-build --raw '%s' --out '%s' --quiet %s", raw, out, extra);
    const char *err = gct_last_stderr();
    printf("  %s", err);
    if (rc == 0) fail_msg("expected a failure (%s)", msg);
    if (!strstr(err, msg)) fail_msg("message lacks '%s': %s", msg, err);
    char parent[1400];
    snprintf(parent, sizeof parent, "%s", out);
    *strrchr(parent, '/') = 0;
    DIR *d = opendir(parent);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".partial-")) fail_msg("left behind: %s/%s", parent, e->d_name);
    if (d) closedir(d);
}

static void test_bad_input(void **st) {
    (void)st;
    const char *tmp = gct_tmpdir("ap10k_bad");
    char raw[1300], out[1300], main_[4096], bad[4096], p[1400];
    snprintf(out, sizeof out, "%s/x/ap-10k", tmp);
    coco_main(main_, sizeof main_);
    struct {
        const char *tag, *train, *test, *val, *msg;
    } cases[] = {
        {"missing", main_, k_empty, NULL, "ap10k-val-split1.json: missing"},
        {"truncated", main_, "{\"images\": [", k_empty, "ap10k-test-split1.json: not valid JSON at line 1, column 13"},
        {"nan", main_, "{\"images\": [], \"annotations\": [], \"x\": NaN}", k_empty, "NaN and Infinity are not JSON"},
        {"not_coco", main_, "[1, 2]", k_empty, "expected a COCO object"},
        {"image_id", main_, "{\"images\": [], \"annotations\": [{\"image_id\": \"1\"}]}", k_empty,
         "annotations[0] must be an object with an integer 'image_id'"},
        {"no_images", main_, "{\"annotations\": []}", k_empty, "'images' must be a list"},
    };
    for (size_t i = 0; i < GC_COUNTOF(cases); i++) {
        snprintf(raw, sizeof raw, "%s/raw_%s", tmp, cases[i].tag);
        write_release(raw, cases[i].train, cases[i].test, cases[i].val);
        expect_failure(raw, out, "", cases[i].msg);
        assert_false(gc_dir_exists(out));
    }
    /* failures after files were written: the keypoints of a listed image, a category name, a data file */
    snprintf(bad, sizeof bad, "%s", main_);
    char *kp = strstr(bad, "\"keypoints\": [");
    memcpy(kp, "\"keypoints\": [\"x4\"", 18); /* "3, 4" -> "x4": 50 values, one a string */
    snprintf(raw, sizeof raw, "%s/raw_kps", tmp);
    write_release(raw, bad, k_empty, k_empty);
    expect_failure(raw, out, "", "'keypoints' must be a list of 51 numbers");
    assert_false(gc_dir_exists(out));
    snprintf(bad, sizeof bad, "%s", main_);
    memcpy(strstr(bad, "\"Felidae\""), "\"Fe/idae\"", 9);
    snprintf(raw, sizeof raw, "%s/raw_name", tmp);
    write_release(raw, bad, k_empty, k_empty);
    expect_failure(raw, out, "", "category 1: supercategory 'Fe/idae' cannot be a folder name");
    snprintf(raw, sizeof raw, "%s/raw_file", tmp);
    write_release(raw, main_, k_empty, k_empty);
    snprintf(p, sizeof p, "%s/data/README", raw);
    gct_write_file(p, "x", 1);
    expect_failure(raw, out, "", "README: the file name holds no image id");
    assert_false(gc_dir_exists(out));
    /* output folders: not empty (left as it was), inside the release, a missing crowd list */
    snprintf(raw, sizeof raw, "%s/raw_ok", tmp);
    write_release(raw, main_, k_empty, k_empty);
    assert_int_equal(gct_geocorr("ap10k-build --raw '%s' --out '%s' --quiet > /dev/null", raw, out), 0);
    expect_failure(raw, out, "", "not empty");
    assert_int_equal(count_entries(out), 3); /* the finished tree, untouched */
    snprintf(p, sizeof p, "%s/data/ap-10k", raw);
    expect_failure(raw, p, "", "lies inside the release");
    assert_false(gc_dir_exists(p));
    snprintf(p, sizeof p, "%s/y/ap-10k", tmp);
    expect_failure(raw, p, "--crowd-list /nonexistent/crowd.txt", "the crowd list: /nonexistent/crowd.txt");
    snprintf(p, sizeof p, "%s/nothing", tmp);
    expect_failure(p, out, "", "the release folder is missing");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_py_random),
        cmocka_unit_test(test_fixture_release),
        cmocka_unit_test(test_small_release),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
