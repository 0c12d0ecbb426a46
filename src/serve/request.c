/* The parameters of a matching request, from /api/match's JSON body or /api/heatmap's query string.
 * Untrusted input (fuzz/fuzz_serve_request.c): every field is checked for type and range, and the
 * message names the field. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

void serve_match_req_free(serve_match_req *r) {
    free(r->xy);
    r->xy = NULL;
    r->K = 0;
}

static void req_defaults(serve_match_req *r) {
    memset(r, 0, sizeof *r);
    strcpy(r->align, "auto");
    r->window = INT_MIN;
}

static gc_status copy_name(const char *field, const char *v, char *dst) {
    size_t n = strlen(v);
    if (n == 0) return gc_errorf(GC_ERR_ARG, "'%s' is empty: name an image of /api/images", field);
    if (n >= SERVE_MAX_NAME) return gc_errorf(GC_ERR_ARG, "'%s' is longer than %d bytes", field, SERVE_MAX_NAME - 1);
    memcpy(dst, v, n + 1);
    return GC_OK;
}

static gc_status set_category(const char *v, serve_match_req *r) {
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof r->category)
        return gc_errorf(GC_ERR_ARG, "'category' must be a category name (SPair-71k class or ap10k) of 1 to %d bytes, or null",
                         (int)sizeof r->category - 1);
    memcpy(r->category, v, n + 1);
    return GC_OK;
}

static gc_status set_align(const char *v, serve_match_req *r) {
    if (strcmp(v, "auto") && strcmp(v, "off") && strcmp(v, "flip"))
        return gc_errorf(GC_ERR_ARG, "'align' must be \"auto\", \"off\" or \"flip\"");
    strcpy(r->align, v);
    return GC_OK;
}

/* The range `geocorr match --window` accepts (the 60x60 grid). */
static gc_status set_window(double v, serve_match_req *r) {
    if (!(v >= -60 && v <= 60) || v != floor(v)) return gc_errorf(GC_ERR_ARG, "'window' must be an integer from -60 to 60, or null");
    r->window = (int)v;
    return GC_OK;
}

/* A pixel coordinate: finite as a float. */
static gc_status set_coord(const char *what, double v, float *out) {
    if (!isfinite(v) || !isfinite((float)v)) return gc_errorf(GC_ERR_ARG, "%s is not a finite number", what);
    *out = (float)v;
    return GC_OK;
}

static gc_status parse_points(const cJSON *p, serve_match_req *r) {
    if (!cJSON_IsArray(p)) return gc_errorf(GC_ERR_ARG, "'points' must be a list of [x, y] pairs");
    int n = cJSON_GetArraySize(p);
    if (n < 1 || n > SERVE_MAX_POINTS)
        return gc_errorf(GC_ERR_ARG, "'points' holds %d points; give 1 to %d", n, SERVE_MAX_POINTS);
    r->xy = malloc((size_t)n * 2 * sizeof(float));
    if (!r->xy) return gc_errorf(GC_ERR_NOMEM, "out of memory (points)");
    r->K = n;
    int k = 0;
    for (const cJSON *e = p->child; e; e = e->next, k++) {
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(e->child) || !cJSON_IsNumber(e->child->next))
            return gc_errorf(GC_ERR_ARG, "'points'[%d] must be [x, y] (two numbers)", k);
        char what[48];
        snprintf(what, sizeof what, "'points'[%d] x", k);
        GC_TRY(set_coord(what, e->child->valuedouble, &r->xy[2 * k]));
        snprintf(what, sizeof what, "'points'[%d] y", k);
        GC_TRY(set_coord(what, e->child->next->valuedouble, &r->xy[2 * k + 1]));
    }
    return GC_OK;
}

static const char *const k_fields[] = {"src", "tgt", "points", "category", "align", "window", "hard", "postproc"};

static gc_status parse_field(int i, const cJSON *f, serve_match_req *r) {
    const char *k = k_fields[i];
    switch (i) {
    case 0:
    case 1:
        if (!cJSON_IsString(f)) return gc_errorf(GC_ERR_ARG, "'%s' must be a string (an image name)", k);
        return copy_name(k, f->valuestring, i == 0 ? r->src : r->tgt);
    case 2: return parse_points(f, r);
    case 3:
        if (cJSON_IsNull(f)) return GC_OK;
        if (!cJSON_IsString(f)) return gc_errorf(GC_ERR_ARG, "'category' must be a string or null");
        return set_category(f->valuestring, r);
    case 4:
        if (!cJSON_IsString(f)) return gc_errorf(GC_ERR_ARG, "'align' must be \"auto\", \"off\" or \"flip\"");
        return set_align(f->valuestring, r);
    case 5:
        if (cJSON_IsNull(f)) return GC_OK;
        if (!cJSON_IsNumber(f)) return gc_errorf(GC_ERR_ARG, "'window' must be an integer from -60 to 60, or null");
        return set_window(f->valuedouble, r);
    default:
        if (!cJSON_IsBool(f)) return gc_errorf(GC_ERR_ARG, "'%s' must be true or false", k);
        *(i == 6 ? &r->hard : &r->postproc) = cJSON_IsTrue(f);
        return GC_OK;
    }
}

