/* The PyTorch checkpoint reader (issue D): every legit fixture of fixtures/ckpt gives exactly the
 * tensors of its X.expected.safetensors (same key set, dtype, shape, bytes; the keys the expected file
 * leaves out are checked against the file its `shared_with` names), its non-tensor leaves match the
 * expected JSON; `geocorr convert` / `inspect` on every fixture; every hostile file refused with a
 * clear error naming it (library and command line, nothing left in the output folder); hand-built
 * archives for the limits the fixtures do not reach (nesting, cycles, shared-container blow-up,
 * zip directory inconsistencies, strided-copy budget). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/config.h"
#include "io/torch_ckpt.h"
#include "io/zip_stored.h"
#include "testutil.h"

static const char *const k_legit[] = {
    "dinov2_hub_tiny.pth", "edge_dtypes.pth",  "edge_foreign_objects.pth", "edge_legacy.pth",
    "edge_newer_torch_records.pth", "edge_proto4.pth", "edge_views.pth", "odise_like.pth",
    "postproc_tiny.PTH", "sd_micro_ldm.ckpt", "train_state_tiny.pth",
};

/* ---- fixtures against their expected files ---- */

static void expect_same_tensor(const gc_tensor_ref *got, const gc_tensor_ref *want, const char *name) {
    if (got->dtype != want->dtype || got->ndim != want->ndim || got->nbytes != want->nbytes)
        fail_msg("%s: got %s rank %d (%zu bytes), want %s rank %d (%zu bytes)", name, gc_dtype_name(got->dtype),
                 got->ndim, got->nbytes, gc_dtype_name(want->dtype), want->ndim, want->nbytes);
    for (int i = 0; i < got->ndim; i++)
        if (got->shape[i] != want->shape[i]) fail_msg("%s: dim %d is %lld, want %lld", name, i,
                                                      (long long)got->shape[i], (long long)want->shape[i]);
    if (got->nbytes && memcmp(got->data, want->data, got->nbytes) != 0) fail_msg("%s: bytes differ", name);
}

static char *stem_of(const char *file) {
    char *s = gc_strdup(file);
    *strrchr(s, '.') = 0;
    return s;
}

/* `w` (a loaded checkpoint or its converted safetensors) against the fixture's expected files. */
static void check_against_expected(gc_weights *w, const char *file, bool check_meta) {
    char *stem = stem_of(file), path[512];
    snprintf(path, sizeof path, "ckpt/%s.expected.safetensors", stem);
    gc_weights *exp = gct_open(gct_fixture(path));
    snprintf(path, sizeof path, "ckpt/%s.expected.json", stem);
    cJSON *js;
    assert_int_equal(gc_json_load(gct_fixture(path), &js), GC_OK);
    const cJSON *leaves = cJSON_GetObjectItem(js, "leaves"), *shared = cJSON_GetObjectItem(js, "shared_with");
    gc_weights *other = NULL;
    if (shared) {
        snprintf(path, sizeof path, "ckpt/%s", cJSON_GetObjectItem(shared, "file")->valuestring);
        other = gct_open(gct_fixture(path));
    }
    int64_t ntensors = 0, direct = 0, via_shared = 0, nmeta = 0;
    for (const cJSON *l = leaves->child; l; l = l->next) {
        const char *kind = cJSON_GetObjectItem(l, "kind")->valuestring;
        if (strcmp(kind, "tensor") != 0) {
            if (!check_meta) continue;
            /* non-tensor leaves are listed (inspect) under the same path with the same value */
            const char *got = NULL;
            for (int i = 0, ok = 1; ok; i++) {
                const char *k, *v;
                ok = gc_weights_meta_at(w, i, &k, &v);
                if (ok && strcmp(k, l->string) == 0) got = v;
            }
            if (!got) fail_msg("%s: non-tensor leaf '%s' missing", file, l->string);
            const cJSON *val = cJSON_GetObjectItem(l, "value");
            char want[256] = "";
            if (cJSON_IsNumber(val) && strcmp(kind, "int") == 0) snprintf(want, sizeof want, "%.0f", val->valuedouble);
            else if (cJSON_IsNumber(val)) assert_true(strtod(got, NULL) == val->valuedouble);
            else if (cJSON_IsString(val) && strcmp(kind, "str") == 0) snprintf(want, sizeof want, "'%s'", val->valuestring);
            else if (cJSON_IsString(val)) snprintf(want, sizeof want, "%s", val->valuestring); /* big int, nan, inf */
            else if (cJSON_IsBool(val)) snprintf(want, sizeof want, "%s", cJSON_IsTrue(val) ? "True" : "False");
            else if (cJSON_IsNull(val) && strcmp(kind, "NoneType") == 0) snprintf(want, sizeof want, "None");
            else if (strcmp(kind, "opaque") == 0) assert_non_null(strstr(got, "<opaque "));
            if (want[0] && strlen(want) < 120 && strcmp(got, want) != 0)
                fail_msg("%s: leaf '%s' is %s, want %s", file, l->string, got, want);
            nmeta++;
            continue;
        }
        ntensors++;
        const gc_tensor_ref *g = gc_weights_find(w, l->string), *e = gc_weights_find(exp, l->string);
        if (!g) fail_msg("%s: tensor '%s' missing", file, l->string);
        if (e) {
            expect_same_tensor(g, e, l->string);
            direct++;
            continue;
        }
        /* left out of the expected file as a byte copy of a tensor of `shared_with.file` */
        const cJSON *map = shared ? cJSON_GetObjectItem(shared, "map") : NULL, *pre = shared ? cJSON_GetObjectItem(shared, "prefix") : NULL;
        const char *oname = NULL;
        if (map && cJSON_GetObjectItem(map, l->string)) oname = cJSON_GetObjectItem(map, l->string)->valuestring;
        else if (pre && strncmp(l->string, pre->valuestring, strlen(pre->valuestring)) == 0)
            oname = l->string + strlen(pre->valuestring);
        const gc_tensor_ref *o = oname && other ? gc_weights_find(other, oname) : NULL;
        if (!o) fail_msg("%s: tensor '%s' neither in the expected file nor in its shared_with file", file, l->string);
        expect_same_tensor(g, o, l->string);
        via_shared++;
    }
    /* the same key set: every expected key was found above, and nothing more is present */
    assert_int_equal(gc_weights_count(w), ntensors);
    assert_int_equal(gc_weights_count(exp), direct);
    printf("  %-30s %4lld tensors bit-identical (%lld via shared_with), %lld other leaves\n", file,
           (long long)ntensors, (long long)via_shared, (long long)nmeta);
    gc_weights_free(other);
    cJSON_Delete(js);
    gc_weights_free(exp);
    free(stem);
}

