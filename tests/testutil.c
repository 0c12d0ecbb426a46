#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"

const char *gct_fixtures(void) {
    const char *e = getenv("GEOCORR_FIXTURES");
    if (e && *e) return e;
    e = getenv("GEOCORR_FIXTURES_DEFAULT");
    if (e && *e) return e;
    return "../shared/fixtures";
}

const char *gct_fixture(const char *name) {
    static char ring[8][1024];
    static int k = 0;
    char *p = ring[k++ % 8];
    snprintf(p, 1024, "%s/%s", gct_fixtures(), name);
    struct stat st;
    if (stat(p, &st) != 0) fail_msg("fixture missing: %s (set GEOCORR_FIXTURES)", p);
    return p;
}

static void rm_rf(const char *p) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0) fail_msg("cannot clean %s", p);
}

const char *gct_tmpdir(const char *tag) {
    static char dirs[8][1024];
    static int k = 0;
    char *p = dirs[k++ % 8];
    const char *base = getenv("GEOCORR_TMP");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(p, 1024, "%s/gct_%s_%d", base, tag, (int)getpid());
    rm_rf(p);
    if (mkdir(p, 0755) != 0) fail_msg("cannot create %s", p);
    return p;
}

gc_weights *gct_open(const char *path) {
    gc_weights *w = NULL;
    if (gc_weights_open(path, &w) != GC_OK) fail_msg("cannot open %s: %s", path, gc_last_error());
    return w;
}

static double ref_value(const gc_tensor_ref *r, int64_t i) {
    if (r->dtype == GC_DT_F64) {
        double v;
        memcpy(&v, (const char *)r->data + 8 * i, 8);
        return v;
    }
    float v;
    gc_convert_to_f32(r->dtype, (const char *)r->data + gc_dtype_size(r->dtype) * (size_t)i, &v, 1);
    return v;
}

double gct_rel_err(const char *what, const float *got, int64_t n, const gc_tensor_ref *want) {
    if (want->numel != n) fail_msg("%s: %lld elements, reference has %lld", what, (long long)n, (long long)want->numel);
    double maxd = 0, maxr = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = ref_value(want, i), d = fabs((double)got[i] - w);
        if (!(d <= maxd)) maxd = isnan(d) ? INFINITY : d;
        if (fabs(w) > maxr) maxr = fabs(w);
    }
    double rel = maxr > 0 ? maxd / maxr : maxd;
    printf("  %-48s max|d| %.3g  rel %.3g\n", what, maxd, rel);
    return rel;
}

void gct_expect_close(gc_weights *ref, const char *key, const float *got, int64_t n, double tol) {
    const gc_tensor_ref *r = gc_weights_find(ref, key);
    if (!r) fail_msg("reference has no tensor '%s'", key);
    double rel = gct_rel_err(key, got, n, r);
    if (!(rel <= tol)) fail_msg("%s: relative error %.3g exceeds %.3g", key, rel, tol);
}

void gct_expect_checksums(gc_weights *ref, const char *key, const float *got, int64_t n, double tol) {
    double s = 0, s2 = 0, sa = 0;
    for (int64_t i = 0; i < n; i++) {
        s += got[i];
        s2 += (double)got[i] * got[i];
        sa += fabs(got[i]);
    }
    char k1[256], k2[256], k3[256];
    snprintf(k1, sizeof k1, "%s.sum", key);
    snprintf(k2, sizeof k2, "%s.sumsq", key);
    snprintf(k3, sizeof k3, "%s.sumabs", key);
    const gc_tensor_ref *r1 = gc_weights_find(ref, k1), *r2 = gc_weights_find(ref, k2), *r3 = gc_weights_find(ref, k3);
    if (!r1 || !r2 || !r3) fail_msg("reference lacks checksums of '%s'", key);
    double w1 = ref_value(r1, 0), w2 = ref_value(r2, 0), w3 = ref_value(r3, 0);
    double e1 = fabs(s - w1) / w3, e2 = fabs(s2 - w2) / w2, e3 = fabs(sa - w3) / w3;
    printf("  %-48s checksums rel: sum %.3g sumsq %.3g sumabs %.3g\n", key, e1, e2, e3);
    if (!(e1 <= tol && e2 <= tol && e3 <= tol)) fail_msg("%s: checksum mismatch beyond %.3g", key, tol);
}

