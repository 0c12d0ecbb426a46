#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/weights.h"
#include "io/safetensors.h"
#include "io/torch_ckpt.h"

typedef struct {
    void *ptr;
    size_t len;
    void (*release)(void *, size_t);
} backing;

struct gc_weights {
    char *label;
    char *prefix;
    gc_tensor_ref *t;
    int64_t n, cap;
    backing *b;
    int nb, bcap;
    char **meta; /* [2 * mcap] key, value pairs in insertion order */
    int nmeta, mcap;
    bool sorted;
};

static void release_free(void *p, size_t len) {
    (void)len;
    gc_free(p);
}

gc_weights *gc_weights_new(const char *label) {
    gc_weights *w = calloc(1, sizeof *w);
    if (!w) {
        gc_errorf(GC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    w->label = gc_strdup(label ? label : "(weights)");
    if (!w->label) {
        free(w);
        return NULL;
    }
    return w;
}

void gc_weights_free(gc_weights *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        gc_free(w->t[i].f32);
    }
    free(w->t);
    for (int i = 0; i < w->nb; i++)
        if (w->b[i].release) w->b[i].release(w->b[i].ptr, w->b[i].len);
    free(w->b);
    for (int i = 0; i < 2 * w->nmeta; i++) free(w->meta[i]);
    free(w->meta);
    free(w->prefix);
    free(w->label);
    free(w);
}

const char *gc_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

gc_status gc_weights_add(gc_weights *w, const char *name, gc_dtype dtype, int ndim,
                         const int64_t *shape, const void *data) {
    if (ndim < 0 || ndim > GC_MAX_DIMS)
        return gc_errorf(GC_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)",
                         w->label, name, ndim, GC_MAX_DIMS);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (!gc_mul_ok(numel, shape[i], &numel))
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s' has an invalid or overflowing shape",
                             w->label, name);
    int64_t nbytes;
    if (!gc_mul_ok(numel, (int64_t)gc_dtype_size(dtype), &nbytes))
        return gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s' is too large", w->label, name);
    if (w->n == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 64;
        gc_tensor_ref *t = gc_realloc_array(w->t, (size_t)cap, sizeof *t);
        if (!t) return GC_ERR_NOMEM;
        w->t = t;
        w->cap = cap;
    }
    gc_tensor_ref *r = &w->t[w->n];
    memset(r, 0, sizeof *r);
    r->name = gc_strdup(name);
    if (!r->name) return GC_ERR_NOMEM;
    r->dtype = dtype;
    r->ndim = ndim;
    for (int i = 0; i < ndim; i++) r->shape[i] = shape[i];
    r->numel = numel;
    r->data = data;
    r->nbytes = (size_t)nbytes;
    w->n++;
    w->sorted = false;
    return GC_OK;
}

gc_status gc_weights_add_owned_f32(gc_weights *w, const char *name, int ndim, const int64_t *shape,
                                   float *data) {
    gc_status s = gc_weights_add_backing(w, data, 0, release_free);
    if (s != GC_OK) {
        gc_free(data);
        return s;
    }
    return gc_weights_add(w, name, GC_DT_F32, ndim, shape, data);
}

gc_status gc_weights_add_backing(gc_weights *w, void *ptr, size_t len, void (*release)(void *, size_t)) {
    if (w->nb == w->bcap) {
        int cap = w->bcap ? 2 * w->bcap : 4;
        backing *b = gc_realloc_array(w->b, (size_t)cap, sizeof *b);
        if (!b) return GC_ERR_NOMEM;
        w->b = b;
        w->bcap = cap;
    }
    w->b[w->nb++] = (backing){ptr, len, release};
    return GC_OK;
}

static int cmp_ref(const void *a, const void *b) {
    return strcmp(((const gc_tensor_ref *)a)->name, ((const gc_tensor_ref *)b)->name);
}