static void test_fixtures(void **state) {
    for (size_t i = 0; i < GC_COUNTOF(k_legit); i++) {
        char name[256];
        snprintf(name, sizeof name, "ckpt/%s", k_legit[i]);
        gc_weights *w = gct_open(gct_fixture(name));
        check_against_expected(w, k_legit[i], true);
        gc_weights_free(w);
    }
}

/* Views are served from the memory map when contiguous (no copy), copied when strided. */
static void test_views_share_the_map(void **state) {
    gc_weights *w = gct_open(gct_fixture("ckpt/edge_views.pth"));
    const gc_tensor_ref *a = gc_weights_find(w, "a"), *d = gc_weights_find(w, "d"), *e = gc_weights_find(w, "e"),
                        *again = gc_weights_find(w, "a_again"), *alias = gc_weights_find(w, "alias");
    assert_true(a && d && e && again && alias);
    assert_ptr_equal(again->data, a->data);                          /* the same tensor object (BINGET) */
    assert_ptr_equal(alias->data, a->data);                          /* a second tensor on the storage */
    assert_ptr_equal(d->data, (const char *)a->data + 20 * 4);        /* offset 2W */
    assert_ptr_equal(e->data, (const char *)a->data + 7 * 4);         /* offset 7 */
    const gc_tensor_ref *c = gc_weights_find(w, "c");
    assert_true((const char *)c->data < (const char *)a->data || (const char *)c->data >= (const char *)a->data + 240);
    assert_string_equal(gc_weights_meta(w, "__prefix__"), "edge_views");
    gc_weights_free(w);
    w = gct_open(gct_fixture("ckpt/postproc_tiny.PTH"));
    assert_string_equal(gc_weights_meta(w, "__prefix__"), "best"); /* from the archive, not the file name */
    gc_weights_free(w);
}

/* ---- the command line ---- */

static bool dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
    if (d) closedir(d);
    return empty;
}

