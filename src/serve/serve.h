/* `geocorr serve`: a local web page to click a point and see its match (docs/serve.md). The parts, one
 * concern per file:
 *   request.c  the requests' parameters (the /api/match body, the /api/heatmap query) -> serve_match_req
 *   images.c   the images the page may name: the files under --images plus uploads; names, never paths
 *   store.c    models loaded once; descriptors per image content (LRU under a memory budget, --cache)
 *   api.c      the JSON API on top of those (and the match output functions of `geocorr match`)
 *   http.c     libmicrohttpd: routing, body limits, the embedded page, signals
 * Built into the geocorr binary only (src/cli/cmd_serve.c parses the command line); the library does
 * not depend on libmicrohttpd. */
#ifndef GC_SERVE_H
#define GC_SERVE_H

#include <pthread.h>
#include <stdbool.h>

#include "base/base.h"

typedef struct {
    gc_features_config models; /* as `geocorr features` takes them */
    const char *postproc;      /* the post-processor (the page's toggle), or NULL */
    const char *images_dir;    /* the images listed, or NULL: uploads only */
    const char *host;          /* numeric address to bind ("127.0.0.1") */
    int port;                  /* 0: any free port (the URL printed says which) */
    const char *cache_dir;     /* on-disk feature cache (extract's file format), or NULL */
    int64_t max_upload_mb;     /* largest upload */
    int64_t memory_mb;         /* features and descriptors kept in memory */
} gc_serve_config;

/* Serve until SIGINT or SIGTERM; GC_OK on such a stop. */
gc_status gc_serve_run(const gc_serve_config *cfg);

/* ---- request.c ---- */

#define SERVE_MAX_POINTS 1000
#define SERVE_MAX_NAME 1024

/* One matching request: /api/match's JSON body or /api/heatmap's query (one point). */
typedef struct {
    char src[SERVE_MAX_NAME], tgt[SERVE_MAX_NAME]; /* image names as /api/images lists them */
    float *xy;                                     /* [K,2] source pixels (malloc) */
    int64_t K;
    char category[64];                             /* "" = none */
    char align[8];                                 /* "auto" | "off" | "flip" */
    int window;                                    /* INT_MIN: by descriptor, as `geocorr match` */
    bool hard, postproc;
} serve_match_req;

/* The /api/match body: {"src", "tgt", "points": [[x, y], ...], "category": str|null, "align", "window",
 * "hard", "postproc"} (the last five optional). GC_ERR_ARG with a message naming the field at fault. */
gc_status serve_match_req_parse(const char *body, size_t len, serve_match_req *r);
/* The /api/heatmap query: src, tgt, x, y and the optional category, align, window, hard, postproc (as
 * strings; "true"/"false" for the flags). get(ctx, key) returns a parameter's value or NULL. */
gc_status serve_heatmap_req_parse(const char *(*get)(void *ctx, const char *key), void *ctx, serve_match_req *r);
void serve_match_req_free(serve_match_req *r);

/* ---- images.c ---- */

typedef struct serve_images serve_images;

/* The JPEG and PNG files under dir (recursive; hidden entries, links that leave dir and unreadable headers
 * skipped, each with a line on stderr), dir NULL: none; uploads: at most max_upload bytes each. */
gc_status serve_images_scan(const char *dir, size_t max_upload, serve_images **out);
void serve_images_free(serve_images *s);
/* {"images": [{"name", "w", "h"}, ...]}: the files sorted by name, then the uploads in upload order. */
gc_status serve_images_list_json(serve_images *s, char **json);
/* The bytes of a listed image (*data: free()); GC_ERR_MISSING for a name not listed (or a file that has
 * become a link out of the folder). */
gc_status serve_images_read(serve_images *s, const char *name, uint8_t **data, size_t *len, const char **mime);
/* Keep an uploaded image: content_type must be image/jpeg or image/png and agree with the bytes, which
 * must decode (GC_ERR_FORMAT / GC_ERR_ARG with the decoder's message). *name: "upload/<sha256 prefix>.<ext>"
 * (malloc). The oldest uploads are dropped beyond a total of SERVE_UPLOADS_MB. */
#define SERVE_UPLOADS_MB 512
gc_status serve_images_upload(serve_images *s, const void *data, size_t len, const char *content_type, char **name);

/* ---- store.c ---- */

typedef struct serve_store serve_store;
typedef struct serve_entry serve_entry;

/* Load the models (and the post-processor) once. */
gc_status serve_store_init(const gc_serve_config *cfg, serve_store **out);
void serve_store_free(serve_store *st);
bool serve_store_has_postproc(const serve_store *st);
/* The descriptor recipe of the zero-shot side: "dino" (DINOv2 alone) or "zeroshot" (SD + DINOv2). */
const char *serve_store_recipe(const serve_store *st);
/* The descriptor of image `img` (content digest `key`, `name` for messages and the cache metadata) in
 * orientation flip, zero-shot or post-processed: from memory, else the disk cache, else computed (one
 * computation at a time; other requests wait for it). Held until serve_store_release. */
gc_status serve_store_get(serve_store *st, const uint8_t key[32], const char *name, const gc_image *img, int flip,
                          bool postproc, serve_entry **held);
const gc_descriptors *serve_entry_desc(const serve_entry *e);
void serve_store_release(serve_store *st, serve_entry *e);

/* ---- the page: web/ embedded at build time (cmake/embed_assets.cmake -> serve_assets.c) ---- */

typedef struct {
    const char *name; /* file name under web/ ("index.html", "app.js", ...) */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} serve_asset;
extern const serve_asset serve_assets[];
extern const int serve_n_assets;

/* ---- api.c ---- */

typedef struct {
    serve_images *images;
    serve_store *store;
    const gc_serve_config *cfg;
} serve_ctx;

/* One answer: status, content type, body (malloc'd). */
typedef struct {
    int status;
    const char *type;
    uint8_t *body;
    size_t len;
} serve_reply;

void serve_reply_error(serve_reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void serve_api_info(serve_ctx *c, serve_reply *r);
void serve_api_images(serve_ctx *c, serve_reply *r);
void serve_api_image(serve_ctx *c, const char *name, serve_reply *r);
void serve_api_upload(serve_ctx *c, const uint8_t *body, size_t len, const char *content_type, serve_reply *r);
void serve_api_match(serve_ctx *c, const serve_match_req *rq, bool heatmap, serve_reply *r);

#endif