static char g_stderr_path[1100];
static char g_stderr_buf[8192];

int gct_geocorr(const char *fmt, ...) {
    const char *bin = getenv("GEOCORR_BIN");
    if (!bin) fail_msg("GEOCORR_BIN not set (run through ctest)");
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (!g_stderr_path[0]) snprintf(g_stderr_path, sizeof g_stderr_path, "%s/stderr.txt", gct_tmpdir("stderr"));
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", bin, args, g_stderr_path);
    int rc = system(cmd);
    if (rc == -1) fail_msg("cannot run %s", bin);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

const char *gct_last_stderr(void) {
    g_stderr_buf[0] = 0;
    FILE *f = fopen(g_stderr_path, "rb");
    if (!f) return g_stderr_buf;
    size_t n = fread(g_stderr_buf, 1, sizeof g_stderr_buf - 1, f);
    g_stderr_buf[n] = 0;
    fclose(f);
    return g_stderr_buf;
}

void gct_write_file(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) fail_msg("cannot write %s", path);
    fclose(f);
}

const char *gct_path(const char *dir, const char *name) {
    static char buf[16][1400];
    static int i;
    i = (i + 1) % 16;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

cJSON *gct_load_json(const char *file) {
    char *text;
    size_t len;
    assert_int_equal(gc_read_file(file, &text, &len, 1 << 24), GC_OK);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) fail_msg("%s: not JSON", file);
    return j;
}

uint8_t *gct_read_canvas_mask(const char *path) {
    gc_image m;
    if (gc_image_load(path, &m) != GC_OK) fail_msg("%s", gc_last_error());
    assert_int_equal(m.w, 960);
    assert_int_equal(m.h, 960);
    uint8_t *v = malloc(960 * 960);
    for (int i = 0; i < 960 * 960; i++) {
        assert_true(m.rgb[3 * i] == 0 || m.rgb[3 * i] == 255);
        v[i] = m.rgb[3 * i] / 255;
    }
    gc_image_free(&m);
    return v;
}

/* The box on the 960 canvas as the mask script computes it (float32 x * (960 / long side) + the short
 * axis' offset (960 - round_half_even(960 * short / long)) // 2), written out here on its own. */
static void canvas_box(const float b[4], int w, int h, float out[4]) {
    const float sc = (float)(960.0 / (w > h ? w : h));
    const double side = nearbyint(960.0 * (w > h ? h : w) / (w > h ? w : h)); /* round half even */
    const float off = (float)(((int)(960 - side)) / 2);
    for (int i = 0; i < 4; i++) out[i] = b[i] * sc + ((i % 2 == 1) == (w > h) ? off : 0.0f);
}

uint8_t *gct_sam_canvas_mask(const char *sam, const char *image, const float box[4], const char *tmpdir, float cbox[4]) {
    gc_image img, cv;
    if (gc_image_load(image, &img) != GC_OK) fail_msg("%s", gc_last_error());
    assert_int_equal(gc_image_to_canvas(&img, 960, 0, &cv, NULL), GC_OK);
    char cvp[1200], outp[1200];
    snprintf(cvp, sizeof cvp, "%s/canvas.png", tmpdir);
    snprintf(outp, sizeof outp, "%s/cmd_mask.png", tmpdir);
    assert_int_equal(gc_image_save_png(cvp, &cv), GC_OK);
    canvas_box(box, img.w, img.h, cbox);
    int rc = gct_geocorr("mask --sam '%s' --image '%s' --box %.9g,%.9g,%.9g,%.9g --out '%s' >/dev/null", sam, cvp, cbox[0],
                         cbox[1], cbox[2], cbox[3], outp);
    if (rc) fail_msg("mask: %s", gct_last_stderr());
    gc_image_free(&img), gc_image_free(&cv);
    return gct_read_canvas_mask(outp);
}