static void test_convert_command(void **state) {
    const char *dir = gct_tmpdir("ckpt_convert");
    char out[1200];
    for (size_t i = 0; i < GC_COUNTOF(k_legit); i++) {
        snprintf(out, sizeof out, "%s/%s.safetensors", dir, k_legit[i]);
        char in[256];
        snprintf(in, sizeof in, "ckpt/%s", k_legit[i]);
        assert_int_equal(gct_geocorr("convert '%s' '%s'", gct_fixture(in), out), 0);
        gc_weights *w = gct_open(out);
        check_against_expected(w, k_legit[i], false);
        gc_weights_free(w);
    }
    /* --prefix keeps and strips: the SD UNet of the .ckpt is the single-file safetensors' UNet */
    snprintf(out, sizeof out, "%s/unet.safetensors", dir);
    assert_int_equal(gct_geocorr("convert '%s' '%s' --prefix state_dict.model.", gct_fixture("ckpt/sd_micro_ldm.ckpt"),
                                 out), 0);
    gc_weights *w = gct_open(out), *ref = gct_open(gct_fixture("sd_micro.ldm_single_file.safetensors"));
    int64_t n = 0;
    for (int64_t i = 0; i < gc_weights_count(ref); i++) {
        const gc_tensor_ref *r = gc_weights_at(ref, i);
        if (strncmp(r->name, "model.", 6) != 0) continue;
        const gc_tensor_ref *g = gc_weights_find(w, r->name + 6);
        if (!g) fail_msg("--prefix: %s missing", r->name + 6);
        expect_same_tensor(g, r, r->name);
        n++;
    }
    assert_true(n > 100);
    assert_int_equal(gc_weights_count(w), n); /* model_ema.* is not under 'state_dict.model.' */
    gc_weights_free(w);
    gc_weights_free(ref);
    /* --dtype f16 converts floats (F32/F64/BF16 via float32, round to nearest even) and keeps ints */
    snprintf(out, sizeof out, "%s/f16.safetensors", dir);
    assert_int_equal(gct_geocorr("convert '%s' '%s' --dtype f16", gct_fixture("ckpt/edge_dtypes.pth"), out), 0);
    w = gct_open(out);
    ref = gct_open(gct_fixture("ckpt/edge_dtypes.pth"));
    for (int64_t i = 0; i < gc_weights_count(ref); i++) {
        const gc_tensor_ref *r = gc_weights_at(ref, i), *g = gc_weights_find(w, r->name);
        assert_non_null(g);
        bool fl = r->dtype == GC_DT_F64 || r->dtype == GC_DT_F32 || r->dtype == GC_DT_F16 || r->dtype == GC_DT_BF16;
        assert_int_equal(g->dtype, fl ? GC_DT_F16 : r->dtype);
        assert_int_equal(g->numel, r->numel);
        float *f = calloc((size_t)r->numel + 1, sizeof *f);
        gc_convert_to_f32(r->dtype, r->data, f, r->numel);
        for (int64_t k = 0; fl && k < r->numel; k++) {
            uint16_t h;
            memcpy(&h, (const char *)g->data + 2 * k, 2);
            assert_int_equal(h, gc_f32_to_f16(f[k]));
        }
        if (!fl) assert_memory_equal(g->data, r->data, r->nbytes);
        free(f);
    }
    gc_weights_free(w);
    gc_weights_free(ref);
    /* bad options: clear errors, nothing written */
    const char *bad = gct_tmpdir("ckpt_convert_bad");
    assert_int_equal(gct_geocorr("convert '%s' '%s/x.safetensors' --dtype bf16", gct_fixture("ckpt/edge_dtypes.pth"),
                                 bad), 2);
    assert_int_equal(gct_geocorr("convert '%s' '%s/x.safetensors' --prefix nothing.here",
                                 gct_fixture("ckpt/edge_dtypes.pth"), bad), 1);
    assert_non_null(strstr(gct_last_stderr(), "no tensor under the prefix 'nothing.here'"));
    assert_true(dir_is_empty(bad));
}

static void test_inspect_command(void **state) {
    const char *dir = gct_tmpdir("ckpt_inspect");
    char out[1200];
    snprintf(out, sizeof out, "%s/inspect.txt", dir);
    for (size_t i = 0; i < GC_COUNTOF(k_legit); i++) {
        char in[256];
        snprintf(in, sizeof in, "ckpt/%s", k_legit[i]);
        assert_int_equal(gct_geocorr("inspect '%s' > '%s'", gct_fixture(in), out), 0);
        char *text;
        size_t len;
        assert_int_equal(gc_read_file(out, &text, &len, 64u << 20), GC_OK);
        gc_weights *w = gct_open(gct_fixture(in));
        for (int64_t k = 0; k < gc_weights_count(w); k++) {
            char line[1200];
            snprintf(line, sizeof line, " %s\n", gc_weights_at(w, k)->name);
            if (!strstr(text, line)) fail_msg("inspect %s: tensor %s not listed", k_legit[i], gc_weights_at(w, k)->name);
        }
        if (strcmp(k_legit[i], "sd_micro_ldm.ckpt") == 0) assert_non_null(strstr(text, "global_step = 840000"));
        gc_weights_free(w);
        free(text);
    }
    /* safetensors too */
    assert_int_equal(gct_geocorr("inspect '%s' > '%s'", gct_fixture("ckpt/edge_dtypes.expected.safetensors"), out), 0);
}

/* ---- hostile files ---- */

typedef struct {
    const char *file;
    gc_status status;
    const char *needle;
} hostile_case;

static const hostile_case k_hostile[] = {
    {"global_os_getcwd.pth", GC_ERR_REFUSED, "forbidden global os.getcwd"},
    {"whole_module.pth", GC_ERR_REFUSED, "forbidden global torch.nn.modules.container.Sequential"},
    {"missing_record.pth", GC_ERR_FORMAT, "storage record archive/data/1 is missing"},
    {"truncated.pth", GC_ERR_FORMAT, "no end-of-central-directory record"},
    {"short_record.pth", GC_ERR_FORMAT, "archive/data/0 has 40 bytes, FloatStorage of 100 elements needs 400"},
    {"view_out_of_bounds.pth", GC_ERR_FORMAT, "reaches element 15 of storage '0' which has 12"},
    {"recursion_bomb.pth", GC_ERR_FORMAT, "more than 100 nested MARKs"},
    {"huge_binunicode.pth", GC_ERR_FORMAT, "needs 4294967280 bytes"},
    {"huge_storage_numel.pth", GC_ERR_FORMAT, "claims 4611686018427387904 elements (out of range)"},
    {"shape_overflow.pth", GC_ERR_FORMAT, "has more than 2^50 elements"},
    {"memo_missing.pth", GC_ERR_FORMAT, "memo key 7 used before it was stored"},
    {"stack_underflow.pth", GC_ERR_FORMAT, "stack underflow"},
    {"bad_crc.pth", GC_ERR_FORMAT, "CRC mismatch in archive/data.pkl"},
    {"deflated.pth", GC_ERR_UNSUPPORTED, "is compressed (method 8)"},
    {"no_data_pkl.pth", GC_ERR_FORMAT, "expected exactly one <prefix>/data.pkl, found 0"},
    {"not_a_checkpoint.pth", GC_ERR_FORMAT, "not a PyTorch checkpoint"},
    {"dtype_conflict.pth", GC_ERR_FORMAT, "used as FloatStorage[6] and as HalfStorage[6]"},
    {"byteorder_big.pth", GC_ERR_UNSUPPORTED, "big-endian"},
    {"legacy_truncated.pth", GC_ERR_FORMAT, "storage 100000000000001 truncated (78 of 128 bytes)"},
};

