/* safetensors reader. Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * section. Everything in the header is untrusted: lengths, JSON, dtypes, shapes and byte spans are
 * all checked before a single tensor is exposed. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

typedef struct {
    int64_t begin, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool json_uint(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v) return false;
    *out = (int64_t)v;
    return true;
}

static gc_status parse_header(gc_weights *w, const char *label, const char *hdr, size_t hlen,
                              const unsigned char *data, size_t dlen) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: safetensors header is not valid JSON", label);
    for (const char *p = end; p && p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            return gc_errorf(GC_ERR_FORMAT, "%s: safetensors header has trailing bytes after the JSON", label);
        }
    gc_status st = GC_OK;
    span *spans = NULL;
    int64_t nspans = 0;
    if (!cJSON_IsObject(root)) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: safetensors header is not a JSON object", label);
        goto done;
    }
    int count = cJSON_GetArraySize(root);
    spans = calloc((size_t)count + 1, sizeof *spans);
    if (!spans) {
        st = gc_errorf(GC_ERR_NOMEM, "%s: out of memory", label);
        goto done;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string;
        if (!name) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: header entry without a name", label);
            goto done;
        }
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                st = gc_errorf(GC_ERR_FORMAT, "%s: __metadata__ is not an object", label);
                goto done;
            }
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    st = gc_errorf(GC_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string", label,
                                   m->string ? m->string : "?");
                    goto done;
                }
                if ((st = gc_weights_set_meta(w, m->string, m->valuestring)) != GC_OK) goto done;
            }
            continue;
        }
        if (!cJSON_IsObject(it)) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", label, name);
            goto done;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo)) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': needs string 'dtype', array 'shape' and "
                           "array 'data_offsets'", label, name);
            goto done;
        }
        int dt = gc_dtype_parse(jd->valuestring);
        if (dt < 0) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", label, name, jd->valuestring);
            goto done;
        }
        int ndim = cJSON_GetArraySize(js);
        if (ndim > GC_MAX_DIMS) {
            st = gc_errorf(GC_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d)", label, name,
                           ndim, GC_MAX_DIMS);
            goto done;
        }
        int64_t shape[GC_MAX_DIMS], numel = 1;
        int k = 0;
        for (const cJSON *d = js->child; d; d = d->next, k++) {
            if (!json_uint(d, &shape[k]) || !gc_mul_ok(numel, shape[k], &numel)) {
                st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a valid size", label,
                               name, k);
                goto done;
            }
        }
        int64_t b, e, nbytes;
        if (cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &b) || !json_uint(jo->child->next, &e)) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': data_offsets must be two non-negative integers",
                           label, name);
            goto done;
        }
        if (!gc_mul_ok(numel, (int64_t)gc_dtype_size((gc_dtype)dt), &nbytes) || b > e || e - b != nbytes) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': byte span [%lld, %lld) does not match shape x "
                           "%s size", label, name, (long long)b, (long long)e, jd->valuestring);
            goto done;
        }
        if ((uint64_t)e > dlen) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s': byte span [%lld, %lld) lies beyond the %zu-byte "
                           "data section (file truncated?)", label, name, (long long)b, (long long)e, dlen);
            goto done;
        }
        spans[nspans++] = (span){b, e, name};
        if ((st = gc_weights_add(w, name, (gc_dtype)dt, ndim, shape, data + b)) != GC_OK) goto done;
    }
    if (nspans > 1) qsort(spans, (size_t)nspans, sizeof *spans, cmp_span);
    for (int64_t i = 1; i < nspans; i++)
        if (spans[i].begin < spans[i - 1].end && spans[i].begin < spans[i].end) {
            st = gc_errorf(GC_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", label,
                           spans[i - 1].name, spans[i].name);
            goto done;
        }
    st = gc_weights_finalize(w);
done:
    free(spans);
    cJSON_Delete(root);
    return st;
}

gc_status gc_safetensors_parse(const char *label, const void *buf, size_t len, gc_weights **out) {
    *out = NULL;
    const unsigned char *p = buf;
    if (len < 8)
        return gc_errorf(GC_ERR_FORMAT, "%s: too short for a safetensors file (%zu bytes)", label, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
    if (n > GC_ST_MAX_HEADER)
        return gc_errorf(GC_ERR_FORMAT, "%s: safetensors header length %llu exceeds the 100 MB limit "
                         "(not a safetensors file?)", label, (unsigned long long)n);
    if (n > len - 8)
        return gc_errorf(GC_ERR_FORMAT, "%s: safetensors header length %llu runs past the end of the "
                         "%zu-byte file (truncated?)", label, (unsigned long long)n, len);
    if (n < 2) return gc_errorf(GC_ERR_FORMAT, "%s: safetensors header is empty", label);
    gc_weights *w = gc_weights_new(label);
    if (!w) return GC_ERR_NOMEM;
    gc_status st = parse_header(w, label, (const char *)p + 8, (size_t)n, p + 8 + n, len - 8 - (size_t)n);
    if (st != GC_OK) {
        gc_weights_free(w);
        return st;
    }
    *out = w;
    return GC_OK;
}

gc_status gc_safetensors_open(const char *path, gc_weights **out) {
    return gc_weights_open_mapped(path, gc_safetensors_parse, out);
}
