/* The images the page may name. A request names an image; it never gives a path: the name is looked up
 * in the list made at start (the JPEG / PNG files under --images) or among the uploads, and only then is
 * a file opened, after checking that its real path is still inside the folder (a file replaced by a
 * link out of it is refused). Uploads live in memory, identified by their content. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "io/image.h"
#include "serve/serve.h"

/* Largest image file served or matched (a JPEG of Pillow's pixel limit is far smaller). */
#define SERVE_MAX_FILE (256u << 20)

typedef struct {
    char *name;      /* as listed: "cat/a.jpg", "upload/0123abcd4567ef89.png" */
    char *path;      /* files: <dir>/<name>; uploads: NULL */
    uint8_t *data;   /* uploads: the bytes */
    size_t len;
    int32_t w, h;
    const char *mime;
} image_item;

struct serve_images {
    char *root;              /* realpath of --images (NULL: none) */
    image_item *files;       /* sorted by name */
    int n_files, cap_files;
    pthread_mutex_t lock;    /* guards the uploads */
    image_item *uploads;     /* in upload order */
    int n_uploads, cap_uploads;
    size_t upload_bytes, max_upload;
};

static const char *mime_of(const uint8_t *p, size_t len) {
    return len >= 2 && p[0] == 0xff && p[1] == 0xd8 ? "image/jpeg" : "image/png";
}

static bool has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Names travel in JSON and URLs: printable, no backslashes or quotes that a page would have to escape twice. */
static bool name_ok(const char *name) {
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\') return false;
    return true;
}

/* Is the real path p inside root (root itself excluded)? */
static bool inside(const char *root, const char *p) {
    size_t n = strlen(root);
    return strncmp(p, root, n) == 0 && p[n] == '/';
}

/* Read a regular file whose real path lies inside root, without following a link at the last step. */
static gc_status read_inside(const char *root, const char *path, const char *name, uint8_t **data, size_t *len) {
    *data = NULL;
    *len = 0;
    char real[PATH_MAX];
    if (!realpath(path, real) || !inside(root, real))
        return gc_errorf(GC_ERR_MISSING, "unknown image '%s'", name);
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return gc_errorf(GC_ERR_MISSING, "unknown image '%s'", name);
    }
    if ((uint64_t)sb.st_size > SERVE_MAX_FILE) {
        close(fd);
        return gc_errorf(GC_ERR_REFUSED, "image '%s' is larger than %u MiB", name, SERVE_MAX_FILE >> 20);
    }
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) return gc_errorf(GC_ERR_NOMEM, "out of memory reading image '%s'", name);
    if (got != (size_t)sb.st_size) {
        free(buf);
        return gc_errorf(GC_ERR_IO, "image '%s': read error", name);
    }
    *data = buf;
    *len = got;
    return GC_OK;
}

static gc_status add_file(serve_images *s, const char *rel, const char *path) {
    uint8_t *data;
    size_t len;
    int32_t w, h;
    if (read_inside(s->root, path, rel, &data, &len) != GC_OK) {
        fprintf(stderr, "geocorr serve: skipping %s: %s\n", path, gc_last_error());
        return GC_OK;
    }
    gc_status st = gc_image_size(data, len, path, &w, &h);
    const char *mime = mime_of(data, len);
    free(data);
    if (st != GC_OK) {
        fprintf(stderr, "geocorr serve: skipping %s\n", gc_last_error());
        return GC_OK;
    }
    if (s->n_files == s->cap_files) {
        int cap = s->cap_files ? 2 * s->cap_files : 64;
        image_item *v = realloc(s->files, (size_t)cap * sizeof *v);
        if (!v) return gc_errorf(GC_ERR_NOMEM, "out of memory (image list)");
        s->files = v, s->cap_files = cap;
    }
    image_item *it = &s->files[s->n_files];
    *it = (image_item){.name = gc_strdup(rel), .path = gc_strdup(path), .w = w, .h = h, .mime = mime};
    if (!it->name || !it->path) return free(it->name), free(it->path), gc_errorf(GC_ERR_NOMEM, "out of memory");
    s->n_files++;
    return GC_OK;
}

/* Walk dir/rel: folders are entered only when they are real folders (links to folders are not followed, so
 * no loops and no escapes); files may be links, kept when their target is inside the root. */
static gc_status scan_dir(serve_images *s, const char *dir, const char *rel, int depth) {
    if (depth > 32) return GC_OK;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "geocorr serve: cannot read folder %s: %s\n", dir, strerror(errno));
        return GC_OK;
    }
    gc_status st = GC_OK;
    struct dirent *e;
    while (st == GC_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = gc_strfmt("%s/%s", dir, e->d_name), *name = rel ? gc_strfmt("%s/%s", rel, e->d_name) : gc_strdup(e->d_name);
        struct stat sb;
        if (!path || !name) st = gc_errorf(GC_ERR_NOMEM, "out of memory");
        else if (lstat(path, &sb) != 0 || !name_ok(name) || strlen(name) >= SERVE_MAX_NAME) {
            /* vanished, or a name the API cannot carry */
        } else if (S_ISDIR(sb.st_mode)) {
            st = scan_dir(s, path, name, depth + 1);
        } else if ((S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) && has_image_ext(name)) {
            st = add_file(s, name, path);
        }
        free(path);
        free(name);
    }
    closedir(d);
    return st;
}

static int cmp_item(const void *a, const void *b) { return strcmp(((const image_item *)a)->name, ((const image_item *)b)->name); }