/* Each field once; an unknown one is an error (a misspelt option must not be ignored silently). */
static gc_status parse_fields(const cJSON *root, serve_match_req *r) {
    unsigned seen = 0;
    for (const cJSON *f = root->child; f; f = f->next) {
        int i = 0;
        while (i < (int)GC_COUNTOF(k_fields) && strcmp(f->string, k_fields[i]) != 0) i++;
        if (i == (int)GC_COUNTOF(k_fields))
            return gc_errorf(GC_ERR_ARG, "unknown field '%.64s' (fields: src, tgt, points, category, align, window, hard, postproc)",
                             f->string);
        if (seen & 1u << i) return gc_errorf(GC_ERR_ARG, "field '%s' given twice", k_fields[i]);
        seen |= 1u << i;
        GC_TRY(parse_field(i, f, r));
    }
    const char *missing = !(seen & 1) ? "src" : !(seen & 2) ? "tgt" : !(seen & 4) ? "points" : NULL;
    if (missing) return gc_errorf(GC_ERR_ARG, "missing field '%s'", missing);
    return GC_OK;
}

gc_status serve_match_req_parse(const char *body, size_t len, serve_match_req *r) {
    req_defaults(r);
    if (memchr(body, 0, len)) return gc_errorf(GC_ERR_ARG, "the body holds a NUL byte (expected a JSON object)");
    char *text = malloc(len + 1);
    if (!text) return gc_errorf(GC_ERR_NOMEM, "out of memory (request body)");
    memcpy(text, body, len);
    text[len] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    gc_status s = GC_OK;
    if (!root)
        s = gc_errorf(GC_ERR_ARG, "malformed JSON at byte %lld of %zu", (long long)(end ? end - text : 0), len);
    else if (!cJSON_IsObject(root))
        s = gc_errorf(GC_ERR_ARG, "the body must be a JSON object {\"src\", \"tgt\", \"points\", ...}");
    if (s == GC_OK) s = parse_fields(root, r);
    cJSON_Delete(root);
    free(text);
    if (s != GC_OK) serve_match_req_free(r);
    return s;
}

/* A query flag: true / false (or 1 / 0). */
static gc_status query_flag(const char *key, const char *v, bool *out) {
    if (!v) return GC_OK;
    if (!strcmp(v, "true") || !strcmp(v, "1")) *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0")) *out = false;
    else return gc_errorf(GC_ERR_ARG, "'%s' must be true or false", key);
    return GC_OK;
}

/* A whole query value as a number. */
static gc_status query_number(const char *key, const char *v, double *out) {
    if (!v || !*v) return gc_errorf(GC_ERR_ARG, "missing parameter '%s'", key);
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    if (*end || errno == ERANGE) return gc_errorf(GC_ERR_ARG, "'%s' is not a number", key);
    return GC_OK;
}

gc_status serve_heatmap_req_parse(const char *(*get)(void *ctx, const char *key), void *ctx, serve_match_req *r) {
    req_defaults(r);
    const char *src = get(ctx, "src"), *tgt = get(ctx, "tgt"), *cat = get(ctx, "category"), *align = get(ctx, "align"),
               *win = get(ctx, "window");
    if (!src) return gc_errorf(GC_ERR_ARG, "missing parameter 'src'");
    if (!tgt) return gc_errorf(GC_ERR_ARG, "missing parameter 'tgt'");
    GC_TRY(copy_name("src", src, r->src));
    GC_TRY(copy_name("tgt", tgt, r->tgt));
    double x, y;
    GC_TRY(query_number("x", get(ctx, "x"), &x));
    GC_TRY(query_number("y", get(ctx, "y"), &y));
    if (cat && *cat && strcmp(cat, "null") != 0) GC_TRY(set_category(cat, r));
    if (align) GC_TRY(set_align(align, r));
    if (win && *win && strcmp(win, "null") != 0) {
        double w;
        GC_TRY(query_number("window", win, &w));
        GC_TRY(set_window(w, r));
    }
    GC_TRY(query_flag("hard", get(ctx, "hard"), &r->hard));
    GC_TRY(query_flag("postproc", get(ctx, "postproc"), &r->postproc));
    float xy[2];
    GC_TRY(set_coord("'x'", x, &xy[0]));
    GC_TRY(set_coord("'y'", y, &xy[1]));
    if (!(r->xy = malloc(2 * sizeof(float)))) return gc_errorf(GC_ERR_NOMEM, "out of memory (point)");
    memcpy(r->xy, xy, sizeof xy);
    r->K = 1;
    return GC_OK;
}