static void expect_refused(const char *path, gc_status want, const char *needle) {
    gc_weights *w = NULL;
    gc_status s = gc_weights_open(path, &w);
    printf("  %-24s -> %s\n", gc_basename(path), gc_last_error());
    assert_null(w);
    if (s != want) fail_msg("%s: status %d, want %d", path, s, want);
    assert_non_null(strstr(gc_last_error(), gc_basename(path)));
    if (needle && !strstr(gc_last_error(), needle)) fail_msg("%s: message lacks '%s'", path, needle);
}

static void test_hostile(void **state) {
    size_t nfiles = 0;
    DIR *d = opendir(gct_fixture("ckpt/hostile"));
    for (struct dirent *e; d && (e = readdir(d));) nfiles += e->d_name[0] != '.';
    if (d) closedir(d);
    assert_int_equal(nfiles, GC_COUNTOF(k_hostile)); /* a new hostile fixture needs a case here */
    for (size_t i = 0; i < GC_COUNTOF(k_hostile); i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "ckpt/hostile/%s", k_hostile[i].file);
        const char *path = gct_fixture(rel);
        expect_refused(path, k_hostile[i].status, k_hostile[i].needle);
        /* the commands: exit 1..127 (no signal), the base name in the message, nothing written */
        const char *dir = gct_tmpdir("ckpt_hostile");
        for (int cmd = 0; cmd < 2; cmd++) {
            int rc = cmd ? gct_geocorr("inspect '%s' > /dev/null", path)
                         : gct_geocorr("convert '%s' '%s/out.safetensors'", path, dir);
            if (rc < 1 || rc > 127) fail_msg("%s %s: exit %d", cmd ? "inspect" : "convert", k_hostile[i].file, rc);
            assert_non_null(strstr(gct_last_stderr(), k_hostile[i].file));
            assert_null(strstr(gct_last_stderr(), "Sanitizer")); /* ASan's own exit code is 1 too */
            assert_null(strstr(gct_last_stderr(), "runtime error"));
        }
        assert_true(dir_is_empty(dir));
    }
}

/* ---- hand-built archives: a minimal stored-zip writer and pickle builder ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put8(buf_t *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }
static void put16(buf_t *b, unsigned v) { put8(b, v & 255); put8(b, v >> 8); }
static void put32(buf_t *b, uint32_t v) { put16(b, v & 0xffff); put16(b, v >> 16); }
static void pstr(buf_t *b, const char *s) { put8(b, 'X'); put32(b, (uint32_t)strlen(s)); put(b, s, strlen(s)); }
static void pglobal(buf_t *b, const char *mod, const char *name) {
    put8(b, 'c');
    put(b, mod, strlen(mod));
    put8(b, '\n');
    put(b, name, strlen(name));
    put8(b, '\n');
}
static void pint(buf_t *b, int32_t v) { put8(b, 'J'); put32(b, (uint32_t)v); }
static void pints(buf_t *b, int n, const int64_t *v) {
    put8(b, '(');
    for (int i = 0; i < n; i++) pint(b, (int32_t)v[i]);
    put8(b, 't');
}
/* _rebuild_tensor_v2 over FloatStorage `key` of `numel` elements */
static void ptensor(buf_t *b, const char *key, int numel, int offset, int nd, const int64_t *size, const int64_t *stride) {
    pglobal(b, "torch._utils", "_rebuild_tensor_v2");
    put8(b, '(');
    put8(b, '(');
    pstr(b, "storage");
    pglobal(b, "torch", "FloatStorage");
    pstr(b, key);
    pstr(b, "cpu");
    pint(b, numel);
    put8(b, 't');
    put8(b, 'Q');
    pint(b, offset);
    pints(b, nd, size);
    pints(b, nd, stride);
    put8(b, 0x89);
    pglobal(b, "collections", "OrderedDict");
    put8(b, ')');
    put8(b, 'R');
    put8(b, 't');
    put8(b, 'R');
}

typedef struct {
    const char *name;
    const void *data;
    size_t len;
} member;

/* A stored zip of the members; `bad_local` renames the first local header (directory mismatch);
 * `zip64` escapes the central sizes and offsets to 0xFFFFFFFF and carries them in zip64 extra fields,
 * as torch does for members past 4 GiB. */
