/* The JSON API (docs/serve.md). /api/match answers with gc_match_json, the function that writes
 * `geocorr match --out`, on a result made by gc_match_run as the command makes it, so that the same
 * images, points and options give the same bytes; /api/heatmap uses the command's heat map function. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "cli/match_output.h"
#include "io/image.h"
#include "match/flip_table.h"
#include "serve/serve.h"

static void reply_text(serve_reply *r, int status, const char *type, char *text) {
    *r = (serve_reply){.status = status, .type = type, .body = (uint8_t *)text, .len = text ? strlen(text) : 0};
}

void serve_reply_error(serve_reply *r, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    reply_text(r, status, "application/json", text);
}

/* The HTTP status of a failure: the request's fault (400, 404 unknown image), or the server's. */
static void reply_status(serve_reply *r, gc_status s) {
    const int code = s == GC_ERR_MISSING ? 404 : s == GC_ERR_NOMEM ? 503 : s == GC_ERR_IO || s == GC_ERR_INTERNAL ? 500 : 400;
    serve_reply_error(r, code, "%s", gc_last_error());
}

void serve_api_info(serve_ctx *c, serve_reply *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", gc_version());
    cJSON_AddStringToObject(o, "recipe", serve_store_recipe(c->store));
    cJSON_AddBoolToObject(o, "postproc", serve_store_has_postproc(c->store));
    cJSON_AddNumberToObject(o, "max_upload_mb", (double)c->cfg->max_upload_mb);
    /* the built-in left/right tables: every SPair-71k category and ap10k */
    cJSON *cats = cJSON_AddArrayToObject(o, "categories");
    char *path = gc_data_path("flip_tables.json"), *text = NULL;
    size_t len;
    cJSON *t = path && gc_read_file(path, &text, &len, 1 << 20) == GC_OK ? cJSON_Parse(text) : NULL;
    const cJSON *spair = cJSON_GetObjectItemCaseSensitive(t, "spair");
    for (const cJSON *e = spair ? spair->child : NULL; e; e = e->next) cJSON_AddItemToArray(cats, cJSON_CreateString(e->string));
    if (cJSON_GetObjectItemCaseSensitive(t, "ap10k")) cJSON_AddItemToArray(cats, cJSON_CreateString("ap10k"));
    cJSON_Delete(t);
    free(text);
    free(path);
    gc_error_clear();
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    reply_text(r, json ? 200 : 503, "application/json", json);
}

void serve_api_images(serve_ctx *c, serve_reply *r) {
    char *json;
    if (serve_images_list_json(c->images, &json) != GC_OK) return reply_status(r, GC_ERR_NOMEM);
    reply_text(r, 200, "application/json", json);
}

void serve_api_image(serve_ctx *c, const char *name, serve_reply *r) {
    if (!name) return serve_reply_error(r, 400, "missing parameter 'name'");
    uint8_t *data;
    size_t len;
    const char *mime;
    gc_status s = serve_images_read(c->images, name, &data, &len, &mime);
    if (s != GC_OK) return reply_status(r, s);
    *r = (serve_reply){.status = 200, .type = mime, .body = data, .len = len};
}

void serve_api_upload(serve_ctx *c, const uint8_t *body, size_t len, const char *content_type, serve_reply *r) {
    char *name;
    gc_status s = serve_images_upload(c->images, body, len, content_type, &name);
    if (s != GC_OK) return serve_reply_error(r, s == GC_ERR_NOMEM ? 503 : 400, "%s", gc_last_error());
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(name);
    reply_text(r, json ? 200 : 503, "application/json", json);
}

/* One image of a request: its bytes' digest (the feature key) and pixels. */
typedef struct {
    uint8_t key[32];
    gc_image img;
} req_image;

