/* The HTTP side of `geocorr serve`, on libmicrohttpd: one thread per connection (a long feature
 * computation holds only its own request; store.c serialises computations), bodies gathered up to a
 * per-route limit (413 beyond it, decided from Content-Length before any byte is read when the client
 * sends one), routes matched exactly (assets by name from the embedded table, never a file path), and a
 * stop on SIGINT / SIGTERM that waits a bounded time for requests in progress. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"

#define MATCH_BODY_MAX (1u << 20) /* a /api/match body: SERVE_MAX_POINTS points take ~50 KB */
#define STOP_WAIT_S 3.0            /* SIGTERM: requests in progress get this long before the process exits (5 s in all) */

typedef enum { R_PAGE, R_STATIC, R_INFO, R_IMAGES, R_IMAGE, R_UPLOAD, R_MATCH, R_HEATMAP } route_id;
#define N_ROUTES (R_HEATMAP + 1)

static const struct {
    const char *path;
    bool post;
} k_routes[] = {
    [R_PAGE] = {"/", false},        [R_STATIC] = {"/static/", false}, [R_INFO] = {"/api/info", false},
    [R_IMAGES] = {"/api/images", false}, [R_IMAGE] = {"/api/image", false}, [R_UPLOAD] = {"/api/upload", true},
    [R_MATCH] = {"/api/match", true}, [R_HEATMAP] = {"/api/heatmap", false},
};

typedef struct {
    serve_ctx api;
    atomic_int active; /* requests between their first call and their completion */
} server;

/* One request in progress. */
typedef struct {
    route_id route;
    uint8_t *body;
    size_t len, cap, limit;
    bool too_big;
} request;

/* The route of a URL path, or -1. */
static int route_of(const char *url) {
    if (!strncmp(url, "/static/", 8)) return R_STATIC;
    for (int i = 0; i < N_ROUTES; i++)
        if (i != R_STATIC && !strcmp(url, k_routes[i].path)) return i;
    return -1;
}

/* allow: the methods of the route, for a 405 (NULL otherwise). */
static enum MHD_Result send_reply(struct MHD_Connection *conn, serve_reply *r, const char *allow) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* the page may use what this server gives and nothing else (no CDN, no other origin) */
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; object-src 'none'");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow) {
    serve_reply r;
    serve_reply_error(&r, status, "%s", msg);
    if (!r.body) return MHD_NO;
    return send_reply(conn, &r, allow);
}

static void asset_reply(const char *name, serve_reply *r) {
    for (int i = 0; i < serve_n_assets; i++)
        if (!strcmp(serve_assets[i].name, name)) {
            uint8_t *copy = malloc(serve_assets[i].len + 1);
            if (!copy) return serve_reply_error(r, 503, "out of memory");
            memcpy(copy, serve_assets[i].data, serve_assets[i].len);
            *r = (serve_reply){.status = 200, .type = serve_assets[i].type, .body = copy, .len = serve_assets[i].len};
            return;
        }
    serve_reply_error(r, 404, "no such file: /static/%.200s", name);
}

