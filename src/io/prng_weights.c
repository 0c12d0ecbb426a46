#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/prng_weights.h"

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001B3ull;
    }
    return h;
}

void gc_prng_fill(const char *name, uint64_t seed, double offset, double scale, float *out, int64_t n) {
    uint64_t key = fnv1a64(name) ^ (seed * 0x9E3779B97F4A7C15ull);
    /* every element depends on its index only: threads give the same bytes (SD-1.5: 944M values) */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        double u = (double)(z >> 40) * (1.0 / 16777216.0);
        out[i] = (float)(offset + scale * (2.0 * u - 1.0));
    }
}

static gc_status add_entry(gc_weights *w, const char *path, const cJSON *e, const char *key_field,
                           const char *out_name, uint64_t seed) {
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(e, key_field);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "offset");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(e, "scale");
    const cJSON *jseed = cJSON_GetObjectItemCaseSensitive(e, "seed");
    const cJSON *jinit = cJSON_GetObjectItemCaseSensitive(e, "init_value");
    if (!cJSON_IsString(jn) || !cJSON_IsArray(js) ||
        (!cJSON_IsNumber(jinit) && (!cJSON_IsNumber(jo) || !cJSON_IsNumber(jc))))
        return gc_errorf(GC_ERR_FORMAT, "%s: manifest entry lacks %s/shape/offset/scale", path, key_field);
    if (cJSON_IsNumber(jseed)) seed = (uint64_t)jseed->valuedouble;
    int ndim = cJSON_GetArraySize(js);
    if (ndim > GC_MAX_DIMS) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' has too many dims", path, jn->valuestring);
    int64_t shape[GC_MAX_DIMS], numel = 1;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || !gc_mul_ok(numel, (int64_t)d->valuedouble, &numel))
            return gc_errorf(GC_ERR_FORMAT, "%s: '%s' has a bad shape", path, jn->valuestring);
        shape[k] = (int64_t)d->valuedouble;
    }
    float *data = gc_alloc_array((size_t)(numel ? numel : 1), sizeof(float));
    if (!data) return GC_ERR_NOMEM;
    if (cJSON_IsNumber(jinit)) { /* a value the module's __init__ sets, kept as is */
        for (int64_t i = 0; i < numel; i++) data[i] = (float)jinit->valuedouble;
    } else { /* the stream is keyed by the manifest name (for SD: the LDM name without prefix) */
        gc_prng_fill(jn->valuestring, seed, jo->valuedouble, jc->valuedouble, data, numel);
    }
    return gc_weights_add_owned_f32(w, out_name ? out_name : jn->valuestring, ndim, shape, data);
}

static gc_status add_sd_list(gc_weights *w, const char *path, const cJSON *root, const char *list,
                             const char *seed_key, const char *naming, const char *ldm_prefix,
                             const char *diff_prefix) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, seed_key);
    if (!arr) return GC_OK;
    if (!cJSON_IsArray(arr) || !cJSON_IsNumber(js))
        return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a list with a numeric '%s'", path, list, seed_key);
    bool diffusers = strcmp(naming, "diffusers") == 0;
    for (const cJSON *e = arr->child; e; e = e->next) {
        const cJSON *jn = cJSON_GetObjectItemCaseSensitive(e, diffusers ? "diffusers" : "ldm");
        if (!cJSON_IsString(jn)) {
            if (diffusers) continue; /* tensors with no diffusers counterpart */
            return gc_errorf(GC_ERR_FORMAT, "%s: '%s' entry without an ldm name", path, list);
        }
        char *name = gc_strfmt("%s%s", diffusers ? diff_prefix : ldm_prefix, jn->valuestring);
        if (!name) return GC_ERR_NOMEM;
        gc_status st = add_entry(w, path, e, "ldm", name, (uint64_t)js->valuedouble);
        free(name);
        if (st != GC_OK) return st;
    }
    return GC_OK;
}

gc_status gc_prng_weights_from_manifest(const char *path, const char *naming, gc_weights **out) {
    *out = NULL;
    char *text;
    GC_TRY(gc_read_file(path, &text, NULL, 64u << 20));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return gc_errorf(GC_ERR_FORMAT, "%s: not valid JSON", path);
    gc_weights *w = gc_weights_new(path);
    gc_status st = w ? GC_OK : GC_ERR_NOMEM;
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
    if (!tensors) tensors = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (st == GC_OK && cJSON_IsArray(tensors)) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "seed");
        if (!cJSON_IsNumber(js)) st = gc_errorf(GC_ERR_FORMAT, "%s: no numeric 'seed'", path);
        for (const cJSON *e = tensors->child; st == GC_OK && e; e = e->next)
            st = add_entry(w, path, e, "name", NULL, (uint64_t)js->valuedouble);
    } else if (st == GC_OK && (cJSON_GetObjectItemCaseSensitive(root, "unet") ||
                               cJSON_GetObjectItemCaseSensitive(root, "vae"))) {
        const char *nm = naming ? naming : "ldm";
        if (strcmp(nm, "ldm") != 0 && strcmp(nm, "diffusers") != 0)
            st = gc_errorf(GC_ERR_ARG, "%s: naming must be 'ldm' or 'diffusers'", path);
        if (st == GC_OK)
            st = add_sd_list(w, path, root, "unet", "seed_unet", nm, "model.diffusion_model.", "unet.");
        if (st == GC_OK)
            st = add_sd_list(w, path, root, "vae", "seed_vae", nm, "first_stage_model.", "vae.");
    } else if (st == GC_OK) {
        st = gc_errorf(GC_ERR_FORMAT, "%s: not a weights manifest (no 'tensors', 'unet' or 'vae')", path);
    }
    cJSON_Delete(root);
    if (st == GC_OK) st = gc_weights_finalize(w);
    if (st != GC_OK) {
        gc_weights_free(w);
        return st;
    }
    *out = w;
    return GC_OK;
}