gc_status serve_images_scan(const char *dir, size_t max_upload, serve_images **out) {
    *out = NULL;
    serve_images *s = calloc(1, sizeof *s);
    if (!s) return gc_errorf(GC_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->max_upload = max_upload;
    gc_status st = GC_OK;
    if (dir) {
        char real[PATH_MAX];
        if (!realpath(dir, real) || !gc_dir_exists(real)) st = gc_errorf(GC_ERR_ARG, "--images %s: not a folder", dir);
        else if (!(s->root = gc_strdup(real))) st = GC_ERR_NOMEM;
        else st = scan_dir(s, s->root, NULL, 0);
    }
    if (st != GC_OK) return serve_images_free(s), st;
    if (s->n_files) qsort(s->files, (size_t)s->n_files, sizeof *s->files, cmp_item);
    if (dir) fprintf(stderr, "geocorr serve: %d image(s) under %s\n", s->n_files, s->root);
    *out = s;
    return GC_OK;
}

static void item_free(image_item *it) {
    free(it->name);
    free(it->path);
    free(it->data);
}

void serve_images_free(serve_images *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) item_free(&s->files[i]);
    for (int i = 0; i < s->n_uploads; i++) item_free(&s->uploads[i]);
    free(s->files);
    free(s->uploads);
    free(s->root);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void list_add(cJSON *arr, const image_item *it) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", it->name);
    cJSON_AddNumberToObject(o, "w", it->w);
    cJSON_AddNumberToObject(o, "h", it->h);
    cJSON_AddItemToArray(arr, o);
}

gc_status serve_images_list_json(serve_images *s, char **json) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "images");
    for (int i = 0; i < s->n_files; i++) list_add(arr, &s->files[i]);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_uploads; i++) list_add(arr, &s->uploads[i]);
    pthread_mutex_unlock(&s->lock);
    *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return *json ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory (image list)");
}

gc_status serve_images_read(serve_images *s, const char *name, uint8_t **data, size_t *len, const char **mime) {
    const image_item key = {.name = (char *)name};
    const image_item *f = s->n_files ? bsearch(&key, s->files, (size_t)s->n_files, sizeof *s->files, cmp_item) : NULL;
    if (f) {
        GC_TRY(read_inside(s->root, f->path, name, data, len));
        *mime = mime_of(*data, *len);
        return GC_OK;
    }
    gc_status st = gc_errorf(GC_ERR_MISSING, "unknown image '%s'", name);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_uploads; i++)
        if (!strcmp(s->uploads[i].name, name)) {
            const image_item *u = &s->uploads[i];
            *data = malloc(u->len);
            st = *data ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory");
            if (st == GC_OK) memcpy(*data, u->data, u->len), *len = u->len, *mime = u->mime;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    return st;
}

gc_status serve_images_upload(serve_images *s, const void *data, size_t len, const char *content_type, char **name) {
    *name = NULL;
    if (!content_type || (strcmp(content_type, "image/jpeg") != 0 && strcmp(content_type, "image/png") != 0))
        return gc_errorf(GC_ERR_ARG, "Content-Type '%s': upload an image/jpeg or image/png body",
                         content_type ? content_type : "(none)");
    if (len > s->max_upload) return gc_errorf(GC_ERR_REFUSED, "upload of %zu bytes exceeds the limit", len);
    gc_image img;
    GC_TRY(gc_image_decode(data, len, "upload", &img));
    const int32_t w = img.w, h = img.h;
    gc_image_free(&img);
    const char *mime = mime_of(data, len);
    if (strcmp(mime, content_type) != 0)
        return gc_errorf(GC_ERR_ARG, "upload: Content-Type says %s but the body is %s", content_type, mime);
    uint8_t d[32];
    gc_sha256(data, len, d);
    char hex[17];
    for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (!(*name = gc_strfmt("upload/%s.%s", hex, mime[6] == 'j' ? "jpg" : "png"))) return GC_ERR_NOMEM;
    pthread_mutex_lock(&s->lock);
    gc_status st = GC_OK;
    bool known = false;
    for (int i = 0; i < s->n_uploads && !known; i++) known = !strcmp(s->uploads[i].name, *name);
    /* the oldest uploads make room (their names then answer 404) */
    while (!known && s->n_uploads && s->upload_bytes + len > (size_t)SERVE_UPLOADS_MB << 20) {
        s->upload_bytes -= s->uploads[0].len;
        item_free(&s->uploads[0]);
        memmove(s->uploads, s->uploads + 1, (size_t)--s->n_uploads * sizeof *s->uploads);
    }
    if (!known && s->n_uploads == s->cap_uploads) {
        int cap = s->cap_uploads ? 2 * s->cap_uploads : 16;
        image_item *v = realloc(s->uploads, (size_t)cap * sizeof *v);
        if (v) s->uploads = v, s->cap_uploads = cap;
        else st = gc_errorf(GC_ERR_NOMEM, "out of memory (uploads)");
    }
    if (!known && st == GC_OK) {
        image_item it = {.name = gc_strdup(*name), .data = malloc(len), .len = len, .w = w, .h = h, .mime = mime};
        if (!it.name || !it.data) st = gc_errorf(GC_ERR_NOMEM, "out of memory (upload)"), item_free(&it);
        else memcpy(it.data, data, len), s->uploads[s->n_uploads++] = it, s->upload_bytes += len;
    }
    pthread_mutex_unlock(&s->lock);
    if (st != GC_OK) free(*name), *name = NULL;
    return st;
}