static void write_zip_ex(const char *path, const member *m, int n, bool bad_local, bool zip64) {
    buf_t z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint32_t off = (uint32_t)z.n, crc = gc_crc32(m[i].data, m[i].len), nl = (uint32_t)strlen(m[i].name);
        put32(&z, 0x04034b50); put16(&z, 0); put16(&z, 0); put16(&z, 0); put16(&z, 0); put16(&z, 0);
        put32(&z, crc); put32(&z, (uint32_t)m[i].len); put32(&z, (uint32_t)m[i].len); put16(&z, nl); put16(&z, 0);
        size_t at = z.n;
        put(&z, m[i].name, nl);
        if (bad_local && i == 0) z.p[at] ^= 1;
        put(&z, m[i].data, m[i].len);
        uint32_t esc = 0xFFFFFFFFu;
        put32(&cd, 0x02014b50); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0);
        put32(&cd, crc); put32(&cd, zip64 ? esc : (uint32_t)m[i].len); put32(&cd, zip64 ? esc : (uint32_t)m[i].len);
        put16(&cd, nl); put16(&cd, zip64 ? 28 : 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put32(&cd, 0);
        put32(&cd, zip64 ? esc : off);
        put(&cd, m[i].name, nl);
        if (zip64) { /* id 1, 24 bytes: uncompressed size, compressed size, local header offset */
            put16(&cd, 1); put16(&cd, 24);
            uint64_t v[3] = {m[i].len, m[i].len, off};
            for (int k = 0; k < 3; k++) { put32(&cd, (uint32_t)v[k]); put32(&cd, (uint32_t)(v[k] >> 32)); }
        }
    }
    uint32_t cdoff = (uint32_t)z.n;
    put(&z, cd.p, cd.n);
    put32(&z, 0x06054b50); put16(&z, 0); put16(&z, 0); put16(&z, (unsigned)n); put16(&z, (unsigned)n);
    put32(&z, (uint32_t)cd.n); put32(&z, cdoff); put16(&z, 0);
    gct_write_file(path, z.p, z.n);
    free(z.p);
    free(cd.p);
}

static void write_zip(const char *path, const member *m, int n, bool bad_local) { write_zip_ex(path, m, n, bad_local, false); }

/* archive/data.pkl = pk, archive/data/0 = `nfloats` floats 0, 1, 2, ... */
static const char *write_ckpt_ex(const char *dir, const char *name, const buf_t *pk, int nfloats, bool bad_local,
                                 bool zip64) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float *f = calloc((size_t)nfloats + 1, sizeof *f);
    for (int i = 0; i < nfloats; i++) f[i] = (float)i;
    member m[3] = {{"archive/data.pkl", pk->p, pk->n}, {"archive/data/0", f, (size_t)nfloats * 4}, {"archive/version", "3\n", 2}};
    write_zip_ex(path, m, 3, bad_local, zip64);
    free(f);
    return path;
}

static const char *write_ckpt(const char *dir, const char *name, const buf_t *pk, int nfloats, bool bad_local) {
    return write_ckpt_ex(dir, name, pk, nfloats, bad_local, false);
}