static const char *query_get(void *conn, const char *key) {
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* The whole request is here: answer it. */
static enum MHD_Result dispatch(server *sv, struct MHD_Connection *conn, const char *url, request *rq) {
    serve_reply r = {0};
    serve_ctx *c = &sv->api;
    if (rq->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes", rq->limit);
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
    }
    switch (rq->route) {
    case R_PAGE: asset_reply("index.html", &r); break;
    case R_STATIC: asset_reply(url + 8, &r); break;
    case R_INFO: serve_api_info(c, &r); break;
    case R_IMAGES: serve_api_images(c, &r); break;
    case R_IMAGE: serve_api_image(c, query_get(conn, "name"), &r); break;
    case R_UPLOAD: {
        const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        serve_api_upload(c, rq->body ? rq->body : (const uint8_t *)"", rq->len, type, &r);
        break;
    }
    case R_MATCH:
    case R_HEATMAP: {
        serve_match_req mr;
        gc_status s = rq->route == R_MATCH ? serve_match_req_parse(rq->body ? (const char *)rq->body : "", rq->len, &mr)
                                           : serve_heatmap_req_parse(query_get, conn, &mr);
        if (s != GC_OK) {
            serve_reply_error(&r, 400, "%s", gc_last_error());
            break;
        }
        serve_api_match(c, &mr, rq->route == R_HEATMAP, &r);
        serve_match_req_free(&mr);
        break;
    }
    }
    if (!r.body) return MHD_NO;
    return send_reply(conn, &r, NULL);
}

/* Gather a body chunk (beyond the limit: dropped, and the answer is 413). */
static void take_body(request *rq, const char *data, size_t n) {
    if (n == 0) return;
    if (rq->too_big || n > rq->limit - rq->len) {
        rq->too_big = true;
        return;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 64 << 10;
        while (cap < rq->len + n) cap *= 2;
        uint8_t *b = realloc(rq->body, GC_MIN(cap, rq->limit));
        if (!b) {
            rq->too_big = true; /* answered 413: the body cannot be held */
            return;
        }
        rq->body = b, rq->cap = GC_MIN(cap, rq->limit);
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    server *sv = cls;
    request *rq = *con_cls;
    if (!rq) { /* first call: the headers are in, no body byte has been read */
        const bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
        const bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
        const int route = route_of(url);
        if (route < 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "no such page: %.200s", url);
            return send_error(conn, MHD_HTTP_NOT_FOUND, msg, NULL);
        }
        if (!(k_routes[route].post ? post : get)) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s %s: method not allowed (use %s)", method, k_routes[route].path,
                     k_routes[route].post ? "POST" : "GET");
            return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, msg, k_routes[route].post ? "POST" : "GET, HEAD");
        }
        const size_t limit = route == R_UPLOAD ? (size_t)sv->api.cfg->max_upload_mb << 20 : route == R_MATCH ? MATCH_BODY_MAX : 0;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (post && cl && strtoull(cl, NULL, 10) > limit) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body of %.20s bytes: the limit is %zu bytes", cl, limit);
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
        }
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->route = (route_id)route;
        rq->limit = limit;
        *con_cls = rq;
        atomic_fetch_add(&sv->active, 1);
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body chunk (a GET's body is read and dropped) */
        take_body(rq, upload_data, rq->limit ? *upload_data_size : 0);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(sv, conn, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *sv = cls;
    request *rq = *con_cls;
    if (!rq) return;
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&sv->active, 1);
}

/* libmicrohttpd's own complaints (a client that vanished, ...) go to stderr, one line each. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    fputs("geocorr serve: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* The write end receives the number of a stop signal (write() is async-signal-safe). */
static int g_stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
    const int saved = errno;
    if (write(g_stop_pipe[1], &sig, sizeof sig) < 0) {
        /* the pipe holds 64 KiB of signals: a write can only fail once the server is stopping anyway */
    }
    errno = saved;
}

