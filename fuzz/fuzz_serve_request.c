/* libFuzzer target: the requests of `geocorr serve` (src/serve/request.c, compiled into this target): the
 * /api/match JSON body, and the same bytes as an /api/heatmap query string (key=value&... split here, as
 * libmicrohttpd hands the values over). Whatever parses must be a usable request: K points, all finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

typedef struct {
    char *keys[16], *vals[16];
    int n;
} query;

static const char *query_get(void *ctx, const char *key) {
    const query *q = ctx;
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->keys[i], key)) return q->vals[i];
    return NULL;
}

static void check(const serve_match_req *r) {
    if (r->K < 1 || r->K > SERVE_MAX_POINTS || !r->src[0] || !r->tgt[0]) abort();
    for (int64_t i = 0; i < 2 * r->K; i++)
        if (!isfinite(r->xy[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    serve_match_req r;
    if (serve_match_req_parse((const char *)data, size, &r) == GC_OK) {
        check(&r);
        serve_match_req_free(&r);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    query q = {.n = 0};
    for (char *save = NULL, *kv = strtok_r(text, "&", &save); kv && q.n < 16; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        q.keys[q.n] = kv, q.vals[q.n++] = eq + 1;
    }
    if (serve_heatmap_req_parse(query_get, &q, &r) == GC_OK) {
        check(&r);
        serve_match_req_free(&r);
    }
    free(text);
    return 0;
}