static void test_crafted(void **state) {
    const char *dir = gct_tmpdir("ckpt_crafted");
    int64_t sz[9] = {2, 3, 1, 1, 1, 1, 1, 1, 1}, st[9] = {3, 1, 1, 1, 1, 1, 1, 1, 1};
    buf_t b = {0};

    /* the writer's baseline: {'w': view, <os.getcwd>: 1 (a global used as a key, never called)} */
    put8(&b, 0x80); put8(&b, 2); put8(&b, '}'); put8(&b, '(');
    pstr(&b, "w"); ptensor(&b, "0", 6, 0, 2, sz, st);
    pstr(&b, "t"); ptensor(&b, "0", 6, 0, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3}); /* transposed */
    pglobal(&b, "os", "getcwd"); pint(&b, 1);
    put8(&b, 'u'); put8(&b, '.');
    gc_weights *w = gct_open(write_ckpt(dir, "ok.pth", &b, 6, false));
    const gc_tensor_ref *t = gc_weights_find(w, "t");
    assert_non_null(t);
    const float want_t[6] = {0, 3, 1, 4, 2, 5}; /* storage 0..5, stride (1, 3) */
    assert_memory_equal(t->data, want_t, sizeof want_t);
    assert_string_equal(gc_weights_meta(w, "<os.getcwd>"), "1");
    gc_weights_free(w);
    /* the same archive with zip64 extra fields in the central directory */
    w = gct_open(write_ckpt_ex(dir, "zip64.pth", &b, 6, false, true));
    assert_non_null(t = gc_weights_find(w, "t"));
    assert_memory_equal(t->data, want_t, sizeof want_t);
    gc_weights_free(w);
    expect_refused(write_ckpt(dir, "local_mismatch.pth", &b, 6, true), GC_ERR_FORMAT, "disagrees with the central");

    /* a view whose storage is fine but that has 9 dims */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, '}'); pstr(&b, "w"); ptensor(&b, "0", 6, 0, 9, sz, st); put8(&b, 's'); put8(&b, '.');
    expect_refused(write_ckpt(dir, "nine_dims.pth", &b, 6, false), GC_ERR_UNSUPPORTED, "at most 8");

    /* 300 nested lists without a single MARK: the flattening walk is depth-bounded */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2);
    for (int i = 0; i < 300; i++) put8(&b, ']');
    for (int i = 0; i < 299; i++) put8(&b, 'a');
    put8(&b, '.');
    expect_refused(write_ckpt(dir, "deep_lists.pth", &b, 6, false), GC_ERR_FORMAT, "nested more than 200 deep");

    /* a list that contains itself (memo) */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, ']'); put8(&b, 'q'); put8(&b, 0); put8(&b, 'h'); put8(&b, 0); put8(&b, 'a'); put8(&b, '.');
    expect_refused(write_ckpt(dir, "cycle.pth", &b, 6, false), GC_ERR_FORMAT, "or a cycle");

    /* l_{i+1} = [l_i, l_i] sixty times: 2^60 paths from a few hundred bytes */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, ']'); put8(&b, 'q'); put8(&b, 0); put8(&b, '0');
    for (int i = 0; i < 60; i++) {
        put8(&b, ']'); put8(&b, '('); put8(&b, 'h'); put8(&b, 0); put8(&b, 'h'); put8(&b, 0); put8(&b, 'e');
        put8(&b, 'q'); put8(&b, 0); put8(&b, '0');
    }
    put8(&b, 'h'); put8(&b, 0); put8(&b, '.');
    expect_refused(write_ckpt(dir, "dag_bomb.pth", &b, 6, false), GC_ERR_FORMAT, "repeats shared containers");

    /* an expanded view of 2^40 elements (stride 0) over one float: legal, but the copy is refused */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, '}'); pstr(&b, "w");
    ptensor(&b, "0", 1, 0, 2, (int64_t[]){1 << 20, 1 << 20}, (int64_t[]){0, 0});
    put8(&b, 's'); put8(&b, '.');
    expect_refused(write_ckpt(dir, "expand_bomb.pth", &b, 1, false), GC_ERR_FORMAT, "more than this file can justify");

    /* BUILD on a global that is not allowed, and an unsupported opcode (INST) */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); pglobal(&b, "subprocess", "Popen"); put8(&b, '}'); put8(&b, 'b'); put8(&b, '.');
    expect_refused(write_ckpt(dir, "build.pth", &b, 1, false), GC_ERR_REFUSED, "forbidden global subprocess.Popen");
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, 'i'); put8(&b, '.');
    expect_refused(write_ckpt(dir, "inst.pth", &b, 1, false), GC_ERR_UNSUPPORTED, "unsupported opcode 0x69");

    /* trailing bytes after STOP, and two data.pkl members */
    b.n = 0;
    put8(&b, 0x80); put8(&b, 2); put8(&b, '}'); put8(&b, '.'); put8(&b, 'N');
    expect_refused(write_ckpt(dir, "trailing.pth", &b, 1, false), GC_ERR_FORMAT, "after the pickle's STOP");
    member two[2] = {{"a/data.pkl", "\x80\x02}.", 4}, {"b/data.pkl", "\x80\x02}.", 4}};
    char path[1200];
    snprintf(path, sizeof path, "%s/two.pth", dir);
    write_zip(path, two, 2, false);
    expect_refused(path, GC_ERR_FORMAT, "found 2");
    snprintf(path, sizeof path, "%s/empty.pth", dir);
    gct_write_file(path, "", 0);
    expect_refused(path, GC_ERR_FORMAT, "empty file");
    free(b.p);
}

/* ---- DINOv2 from a hub-named training checkpoint (TRACE.md section 1, last bullet) ---- */

typedef struct {
    char name[160];
    const gc_tensor_ref *src; /* F32 source, or NULL: `own` holds the data */
    float *own;
    int ndim;
    int64_t shape[4];
} ckpt_tensor;

/* torch.save({name: tensor, ...}) in the zip format, one storage per tensor. */
static void write_state_ckpt(const char *path, const ckpt_tensor *t, int n) {
    buf_t b = {0};
    member *m = calloc((size_t)n + 2, sizeof *m);
    char (*keys)[32] = calloc((size_t)n, sizeof *keys), (*names)[48] = calloc((size_t)n, sizeof *names);
    put8(&b, 0x80); put8(&b, 2); put8(&b, '}'); put8(&b, '(');
    for (int i = 0; i < n; i++) {
        int64_t numel = 1, stride[4];
        for (int d = t[i].ndim - 1; d >= 0; d--) {
            stride[d] = numel;
            numel *= t[i].shape[d];
        }
        snprintf(keys[i], sizeof keys[i], "%d", i);
        pstr(&b, t[i].name);
        ptensor(&b, keys[i], (int)numel, 0, t[i].ndim, t[i].shape, stride);
        snprintf(names[i], sizeof names[i], "ckpt/data/%d", i);
        m[i + 1] = (member){names[i], t[i].src ? t[i].src->data : t[i].own, (size_t)numel * 4};
    }
    put8(&b, 'u'); put8(&b, '.');
    m[0] = (member){"ckpt/data.pkl", b.p, b.n};
    m[n + 1] = (member){"ckpt/version", "3\n", 2};
    write_zip(path, m, n + 2, false);
    free(m);
    free(keys);
    free(names);
    free(b.p);
}