gc_status gc_weights_finalize(gc_weights *w) {
    if (w->n > 1) qsort(w->t, (size_t)w->n, sizeof *w->t, cmp_ref);
    for (int64_t i = 1; i < w->n; i++)
        if (strcmp(w->t[i - 1].name, w->t[i].name) == 0)
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s' appears twice", w->label, w->t[i].name);
    w->sorted = true;
    return GC_OK;
}

gc_status gc_weights_set_meta(gc_weights *w, const char *key, const char *value) {
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            char *v = gc_strdup(value);
            if (!v) return GC_ERR_NOMEM;
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return GC_OK;
        }
    return gc_weights_add_meta(w, key, value);
}

gc_status gc_weights_add_meta(gc_weights *w, const char *key, const char *value) {
    if (w->nmeta == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 8;
        char **m = gc_realloc_array(w->meta, 2 * (size_t)cap, sizeof *m);
        if (!m) return GC_ERR_NOMEM;
        w->meta = m;
        w->mcap = cap;
    }
    char **m = w->meta;
    m[2 * w->nmeta] = gc_strdup(key);
    m[2 * w->nmeta + 1] = gc_strdup(value);
    if (!m[2 * w->nmeta] || !m[2 * w->nmeta + 1]) {
        free(m[2 * w->nmeta]);
        free(m[2 * w->nmeta + 1]);
        return GC_ERR_NOMEM;
    }
    w->nmeta++;
    return GC_OK;
}

const char *gc_weights_meta(const gc_weights *w, const char *key) {
    for (int i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) return w->meta[2 * i + 1];
    return NULL;
}

int gc_weights_meta_count(const gc_weights *w) { return w->nmeta; }

bool gc_weights_meta_at(const gc_weights *w, int i, const char **key, const char **value) {
    if (i < 0 || i >= w->nmeta) return false;
    *key = w->meta[2 * i];
    *value = w->meta[2 * i + 1];
    return true;
}

const char *gc_weights_label(const gc_weights *w) { return w->label; }
int64_t gc_weights_count(const gc_weights *w) { return w->n; }
const gc_tensor_ref *gc_weights_at(const gc_weights *w, int64_t i) {
    return (i >= 0 && i < w->n) ? &w->t[i] : NULL;
}

void gc_weights_set_prefix(gc_weights *w, const char *prefix) {
    free(w->prefix);
    w->prefix = (prefix && *prefix) ? gc_strdup(prefix) : NULL;
}

const char *gc_weights_prefix(const gc_weights *w) { return w->prefix ? w->prefix : ""; }