static gc_status load_image(serve_ctx *c, const char *name, req_image *im) {
    uint8_t *data;
    size_t len;
    const char *mime;
    GC_TRY(serve_images_read(c->images, name, &data, &len, &mime));
    gc_sha256(data, len, im->key);
    gc_status s = gc_image_decode(data, len, name, &im->img);
    free(data);
    /* a listed file that no longer decodes is the request's problem to see, not a missing image */
    return s == GC_ERR_MISSING ? GC_ERR_FORMAT : s;
}

void serve_api_match(serve_ctx *c, const serve_match_req *rq, bool heatmap, serve_reply *r) {
    req_image si = {0}, ti = {0};
    serve_entry *src = NULL, *trg = NULL, *src_flip = NULL;
    gc_match_result res = {0};
    gc_status s = load_image(c, rq->src, &si);
    if (s == GC_OK) s = load_image(c, rq->tgt, &ti);
    for (int64_t k = 0; s == GC_OK && k < rq->K; k++) {
        const float x = rq->xy[2 * k], y = rq->xy[2 * k + 1];
        if (!(x >= 0 && y >= 0 && x < si.img.w && y < si.img.h))
            s = gc_errorf(GC_ERR_ARG, "point %lld (%g, %g) is outside the source image %s (%dx%d)", (long long)k, x, y, rq->src,
                          si.img.w, si.img.h);
    }
    if (s == GC_OK && rq->category[0]) { /* checked before any computation */
        gc_flip_table t;
        if ((s = gc_flip_table_builtin(rq->category, &t)) == GC_OK) gc_flip_table_free(&t);
        else s = gc_error_context(GC_ERR_ARG, "'category'");
    }
    if (s == GC_OK && rq->postproc && !serve_store_has_postproc(c->store))
        s = gc_errorf(GC_ERR_ARG, "'postproc': no post-processor loaded (start geocorr serve with --postproc P)");
    /* from here on a failure is the server's (models, memory), except what the matcher rejects */
    if (s != GC_OK) goto done;
    s = serve_store_get(c->store, si.key, rq->src, &si.img, 0, rq->postproc, &src);
    if (s == GC_OK) s = serve_store_get(c->store, ti.key, rq->tgt, &ti.img, 0, rq->postproc, &trg);
    if (s == GC_OK && strcmp(rq->align, "off") != 0) s = serve_store_get(c->store, si.key, rq->src, &si.img, 1, rq->postproc, &src_flip);
    if (s != GC_OK) {
        if (s != GC_ERR_NOMEM) s = GC_ERR_INTERNAL;
        goto done;
    }
    res = (gc_match_result){.src_name = rq->src, .tgt_name = rq->tgt, .src = &si.img, .tgt = &ti.img, .points = rq->xy};
    const gc_match_options mo = {.window = rq->window, .hard = rq->hard, .align = rq->align,
                                 .category = rq->category[0] ? rq->category : NULL};
    const gc_descriptors *dsf = src_flip ? serve_entry_desc(src_flip) : NULL;
    s = gc_match_run(&res, rq->K, serve_entry_desc(src), dsf, serve_entry_desc(trg), &mo);
    if (s == GC_OK && heatmap) {
        gc_image pic;
        uint8_t *png;
        size_t len;
        if ((s = gc_match_heatmap(&res, 0, serve_entry_desc(src), dsf, serve_entry_desc(trg), true, &pic)) == GC_OK) {
            s = gc_png_encode(pic.rgb, pic.w, pic.h, 3, "heat map", &png, &len);
            gc_image_free(&pic);
        }
        if (s == GC_OK) *r = (serve_reply){.status = 200, .type = "image/png", .body = png, .len = len};
    } else if (s == GC_OK) {
        char *json;
        if ((s = gc_match_json(&res, &json)) == GC_OK) reply_text(r, 200, "application/json", json);
    }
done:
    if (s != GC_OK) reply_status(r, s);
    gc_match_result_free(&res);
    serve_store_release(c->store, src);
    serve_store_release(c->store, trg);
    serve_store_release(c->store, src_flip);
    gc_image_free(&si.img);
    gc_image_free(&ti.img);
}