static void link_fixture(const char *dir, const char *name, const char *fixture) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (symlink(gct_fixture(fixture), p) != 0) fail_msg("cannot link %s", p);
}

/* max |a - b| / max |b| over every tensor of two trace outputs (same key sets). */
static double trace_diff(const char *a_path, const char *b_path) {
    gc_weights *a = gct_open(a_path), *b = gct_open(b_path);
    assert_int_equal(gc_weights_count(a), gc_weights_count(b));
    double worst = 0;
    for (int64_t i = 0; i < gc_weights_count(b); i++) {
        const gc_tensor_ref *rb = gc_weights_at(b, i), *ra = gc_weights_find(a, rb->name);
        if (!ra || ra->numel != rb->numel) fail_msg("trace output %s differs in presence or size", rb->name);
        const float *pa, *pb;
        assert_int_equal(gc_weights_f32(a, ra->name, ra->ndim, ra->shape, &pa), GC_OK);
        assert_int_equal(gc_weights_f32(b, rb->name, rb->ndim, rb->shape, &pb), GC_OK);
        double md = 0, mb = 0;
        for (int64_t k = 0; k < rb->numel; k++) {
            md = fmax(md, fabs((double)pa[k] - pb[k]));
            mb = fmax(mb, fabs((double)pb[k]));
        }
        worst = fmax(worst, mb > 0 ? md / mb : md);
    }
    gc_weights_free(a);
    gc_weights_free(b);
    return worst;
}

/* A DINOv2-with-registers training checkpoint {teacher.backbone.<hub name>, teacher.dino_head.*,
 * student.backbone.<hub name> (zeros: picking the student would fail)} built from the HF weights, and
 * the hub-named dinov2_hub_tiny.pth fixture, give the same trace as the HF safetensors folders. */
static void test_dinov2_from_hub_checkpoint(void **state) {
    const char *tmp = gct_tmpdir("ckpt_dino");
    cJSON *js;
    assert_int_equal(gc_json_load(gct_fixture("ckpt/dinov2_hub_tiny.expected.json"), &js), GC_OK);
    const cJSON *map = cJSON_GetObjectItem(cJSON_GetObjectItem(js, "shared_with"), "map");
    gc_weights *hf = gct_open(gct_fixture("dinov2_tiny_reg.model.safetensors"));
    int cap = 256, n = 0;
    ckpt_tensor *t = calloc((size_t)cap, sizeof *t);
    int64_t D = 64;
    for (int copy = 0; copy < 2; copy++) { /* 0 teacher, 1 student */
        const char *who = copy ? "student.backbone." : "teacher.backbone.";
        int first = n;
        for (const cJSON *e = map->child; e; e = e->next) {
            snprintf(t[n].name, sizeof t[n].name, "%s%s", who, e->string);
            t[n].src = gc_weights_find(hf, e->valuestring);
            assert_non_null(t[n].src);
            n++;
        }
        snprintf(t[n].name, sizeof t[n].name, "%sregister_tokens", who);
        t[n++].src = gc_weights_find(hf, "embeddings.register_tokens");
        for (int blk = 0; blk < 3; blk++)
            for (int bias = 0; bias < 2; bias++) { /* qkv = cat(query, key, value) along dim 0 */
                ckpt_tensor *q = &t[n++];
                snprintf(q->name, sizeof q->name, "%sblocks.%d.attn.qkv.%s", who, blk, bias ? "bias" : "weight");
                q->ndim = bias ? 1 : 2;
                q->shape[0] = 3 * D;
                q->shape[1] = D;
                int64_t part = bias ? D : D * D;
                q->own = calloc((size_t)(3 * part), sizeof(float));
                const char *qkv[3] = {"query", "key", "value"};
                for (int k = 0; k < 3; k++) {
                    const gc_tensor_ref *r = gc_weights_findf(hf, "encoder.layer.%d.attention.attention.%s.%s", blk, qkv[k],
                                                              bias ? "bias" : "weight");
                    assert_non_null(r);
                    memcpy(q->own + k * part, r->data, (size_t)part * 4);
                }
            }
        for (int i = first; i < n; i++) {
            if (t[i].src) {
                t[i].ndim = t[i].src->ndim;
                memcpy(t[i].shape, t[i].src->shape, sizeof(int64_t) * (size_t)t[i].ndim);
            }
            if (copy) { /* the student: zeros of the same shapes */
                int64_t numel = 1;
                for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
                free(t[i].own);
                t[i].own = calloc((size_t)numel + 1, sizeof(float));
                t[i].src = NULL;
            }
        }
    }
    ckpt_tensor *head = &t[n++];
    snprintf(head->name, sizeof head->name, "teacher.dino_head.mlp.0.weight");
    head->ndim = 2;
    head->shape[0] = 8;
    head->shape[1] = D;
    head->own = calloc(8 * (size_t)D, sizeof(float));

    char hub_dir[1200], hf_dir[1200], hub1_dir[1200], hf1_dir[1200], p[1300];
    snprintf(hub_dir, sizeof hub_dir, "%s/hub_reg", tmp);
    snprintf(hf_dir, sizeof hf_dir, "%s/hf_reg", tmp);
    snprintf(hub1_dir, sizeof hub1_dir, "%s/hub_tiny", tmp);
    snprintf(hf1_dir, sizeof hf1_dir, "%s/hf_tiny", tmp);
    const char *dirs[4] = {hub_dir, hf_dir, hub1_dir, hf1_dir};
    for (int i = 0; i < 4; i++) assert_int_equal(mkdir(dirs[i], 0755), 0);
    snprintf(p, sizeof p, "%s/teacher_checkpoint.pth", hub_dir);
    write_state_ckpt(p, t, n);
    link_fixture(hub_dir, "config.json", "dinov2_tiny_reg.config.json");
    link_fixture(hf_dir, "config.json", "dinov2_tiny_reg.config.json");
    link_fixture(hf_dir, "model.safetensors", "dinov2_tiny_reg.model.safetensors");
    link_fixture(hub1_dir, "config.json", "dinov2_tiny.config.json");
    link_fixture(hub1_dir, "dinov2_hub_tiny.pth", "ckpt/dinov2_hub_tiny.pth");
    link_fixture(hf1_dir, "config.json", "dinov2_tiny.config.json");
    link_fixture(hf1_dir, "model.safetensors", "dinov2_tiny.model.safetensors");

    /* the model input: the fixtures' 224x280 pixel_values */
    gc_weights *inputs = gct_open(gct_fixture("dinov2_inputs.safetensors"));
    const gc_tensor_ref *pv = gc_weights_find(inputs, "224x280.pixel_values");
    assert_non_null(pv);
    gc_st_writer *wr = gc_st_writer_new();
    assert_int_equal(gc_st_writer_add(wr, "pixel_values", pv->dtype, pv->ndim, pv->shape, pv->data), GC_OK);
    char in[1300];
    snprintf(in, sizeof in, "%s/in.safetensors", tmp);
    assert_int_equal(gc_st_writer_save(wr, in), GC_OK);
    gc_st_writer_free(wr);
    gc_weights_free(inputs);

    char out[4][1300];
    for (int i = 0; i < 4; i++) {
        snprintf(out[i], sizeof out[i], "%s/out%d.safetensors", tmp, i);
        int rc = gct_geocorr("trace dinov2 --weights '%s' --inputs '%s' --out '%s'", dirs[i], in, out[i]);
        if (rc != 0) fail_msg("trace dinov2 --weights %s: exit %d: %s", dirs[i], rc, gct_last_stderr());
    }
    double reg = trace_diff(out[0], out[1]), tiny = trace_diff(out[2], out[3]);
    printf("  trace dinov2: teacher.backbone hub checkpoint vs HF safetensors (registers): max rel diff %.3g\n", reg);
    printf("  trace dinov2: dinov2_hub_tiny.pth vs HF safetensors: max rel diff %.3g\n", tiny);
    assert_true(reg <= 1e-6);
    assert_true(tiny <= 1e-6);
    for (int i = 0; i < n; i++) free(t[i].own);
    free(t);
    gc_weights_free(hf);
    cJSON_Delete(js);
}