static bool is_loopback(const struct sockaddr *a) {
    if (a->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

static gc_status resolve(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int e = getaddrinfo(host, ps, &hints, &res);
    if (e) return gc_errorf(GC_ERR_ARG, "--host %s: not a numeric IPv4 or IPv6 address (%s)", host, gai_strerror(e));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return GC_OK;
}

gc_status gc_serve_run(const gc_serve_config *cfg) {
    if (cfg->port < 0 || cfg->port > 65535) return gc_errorf(GC_ERR_ARG, "--port %d: expected 0 to 65535", cfg->port);
    if (cfg->max_upload_mb < 1 || cfg->max_upload_mb > 1024)
        return gc_errorf(GC_ERR_ARG, "--max-upload-mb %lld: expected 1 to 1024", (long long)cfg->max_upload_mb);
    if (cfg->memory_mb < 1 || cfg->memory_mb > (1ll << 30))
        return gc_errorf(GC_ERR_ARG, "--memory-mb %lld: expected 1 to 2^30", (long long)cfg->memory_mb);
    struct sockaddr_storage addr;
    socklen_t alen;
    GC_TRY(resolve(cfg->host, cfg->port, &addr, &alen));
    if (!is_loopback((struct sockaddr *)&addr))
        fprintf(stderr, "geocorr serve: WARNING: --host %s is not a loopback address: anyone who can reach it can use this "
                        "server and read every image under --images\n", cfg->host);
    /* Every connection is a thread, and glibc gives concurrent threads their own malloc arenas. Its dynamic
     * mmap threshold rises to the size of the largest mmapped block freed (up to 32 MiB): from then on a
     * match's or a heat map's large buffers come from the arenas, and each arena keeps up to twice that at
     * its top, untrimmed. The resident size then follows how many threads happened to overlap (how loaded
     * the machine is), not what the server holds: with the tiny DINOv2, 145-220 MiB, up to 57 MiB more
     * after 200 requests that followed a warm-up (tests/serve/test_serve_api.py test_load), one arena of
     * ~15 MiB resident per thread that ever overlapped. A fixed threshold (glibc's initial 128 KiB; setting
     * it turns the dynamic one off) maps every large buffer on its own and unmaps it when freed. (Under
     * ASan, whose allocator is its own, this is a no-op.) */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    server sv = {.api = {.cfg = cfg}};
    atomic_init(&sv.active, 0);
    gc_status s = serve_images_scan(cfg->images_dir, (size_t)cfg->max_upload_mb << 20, &sv.api.images);
    if (s == GC_OK) s = serve_store_init(cfg, &sv.api.store);
    /* SIGINT / SIGTERM from now on (while loading, their default action is the right one): a handler writes
     * the signal to a pipe this thread waits on. Blocking them for sigwait would not do: the system BLAS
     * (OpenBLAS under Debian's alternatives, linked for the pose test's co-PCA) starts its threads before
     * main, with the signals open, and the kernel may hand a process signal to any thread. A client that
     * goes away must not kill the process (SIGPIPE). */
    if (s == GC_OK && pipe(g_stop_pipe) != 0) s = gc_errorf(GC_ERR_IO, "serve: pipe: %s", strerror(errno));
    if (s == GC_OK) {
        struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
    }
    struct MHD_Daemon *d = NULL;
    if (s == GC_OK) {
        const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                               MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, &sv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
                             NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &sv,
                             MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
        if (!d) s = gc_errorf(GC_ERR_IO, "cannot listen on %s port %d (in use? %s)", cfg->host, cfg->port, strerror(errno));
    }
    if (s == GC_OK) {
        const union MHD_DaemonInfo *pi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char url[128];
        snprintf(url, sizeof url, addr.ss_family == AF_INET6 ? "http://[%s]:%u/" : "http://%s:%u/", cfg->host,
                 pi ? pi->port : (unsigned)cfg->port);
        printf("geocorr serve: %s\n", url);
        fflush(stdout);
        int sig = 0;
        while (read(g_stop_pipe[0], &sig, sizeof sig) != (ssize_t)sizeof sig && errno == EINTR) {
        }
        fprintf(stderr, "geocorr serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        const MHD_socket lfd = MHD_quiesce_daemon(d); /* no new connections (the socket is ours to close) */
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        const double t0 = gc_now();
        while (atomic_load(&sv.active) > 0 && gc_now() - t0 < STOP_WAIT_S) nanosleep(&(struct timespec){0, 20000000}, NULL);
        if (atomic_load(&sv.active) > 0) {
            /* a computation cannot be interrupted: leave it (cache files are written atomically) */
            fprintf(stderr, "geocorr serve: %d request(s) still computing after %.0f s: exiting without them\n",
                    atomic_load(&sv.active), STOP_WAIT_S);
            fflush(stderr);
            _exit(0);
        }
    }
    if (d) MHD_stop_daemon(d);
    serve_store_free(sv.api.store);
    serve_images_free(sv.api.images);
    if (g_stop_pipe[0] >= 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(g_stop_pipe[0]);
        close(g_stop_pipe[1]);
        g_stop_pipe[0] = g_stop_pipe[1] = -1;
    }
    return s;
}