static gc_tensor_ref *find_exact(const gc_weights *w, const char *name) {
    if (!w->sorted) {
        for (int64_t i = 0; i < w->n; i++)
            if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
        return NULL;
    }
    int64_t lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->t[mid].name, name);
        if (c == 0) return &w->t[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static gc_tensor_ref *find_mut(const gc_weights *w, const char *name) {
    if (!w->prefix) return find_exact(w, name);
    size_t lp = strlen(w->prefix), ln = strlen(name);
    char stackbuf[512];
    char *full = lp + ln + 1 <= sizeof stackbuf ? stackbuf : malloc(lp + ln + 1);
    if (!full) return NULL;
    memcpy(full, w->prefix, lp);
    memcpy(full + lp, name, ln + 1);
    gc_tensor_ref *r = find_exact(w, full);
    if (full != stackbuf) free(full);
    return r;
}

const gc_tensor_ref *gc_weights_find(const gc_weights *w, const char *name) { return find_mut(w, name); }
bool gc_weights_has(const gc_weights *w, const char *name) { return find_mut(w, name) != NULL; }

const gc_tensor_ref *gc_weights_findf(const gc_weights *w, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return find_mut(w, name);
}

/* Candidate prefixes P with "P<first_key>" a tensor. Several copies of a model are common in training
 * checkpoints (DINO: student.* and teacher.*, maybe under model.); the teacher is the one evaluated,
 * so a prefix with a `teacher` component wins a tie. */
bool gc_weights_detect_prefix(gc_weights *w, const char *first_key) {
    if (find_mut(w, first_key)) return true;
    size_t lk = strlen(first_key);
    const char *found = NULL, *teacher = NULL;
    size_t found_len = 0, teacher_len = 0;
    int distinct = 0, teachers = 0;
    for (int64_t i = 0; i < w->n; i++) {
        const char *name = w->t[i].name;
        size_t ln = strlen(name);
        if (ln <= lk || strcmp(name + ln - lk, first_key) != 0 || name[ln - lk - 1] != '.') continue;
        size_t pl = ln - lk;
        if (found && found_len == pl && strncmp(found, name, pl) == 0) continue;
        if (!found) {
            found = name;
            found_len = pl;
        }
        distinct++;
        if (strncmp(name, "teacher.", 8) == 0 || (strstr(name, ".teacher.") && strstr(name, ".teacher.") < name + pl)) {
            teachers++;
            teacher = name;
            teacher_len = pl;
        }
    }
    if (distinct > 1 && teachers == 1) {
        found = teacher;
        found_len = teacher_len;
    } else if (distinct != 1) {
        return false; /* none, or ambiguous */
    }
    char *p = malloc(found_len + 1);
    if (!p) return false;
    memcpy(p, found, found_len);
    p[found_len] = 0;
    free(w->prefix);
    w->prefix = p;
    return true;
}

gc_status gc_weights_f32(gc_weights *w, const char *name, int ndim, const int64_t *shape,
                         const float **out) {
    gc_tensor_ref *r = find_mut(w, name);
    char a[160], b[160];
    if (!r)
        return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s%s'", w->label, gc_weights_prefix(w), name);
    bool ok = r->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == r->shape[i];
    if (!ok)
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' has shape %s, expected %s", w->label,
                         gc_weights_prefix(w), name, gc_shape_str(r->ndim, r->shape, a, sizeof a),
                         gc_shape_str(ndim, shape, b, sizeof b));
    switch (r->dtype) {
    case GC_DT_F64: case GC_DT_F32: case GC_DT_F16: case GC_DT_BF16: break;
    default:
        return gc_errorf(GC_ERR_SHAPE, "%s: tensor '%s%s' has dtype %s, expected a floating type",
                         w->label, gc_weights_prefix(w), name, gc_dtype_name(r->dtype));
    }
    if (r->dtype == GC_DT_F32 && ((uintptr_t)r->data % 4) == 0) {
        *out = r->data;
        return GC_OK;
    }
    if (!r->f32) {
        float *f = gc_alloc_array((size_t)(r->numel ? r->numel : 1), sizeof(float));
        if (!f) return gc_error_context(GC_ERR_NOMEM, "%s: tensor '%s'", w->label, r->name);
        gc_convert_to_f32(r->dtype, r->data, f, r->numel);
        r->f32 = f;
    }
    *out = r->f32;
    return GC_OK;
}

gc_status gc_weights_open_mapped(const char *path, gc_weights_parse_fn parse, gc_weights **out) {
    *out = NULL;
    void *map;
    size_t len;
    GC_TRY(gc_map_file(path, &map, &len));
    gc_status st = parse(path, map, len, out);
    if (st == GC_OK) st = gc_weights_add_backing(*out, map, len, gc_unmap_file);
    if (st != GC_OK) {
        gc_unmap_file(map, len);
        gc_weights_free(*out);
        *out = NULL;
    }
    return st;
}

gc_status gc_weights_open(const char *path, gc_weights **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (gc_dir_exists(path))
            return gc_errorf(GC_ERR_ARG, "%s: is a folder, expected a weights file", path);
        return gc_errorf(GC_ERR_IO, "%s: cannot open weights file", path);
    }
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && gc_torch_ckpt_magic(magic, 4)) return gc_torch_ckpt_open(path, out);
    /* other content under a torch extension: the checkpoint reader names the problem */
    const char *dot = strrchr(gc_basename(path), '.');
    if (dot && (strcasecmp(dot, ".pth") == 0 || strcasecmp(dot, ".pt") == 0 || strcasecmp(dot, ".ckpt") == 0))
        return gc_torch_ckpt_open(path, out);
    return gc_safetensors_open(path, out);
}