/* Prefix detection finds the model inside training checkpoints, preferring the teacher copy. */
static void test_detect_prefix(void **state) {
    gc_weights *w = gc_weights_new("mem");
    float x = 0;
    const char *names[] = {"student.backbone.blocks.0.norm1.weight", "teacher.backbone.blocks.0.norm1.weight",
                           "teacher.dino_head.mlp.0.weight"};
    for (int i = 0; i < 3; i++) assert_int_equal(gc_weights_add(w, names[i], GC_DT_F32, 1, (int64_t[]){1}, &x), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    assert_true(gc_weights_detect_prefix(w, "blocks.0.norm1.weight"));
    assert_string_equal(gc_weights_prefix(w), "teacher.backbone.");
    gc_weights_free(w);
    /* nested under model., and two non-teacher copies stay ambiguous */
    w = gc_weights_new("mem");
    const char *nested[] = {"model.student.backbone.x", "model.teacher.backbone.x", "ema.x", "other.x"};
    for (int i = 0; i < 4; i++) assert_int_equal(gc_weights_add(w, nested[i], GC_DT_F32, 1, (int64_t[]){1}, &x), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    assert_true(gc_weights_detect_prefix(w, "x"));
    assert_string_equal(gc_weights_prefix(w), "model.teacher.backbone.");
    assert_false(gc_weights_detect_prefix(w, "y"));
    gc_weights_free(w);
    w = gc_weights_new("mem");
    for (int i = 2; i < 4; i++) assert_int_equal(gc_weights_add(w, nested[i], GC_DT_F32, 1, (int64_t[]){1}, &x), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    assert_false(gc_weights_detect_prefix(w, "x"));
    gc_weights_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),       cmocka_unit_test(test_views_share_the_map),
        cmocka_unit_test(test_convert_command), cmocka_unit_test(test_inspect_command),
        cmocka_unit_test(test_hostile),        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_detect_prefix), cmocka_unit_test(test_dinov2_from_hub_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
