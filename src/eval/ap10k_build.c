#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/ap10k_build.h"
#include "eval/py_random.h"
#include "io/fs_tree.h"
#include "io/json_raw.h"

const char *const gc_ap10k_pair_dirs[GC_AP_NSETS] = {"trn", "val", "test", "val_cross_species", "test_cross_species",
                                                     "val_cross_family", "test_cross_family"};

#define N_KPS 17
/* the notebook's literal path prefix of every list entry and pair file, whatever OUT is */
#define REL_PREFIX "data/ap-10k/ImageAnnotation/"

enum { L_TRAIN, L_VAL, L_TEST };
static const char *const k_list_files[3] = {"train_filtered.txt", "val_filtered.txt", "test_filtered.txt"};

/* One field of a record: key and value are the text of a member node of one of the release files. */
typedef struct {
    char *key; /* decoded, for merging */
    int doc;
    int64_t node;
} member;

typedef struct {
    member *m;
    int nm, cap;
    int64_t id;       /* the image id (the record's "id") */
    int sp;           /* species index; -1 when the family or species name is empty (no file written) */
    char *file;       /* "<id:012d>.json" */
    bool crowd;        /* on the crowd list (written with "is_crowd": 1, left out of the lists) */
    double vis[N_KPS]; /* keypoint v values (records in the lists) */
} record;

typedef struct {
    char *family, *name;
    int64_t *recs, n_recs, cap; /* record indices, sorted by file name */
    int64_t *list[3], n_list[3];
    bool jpeg_dir;
} species;

typedef struct {
    int doc;
    int64_t node, id, order;
} ref;

typedef struct {
    const gc_ap10k_build_opts *o;
    gc_ap10k_build_counts *c;
    char *tmp;
    char *path[3], *text[3];
    gc_jr_doc doc[3];
    record *recs;
    int64_t n_recs;
    species *sp;
    int n_sp;
    char **crowd;
    int64_t n_crowd;
} builder;

/* ---- small helpers ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* qsort that also takes an empty list (whose pointer may be NULL) */
static void sort(void *v, int64_t n, size_t size, int (*cmp)(const void *, const void *)) {
    if (n > 1) qsort(v, (size_t)n, size, cmp);
}

static int cmp_ref(const void *a, const void *b) {
    const ref *x = a, *y = b;
    return x->id != y->id ? (x->id < y->id ? -1 : 1) : (x->order > y->order) - (x->order < y->order);
}

/* The last ref with id (refs sorted by id, then order): a Python dict built from the list keeps the
 * last entry of a repeated key. */
static const ref *find_last(const ref *r, int64_t n, int64_t id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (r[mid].id <= id) lo = mid + 1;
        else hi = mid;
    }
    return lo > 0 && r[lo - 1].id == id ? &r[lo - 1] : NULL;
}

static gc_status push_ref(ref **v, int64_t *n, int64_t *cap, ref r) {
    if (*n == *cap) {
        int64_t c = *cap ? 2 * *cap : 1024;
        ref *nv = gc_realloc_array(*v, (size_t)c, sizeof(ref));
        if (!nv) return GC_ERR_NOMEM;
        *v = nv, *cap = c;
    }
    (*v)[(*n)++] = r;
    return GC_OK;
}

/* Python's str.strip() (ASCII white space) of s[0..n) into a fresh string. */
static char *py_strip(const char *s, size_t n) {
    static const char ws[] = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    while (n && memchr(ws, s[0], sizeof ws - 1)) s++, n--;
    while (n && memchr(ws, s[n - 1], sizeof ws - 1)) n--;
    return gc_strfmt("%.*s", (int)n, s);
}

/* Python's int(s) on ASCII text: white space around, a sign, digits with single '_' between them.
 * 1: *v holds it; 2: a valid integer beyond int64; 0: not an integer. */
static int py_int(const char *s, int64_t *v) {
    char *t = py_strip(s, strlen(s));
    if (!t) return 0;
    const char *p = t;
    bool neg = *p == '-';
    if (*p == '+' || *p == '-') p++;
    uint64_t acc = 0;
    int digits = 0, res = 1;
    for (; *p; p++) {
        if (*p == '_' && digits && p[1] >= '0' && p[1] <= '9') continue;
        if (*p < '0' || *p > '9') {
            res = 0;
            break;
        }
        digits++;
        if (acc > (UINT64_MAX - 9) / 10) res = 2;
        else acc = acc * 10 + (uint64_t)(*p - '0');
    }
    free(t);
    if (!res || !digits) return 0;
    if (res == 2 || acc > (uint64_t)INT64_MAX + neg) return 2;
    *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 1;
}

/* Python's s.strip(".json") of a file name: the characters . j s o n removed from both ends. */
static char *strip_json_chars(const char *s) {
    size_t n = strlen(s);
    while (n && strchr(".json", s[0])) s++, n--;
    while (n && strchr(".json", s[n - 1])) n--;
    return gc_strfmt("%.*s", (int)n, s);
}

/* A family or species name becomes a folder name: one path component, no control characters. */
static gc_status check_name(const char *name, const char *key, const char *file, int64_t cat) {
    bool bad = strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/');
    for (const unsigned char *p = (const unsigned char *)name; *p && !bad; p++) bad = *p < 0x20 || *p == 0x7f;
    if (bad)
        return gc_errorf(GC_ERR_FORMAT, "%s: category %lld: %s '%s' cannot be a folder name (a '/', '.', '..' or a "
                         "control character)", file, (long long)cat, key, name);
    return GC_OK;
}

static void put_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static gc_status close_file(FILE *f, const char *path) {
    bool bad = ferror(f);
    if (fclose(f) != 0 || bad) return gc_errorf(GC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return GC_OK;
}

static FILE *open_out(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) gc_errorf(GC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

/* ---- step 0: the merged annotations -> one record per annotated image ------------------------- */

static gc_status load_file(builder *b, int k) {
    static const char *const split[3] = {"train", "test", "val"}; /* the notebook's merge order */
    b->path[k] = gc_strfmt("%s/annotations/ap10k-%s-split1.json", b->o->raw, split[k]);
    if (!b->path[k]) return GC_ERR_NOMEM;
    if (!gc_file_exists(b->path[k]))
        return gc_errorf(GC_ERR_MISSING, "%s: missing (the official release has annotations/ap10k-{train,test,val}-split1.json)",
                         b->path[k]);
    size_t len;
    GC_TRY(gc_read_file(b->path[k], &b->text[k], &len, (size_t)1 << 32));
    GC_TRY(gc_jr_parse(&b->doc[k], b->text[k], len, b->path[k]));
    if (b->doc[k].nodes[0].type != GC_JR_OBJECT)
        return gc_errorf(GC_ERR_FORMAT, "%s: expected a COCO object with 'images', 'annotations' and 'categories'", b->path[k]);
    return GC_OK;
}

/* The elements of list `key` of file k, each an object with the integer field `id_key`, appended to refs. */
static gc_status collect(builder *b, int k, const char *key, const char *id_key, ref **v, int64_t *n, int64_t *cap,
                         int64_t *order) {
    const gc_jr_doc *d = &b->doc[k];
    int64_t list = gc_jr_get(d, 0, key);
    if (list < 0 || d->nodes[list].type != GC_JR_ARRAY) return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a list", d->label, key);
    int64_t i = 0;
    for (int64_t e = d->nodes[list].first; e >= 0; e = d->nodes[e].next, i++) {
        int64_t idn = gc_jr_get(d, e, id_key);
        ref r = {k, e, 0, (*order)++};
        if (d->nodes[e].type != GC_JR_OBJECT || idn < 0 || !gc_jr_int64(d, idn, &r.id))
            return gc_errorf(GC_ERR_FORMAT, "%s: %s[%lld] must be an object with an integer '%s'", d->label, key, (long long)i,
                             id_key);
        GC_TRY(push_ref(v, n, cap, r));
    }
    return GC_OK;
}

/* Set the record's field `key` (taken over; NULL = out of memory or a bad escape, already reported)
 * to the member node (doc, node): in its place when the key is there ({**annotation, **image, ...}
 * keeps the first position and takes the last value), else appended. */
static gc_status set_member(record *r, char *key, int doc, int64_t node) {
    if (!key) return GC_ERR_FORMAT;
    for (int i = 0; i < r->nm; i++)
        if (strcmp(r->m[i].key, key) == 0) {
            free(key);
            r->m[i].doc = doc, r->m[i].node = node;
            return GC_OK;
        }
    if (r->nm == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        member *nv = gc_realloc_array(r->m, (size_t)cap, sizeof(member));
        if (!nv) return free(key), GC_ERR_NOMEM;
        r->m = nv, r->cap = cap;
    }
    r->m[r->nm++] = (member){key, doc, node};
    return GC_OK;
}

static gc_status add_members(builder *b, record *r, int doc, int64_t obj) {
    const gc_jr_doc *d = &b->doc[doc];
    for (int64_t m = d->nodes[obj].first; m >= 0; m = d->nodes[m].next) GC_TRY(set_member(r, gc_jr_str(d, m, 1), doc, m));
    return GC_OK;
}

/* The member of the record with this key, or NULL. */
static const member *field(const record *r, const char *key) {
    for (int i = 0; i < r->nm; i++)
        if (strcmp(r->m[i].key, key) == 0) return &r->m[i];
    return NULL;
}

/* A category's "name" / "supercategory" as a folder name; NULL when null or empty (the notebook writes
 * no file for such a record). */
static gc_status category_name(const builder *b, const ref *cat, const char *key, char **out) {
    const gc_jr_doc *d = &b->doc[cat->doc];
    int64_t v = gc_jr_get(d, cat->node, key);
    *out = NULL;
    if (v < 0) return gc_errorf(GC_ERR_FORMAT, "%s: category %lld has no '%s'", d->label, (long long)cat->id, key);
    if (d->nodes[v].type == GC_JR_NULL) return GC_OK;
    if (d->nodes[v].type != GC_JR_STRING)
        return gc_errorf(GC_ERR_FORMAT, "%s: category %lld: '%s' must be a string", d->label, (long long)cat->id, key);
    if (!(*out = gc_jr_str(d, v, 0))) return GC_ERR_FORMAT;
    if (!**out) {
        free(*out);
        *out = NULL;
        return GC_OK;
    }
    return check_name(*out, key, d->label, cat->id);
}

static gc_status species_of(builder *b, char *family, char *name, int *out) {
    int s = 0;
    while (s < b->n_sp && !(strcmp(b->sp[s].family, family) == 0 && strcmp(b->sp[s].name, name) == 0)) s++;
    if (s < b->n_sp) {
        free(family), free(name);
        *out = s;
        return GC_OK;
    }
    species *nv = gc_realloc_array(b->sp, (size_t)b->n_sp + 1, sizeof(species));
    if (!nv) return free(family), free(name), GC_ERR_NOMEM;
    b->sp = nv;
    memset(&b->sp[b->n_sp], 0, sizeof(species));
    b->sp[b->n_sp].family = family, b->sp[b->n_sp].name = name;
    *out = b->n_sp++;
    return GC_OK;
}

static gc_status build_records(builder *b) {
    ref *anns = NULL, *imgs = NULL, *cats = NULL, *sorted = NULL;
    int64_t na = 0, ca = 0, ni = 0, ci = 0, nc = 0, cc = 0, order = 0;
    bool *keep = NULL;
    gc_status s = GC_OK;
    for (int k = 0; s == GC_OK && k < 3; k++) {
        s = load_file(b, k);
        if (s == GC_OK) s = collect(b, k, "annotations", "image_id", &anns, &na, &ca, &order);
        if (s == GC_OK) s = collect(b, k, "images", "id", &imgs, &ni, &ci, &order);
        /* categories: from the first file with a non-empty list */
        if (s == GC_OK && nc == 0 && gc_jr_get(&b->doc[k], 0, "categories") >= 0)
            s = collect(b, k, "categories", "id", &cats, &nc, &cc, &order);
    }
    /* the first annotation of each image id is kept */
    if (s == GC_OK && !((sorted = gc_alloc_array((size_t)na + 1, sizeof(ref))) && (keep = gc_calloc((size_t)na + 1, 1))))
        s = GC_ERR_NOMEM;
    if (s == GC_OK) {
        for (int64_t i = 0; i < na; i++) sorted[i] = anns[i], sorted[i].order = i;
        sort(sorted, na, sizeof(ref), cmp_ref);
        for (int64_t i = 0; i < na; i++) keep[sorted[i].order] = i == 0 || sorted[i].id != sorted[i - 1].id;
        for (int64_t i = 0; i < na; i++) b->c->annotations += keep[i];
        sort(imgs, ni, sizeof(ref), cmp_ref);
        sort(cats, nc, sizeof(ref), cmp_ref);
        if (!(b->recs = gc_calloc((size_t)na + 1, sizeof(record)))) s = GC_ERR_NOMEM;
    }
    for (int64_t i = 0; s == GC_OK && i < na; i++) {
        if (!keep[i]) continue;
        const gc_jr_doc *d = &b->doc[anns[i].doc];
        int64_t cidn = gc_jr_get(d, anns[i].node, "category_id"), cid;
        if (cidn < 0) continue; /* .get("category_id") is None: not a category id */
        if (!gc_jr_int64(d, cidn, &cid)) {
            s = gc_errorf(GC_ERR_FORMAT, "%s: the annotation of image %lld: 'category_id' must be an integer", d->label,
                          (long long)anns[i].id);
            break;
        }
        const ref *img = find_last(imgs, ni, anns[i].id), *cat = find_last(cats, nc, cid);
        if (!img || !cat) continue;
        record *r = &b->recs[b->n_recs];
        r->id = anns[i].id, r->sp = -1;
        char *fam = NULL, *name = NULL;
        s = add_members(b, r, anns[i].doc, anns[i].node);
        if (s == GC_OK) s = add_members(b, r, img->doc, img->node);
        if (s == GC_OK) s = category_name(b, cat, "name", &name);
        if (s == GC_OK) s = category_name(b, cat, "supercategory", &fam);
        b->n_recs++;
        for (int q = 0; q < 2 && s == GC_OK; q++) { /* then "name", "supercategory" of the category */
            const char *key = q ? "supercategory" : "name";
            s = set_member(r, gc_strdup(key), cat->doc, gc_jr_get(&b->doc[cat->doc], cat->node, key));
        }
        if (s == GC_OK && fam && name) {
            s = species_of(b, fam, name, &r->sp);
            fam = name = NULL;
            b->c->records++;
            if (s == GC_OK && !(r->file = gc_strfmt("%012lld.json", (long long)r->id))) s = GC_ERR_NOMEM;
        }
        free(fam), free(name);
    }
    free(anns), free(imgs), free(cats), free(sorted), free(keep);
    return s;
}

/* Families sorted, species sorted within (the walk order); each species' records by file name. */
static int cmp_species(const void *a, const void *b) {
    const species *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    return c ? c : strcmp(x->name, y->name);
}

static const builder *g_sort_builder;
static int cmp_rec_file(const void *a, const void *b) {
    return strcmp(g_sort_builder->recs[*(const int64_t *)a].file, g_sort_builder->recs[*(const int64_t *)b].file);
}

static gc_status group_species(builder *b) {
    int *where = gc_alloc_array((size_t)b->n_sp + 1, sizeof(int));
    if (!where) return GC_ERR_NOMEM;
    for (int s = 0; s < b->n_sp; s++) b->sp[s].n_recs = s; /* remember the old index through the sort */
    sort(b->sp, b->n_sp, sizeof(species), cmp_species);
    for (int s = 0; s < b->n_sp; s++) where[b->sp[s].n_recs] = s, b->sp[s].n_recs = 0;
    gc_status st = GC_OK;
    for (int64_t i = 0; st == GC_OK && i < b->n_recs; i++) {
        record *r = &b->recs[i];
        if (r->sp < 0) continue;
        species *sp = &b->sp[r->sp = where[r->sp]];
        if (sp->n_recs == sp->cap) {
            int64_t cap = sp->cap ? 2 * sp->cap : 64;
            int64_t *nv = gc_realloc_array(sp->recs, (size_t)cap, sizeof(int64_t));
            if (!nv) st = GC_ERR_NOMEM;
            else sp->recs = nv, sp->cap = cap;
        }
        if (st == GC_OK) sp->recs[sp->n_recs++] = i;
    }
    free(where);
    g_sort_builder = b;
    for (int s = 0; st == GC_OK && s < b->n_sp; s++) sort(b->sp[s].recs, b->sp[s].n_recs, sizeof(int64_t), cmp_rec_file);
    g_sort_builder = NULL;
    b->c->species = b->n_sp;
    for (int s = 0; s < b->n_sp; s++) b->c->families += s == 0 || strcmp(b->sp[s].family, b->sp[s - 1].family) != 0;
    return st;
}

/* ---- step 1: the images, copied byte for byte into JPEGImages/<family>/<species>/ -------------- */

/* The record of an image id among by_id[n] (record indices sorted by id), or NULL. */
static const record *record_of(const builder *b, const int64_t *by_id, int64_t n, int64_t id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (b->recs[by_id[mid]].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && b->recs[by_id[lo]].id == id ? &b->recs[by_id[lo]] : NULL;
}

static int cmp_rec_id(const void *a, const void *b) {
    int64_t x = g_sort_builder->recs[*(const int64_t *)a].id, y = g_sort_builder->recs[*(const int64_t *)b].id;
    return (x > y) - (x < y);
}

/* The notebook's image id of a file name: int(name.split(".")[0][7:]) (code points, as Python slices). */
static int file_id(const char *name, int64_t *id) {
    size_t stem = strcspn(name, ".");
    const char *p = name;
    for (int cp = 0; cp < 7 && p < name + stem; cp++)
        do p++;
        while (p < name + stem && (*(const unsigned char *)p & 0xc0) == 0x80);
    char *t = gc_strfmt("%.*s", (int)(name + stem - p), p);
    int r = t ? py_int(t, id) : 0;
    free(t);
    return r;
}

static gc_status copy_images(builder *b) {
    char *dir = gc_strfmt("%s/data", b->o->raw);
    if (!dir) return GC_ERR_NOMEM;
    DIR *d = opendir(dir);
    if (!d) {
        gc_status s = gc_errorf(GC_ERR_MISSING, "%s: cannot open the image folder of the release: %s", dir, strerror(errno));
        free(dir);
        return s;
    }
    char **names = NULL;
    int64_t n = 0, cap = 0;
    gc_status s = GC_OK;
    struct dirent *e;
    while (s == GC_OK && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **nv = gc_realloc_array(names, (size_t)cap, sizeof(char *));
            if (!nv) {
                s = GC_ERR_NOMEM;
                break;
            }
            names = nv;
        }
        if (!(names[n] = gc_strdup(e->d_name))) s = GC_ERR_NOMEM;
        else n++;
    }
    closedir(d);
    if (s == GC_OK) sort(names, n, sizeof(char *), cmp_str);
    int64_t *by_id = gc_alloc_array((size_t)b->n_recs + 1, sizeof(int64_t)), nb = 0;
    if (s == GC_OK && !by_id) s = GC_ERR_NOMEM;
    for (int64_t i = 0; s == GC_OK && i < b->n_recs; i++)
        if (b->recs[i].sp >= 0) by_id[nb++] = i; /* id_to_category holds the records with both names */
    g_sort_builder = b;
    if (s == GC_OK) sort(by_id, nb, sizeof(int64_t), cmp_rec_id);
    g_sort_builder = NULL;
    for (int64_t i = 0; s == GC_OK && i < n; i++) {
        char *src = gc_strfmt("%s/%s", dir, names[i]);
        if (!src) {
            s = GC_ERR_NOMEM;
            break;
        }
        struct stat st;
        int64_t id;
        if (stat(src, &st) == 0 && S_ISREG(st.st_mode)) { /* os.path.isfile: links followed */
            int k = file_id(names[i], &id);
            const record *r = k == 1 ? record_of(b, by_id, nb, id) : NULL;
            if (!k)
                s = gc_errorf(GC_ERR_FORMAT, "%s: the file name holds no image id (the notebook reads "
                              "int(name.split('.')[0][7:]); the release names images <12-digit id>.jpg)", src);
            if (r) {
                species *sp = &b->sp[r->sp];
                char *to = gc_strfmt("%s/JPEGImages/%s/%s", b->tmp, sp->family, sp->name);
                s = to ? GC_OK : GC_ERR_NOMEM;
                if (s == GC_OK && !sp->jpeg_dir) s = gc_mkdir_p(to);
                sp->jpeg_dir = true;
                char *dst = s == GC_OK ? gc_strfmt("%s/%s", to, names[i]) : NULL;
                if (s == GC_OK) s = dst ? gc_copy_file(src, dst) : GC_ERR_NOMEM;
                if (s == GC_OK) b->c->images++;
                free(to), free(dst);
            }
        }
        free(src);
    }
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names), free(by_id), free(dir);
    return s;
}

/* ---- step 2: record files, the crowd / keypoint filter, the split lists ------------------------- */

static gc_status load_crowd(builder *b) {
    char *own = NULL;
    const char *path = b->o->crowd_list;
    if (!path && !(path = own = gc_data_path("ap-10k_is_crowd.txt"))) return GC_ERR_MISSING;
    char *text;
    size_t len;
    gc_status s = gc_read_file(path, &text, &len, (size_t)1 << 28);
    if (s != GC_OK) {
        free(own);
        return gc_error_context(s, "the crowd list");
    }
    /* lines as Python's text mode splits them (\n, \r\n, \r), each stripped */
    int64_t cap = 0;
    for (size_t i = 0; s == GC_OK && i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n' && text[j] != '\r') j++;
        if (b->n_crowd == cap) {
            cap = cap ? 2 * cap : 1024;
            char **nv = gc_realloc_array(b->crowd, (size_t)cap, sizeof(char *));
            if (!nv) s = GC_ERR_NOMEM;
            else b->crowd = nv;
        }
        if (s == GC_OK && !(b->crowd[b->n_crowd++] = py_strip(text + i, j - i))) s = GC_ERR_NOMEM;
        i = j + (j < len && text[j] == '\r' && j + 1 < len && text[j + 1] == '\n' ? 2 : 1);
    }
    if (s == GC_OK) sort(b->crowd, b->n_crowd, sizeof(char *), cmp_str);
    free(text), free(own);
    return s;
}

static bool on_crowd_list(const builder *b, const char *file) {
    char *k = strip_json_chars(file);
    bool on = k && b->n_crowd && bsearch(&k, b->crowd, (size_t)b->n_crowd, sizeof(char *), cmp_str);
    free(k);
    return on;
}

/* The record as the notebook writes it (json.dump of the merged dict; on the crowd list with
 * "is_crowd": 1 set), every value copied as the release wrote it. */
static gc_status write_record(const builder *b, const record *r, const char *path) {
    FILE *f = open_out(path);
    if (!f) return GC_ERR_IO;
    bool crowd_done = false;
    fputs("{\n", f);
    for (int i = 0; i < r->nm; i++) {
        const gc_jr_doc *d = &b->doc[r->m[i].doc];
        const gc_jr_node *n = &d->nodes[r->m[i].node];
        fprintf(f, "    %.*s: ", (int)n->klen, d->text + n->kstart);
        if (r->crowd && strcmp(r->m[i].key, "is_crowd") == 0) fputs("1", f), crowd_done = true;
        else fwrite(d->text + n->start, 1, n->len, f);
        fputs(i + 1 < r->nm || (r->crowd && !crowd_done) ? ",\n" : "\n", f);
    }
    if (r->crowd && !crowd_done) fputs("    \"is_crowd\": 1\n", f);
    fputs("}", f);
    return close_file(f, path);
}

/* A kept record's keypoint visibilities (the third value of each of the 17 triples). */
static gc_status read_vis(const builder *b, record *r) {
    const member *m = field(r, "keypoints");
    const gc_jr_doc *d = m ? &b->doc[m->doc] : NULL;
    const gc_jr_node *n = m ? &d->nodes[m->node] : NULL;
    bool ok = n && n->type == GC_JR_ARRAY && n->count == 3 * N_KPS;
    int64_t k = 0;
    for (int64_t e = ok ? n->first : -1; e >= 0 && ok; e = d->nodes[e].next, k++) {
        ok = d->nodes[e].type == GC_JR_NUMBER;
        if (ok && k % 3 == 2) r->vis[k / 3] = gc_jr_num(d, e);
    }
    if (!ok)
        return gc_errorf(GC_ERR_FORMAT, "%s: the annotation of image %lld: 'keypoints' must be a list of %d numbers "
                         "(17 x, y, v triples)", m ? d->label : b->path[0], (long long)r->id, 3 * N_KPS);
    return GC_OK;
}

static gc_status write_lists(builder *b) {
    gc_status s = GC_OK;
    for (int q = 0; s == GC_OK && q < b->n_sp; q++) {
        species *sp = &b->sp[q];
        char *dir = gc_strfmt("%s/ImageAnnotation/%s/%s", b->tmp, sp->family, sp->name);
        int64_t *kept = gc_alloc_array((size_t)sp->n_recs + 1, sizeof(int64_t)), L = 0;
        s = dir && kept ? gc_mkdir_p(dir) : GC_ERR_NOMEM;
        for (int64_t i = 0; s == GC_OK && i < sp->n_recs; i++) {
            record *r = &b->recs[sp->recs[i]];
            if ((r->crowd = on_crowd_list(b, r->file))) {
                b->c->crowd++;
            } else {
                const member *m = field(r, "num_keypoints");
                const gc_jr_doc *d = m ? &b->doc[m->doc] : NULL;
                if (!m || d->nodes[m->node].type != GC_JR_NUMBER) {
                    s = gc_errorf(GC_ERR_FORMAT, "%s: the annotation of image %lld: 'num_keypoints' must be a number",
                                  m ? d->label : b->path[0], (long long)r->id);
                    break;
                }
                if (gc_jr_num(d, m->node) >= 3) {
                    s = read_vis(b, r);
                    kept[L++] = sp->recs[i];
                } else {
                    b->c->few_kps++;
                }
            }
            char *path = gc_strfmt("%s/%s", dir, r->file);
            if (s == GC_OK) s = path ? write_record(b, r, path) : GC_ERR_NOMEM;
            free(path);
        }
        /* test = the last min(30, L), val = the min(20, max(0, L - 30)) before, train = the rest */
        int64_t nt = GC_MIN(30, L), nv = GC_MIN(20, GC_MAX(0, L - 30)), n[3] = {L - nt - nv, nv, nt};
        for (int l = 0, at = 0; s == GC_OK && l < 3; at += (int)n[l], l++) {
            if (!(sp->list[l] = gc_alloc_array((size_t)n[l] + 1, sizeof(int64_t)))) {
                s = GC_ERR_NOMEM;
                break;
            }
            memcpy(sp->list[l], kept + at, (size_t)n[l] * sizeof(int64_t));
            sp->n_list[l] = n[l];
            b->c->list[l] += n[l];
            char *path = gc_strfmt("%s/%s", dir, k_list_files[l]);
            FILE *f = path ? open_out(path) : NULL;
            if (!f) s = path ? GC_ERR_IO : GC_ERR_NOMEM;
            for (int64_t i = 0; s == GC_OK && i < n[l]; i++)
                fprintf(f, REL_PREFIX "%s/%s/%s\n", sp->family, sp->name, b->recs[sp->list[l][i]].file);
            if (f) s = close_file(f, path);
            free(path);
        }
        free(dir), free(kept);
    }
    return s;
}

/* ---- steps 3-5: the pairs ---------------------------------------------------------------------- */

typedef struct {
    int64_t (*v)[2];
    int64_t n, cap;
} pairs;

/* Mutual visibility as the notebook sums it: src_v / 2 * trg_v / 2 over the 17 keypoints (float64; for
 * v in {0, 1, 2} every term and partial sum is exact, so the summation order cannot matter). */
static bool enough_visible(const builder *b, int64_t s, int64_t t) {
    double sum = 0;
    for (int k = 0; k < N_KPS; k++) sum += b->recs[s].vis[k] / 2 * b->recs[t].vis[k] / 2;
    return sum >= 3;
}

static gc_status add_if_visible(const builder *b, pairs *p, int64_t s, int64_t t) {
    if (!enough_visible(b, s, t)) return GC_OK;
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 1024;
        int64_t(*nv)[2] = gc_realloc_array(p->v, (size_t)cap, sizeof *nv);
        if (!nv) return GC_ERR_NOMEM;
        p->v = nv, p->cap = cap;
    }
    p->v[p->n][0] = s, p->v[p->n][1] = t;
    p->n++;
    return GC_OK;
}

static void put_rel(FILE *f, const builder *b, int64_t rec) {
    const record *r = &b->recs[rec];
    const species *sp = &b->sp[r->sp];
    char *p = gc_strfmt(REL_PREFIX "%s/%s/%s", sp->family, sp->name, r->file);
    put_json_str(f, p ? p : "");
    free(p);
}

/* random.sample(kept, min(cap, len(kept))) -> PairAnnotation/<set>/<src stem>-<trg stem>:<label>.json */
static gc_status sample_and_write(builder *b, gc_py_random *rng, const pairs *kept, int64_t cap, int set,
                                  const char *label) {
    int64_t k = GC_MIN(cap, kept->n);
    int64_t *idx = gc_alloc_array((size_t)k + 1, sizeof(int64_t));
    if (!idx) return GC_ERR_NOMEM;
    gc_status s = gc_py_random_sample(rng, kept->n, k, idx);
    for (int64_t i = 0; s == GC_OK && i < k; i++) {
        const record *src = &b->recs[kept->v[idx[i]][0]], *trg = &b->recs[kept->v[idx[i]][1]];
        char *path = gc_strfmt("%s/PairAnnotation/%s/%.*s-%.*s:%s.json", b->tmp, gc_ap10k_pair_dirs[set],
                               (int)strcspn(src->file, "."), src->file, (int)strcspn(trg->file, "."), trg->file, label);
        FILE *f = path ? open_out(path) : NULL;
        if (!f) s = path ? GC_ERR_IO : GC_ERR_NOMEM;
        if (f) {
            fputs("{\n    \"src_json_path\": ", f);
            put_rel(f, b, kept->v[idx[i]][0]);
            fputs(",\n    \"trg_json_path\": ", f);
            put_rel(f, b, kept->v[idx[i]][1]);
            fputs("\n}", f);
            s = close_file(f, path);
        }
        free(path);
    }
    b->c->pairs[set] += s == GC_OK ? k : 0;
    gc_free(idx);
    return s;
}

/* Cell 3: one stream seeded 42 for trn, test, val in this order; per species: shuffle the list, the
 * pairs (i < j) with >= 3 mutually visible keypoints, sample min(N, kept) of them (N = 50 n for trn,
 * n (n - 1) / 2 else). */
static gc_status intra_species(builder *b) {
    gc_py_random rng;
    gc_py_random_seed(&rng, 42);
    const int lists[3] = {L_TRAIN, L_TEST, L_VAL}, sets[3] = {GC_AP_TRN, GC_AP_TEST, GC_AP_VAL};
    gc_status s = GC_OK;
    pairs kept = {0};
    for (int q = 0; s == GC_OK && q < 3; q++)
        for (int i = 0; s == GC_OK && i < b->n_sp; i++) {
            const species *sp = &b->sp[i];
            int64_t n = sp->n_list[lists[q]];
            int64_t cap = q == 0 ? 50 * n : n * (n - 1) / 2;
            int64_t *list = gc_alloc_array((size_t)n + 1, sizeof(int64_t));
            if (!list) {
                s = GC_ERR_NOMEM;
                break;
            }
            memcpy(list, sp->list[lists[q]], (size_t)n * sizeof(int64_t));
            gc_py_random_shuffle(&rng, list, n);
            kept.n = 0;
            for (int64_t a = 0; s == GC_OK && a < n; a++)
                for (int64_t c = a + 1; s == GC_OK && c < n; c++) s = add_if_visible(b, &kept, list[a], list[c]);
            if (s == GC_OK && GC_MIN(cap, kept.n) > 0) s = sample_and_write(b, &rng, &kept, cap, sets[q], sp->name);
            gc_free(list);
        }
    free(kept.v);
    return s;
}

/* The index after the species of sp[f]'s family (species are sorted by family). */
static int family_end(const builder *b, int f) {
    int e = f + 1;
    while (e < b->n_sp && strcmp(b->sp[e].family, b->sp[f].family) == 0) e++;
    return e;
}

/* Cells 4 and 5, each seeded 42 again.
 * Cross-species (cell 4): val (cap 400), then test (cap 900); per family with more than one species,
 * for each species pair (A before B) the product A-list x B-list with one random() per element (the
 * notebook's "random swap" loop, which changes nothing), then the filter and one sample per family.
 * Cross-family (cell 5): test (cap 30), then val (cap 20); per family the concatenated species lists;
 * for each family pair (F before G) the product, the filter and one sample -> ":all". */
static gc_status cross_pairs(builder *b, bool families) {
    static const struct {
        int list, set;
        int64_t cap;
    } k_runs[2][2] = {{{L_VAL, GC_AP_VAL_CS, 400}, {L_TEST, GC_AP_TEST_CS, 900}},
                      {{L_TEST, GC_AP_TEST_CF, 30}, {L_VAL, GC_AP_VAL_CF, 20}}};
    gc_py_random rng;
    gc_py_random_seed(&rng, 42);
    gc_status s = GC_OK;
    pairs kept = {0};
    for (int q = 0; s == GC_OK && q < 2; q++) {
        const int l = k_runs[families][q].list, set = k_runs[families][q].set;
        const int64_t cap = k_runs[families][q].cap;
        for (int f0 = 0, f1; s == GC_OK && f0 < b->n_sp; f0 = f1) {
            f1 = family_end(b, f0);
            if (!families && f1 - f0 > 1) {
                kept.n = 0;
                for (int x = f0; x < f1; x++)
                    for (int y = x + 1; y < f1; y++)
                        for (int64_t i = 0; i < b->sp[x].n_list[l]; i++)
                            for (int64_t j = 0; j < b->sp[y].n_list[l]; j++) {
                                gc_py_random_random(&rng);
                                if (s == GC_OK) s = add_if_visible(b, &kept, b->sp[x].list[l][i], b->sp[y].list[l][j]);
                            }
                if (s == GC_OK) s = sample_and_write(b, &rng, &kept, cap, set, b->sp[f0].family);
            }
            for (int g0 = f1, g1; families && s == GC_OK && g0 < b->n_sp; g0 = g1) {
                g1 = family_end(b, g0);
                kept.n = 0;
                for (int x = f0; x < f1; x++)
                    for (int64_t i = 0; i < b->sp[x].n_list[l]; i++)
                        for (int y = g0; y < g1; y++)
                            for (int64_t j = 0; s == GC_OK && j < b->sp[y].n_list[l]; j++)
                                s = add_if_visible(b, &kept, b->sp[x].list[l][i], b->sp[y].list[l][j]);
                if (s == GC_OK) s = sample_and_write(b, &rng, &kept, cap, set, "all");
            }
        }
    }
    free(kept.v);
    return s;
}

/* ---- the whole build ---------------------------------------------------------------------------- */

/* OUT must not lie inside RAW (the release is only read): compare real paths, OUT's taken from its
 * deepest existing ancestor. */
static gc_status check_places(const char *raw, const char *out) {
    char rr[PATH_MAX], ro[PATH_MAX];
    if (!gc_dir_exists(raw)) return gc_errorf(GC_ERR_MISSING, "%s: the release folder is missing", raw);
    if (!realpath(raw, rr)) return gc_errorf(GC_ERR_IO, "%s: %s", raw, strerror(errno));
    char *anc = gc_strdup(out);
    if (!anc) return GC_ERR_NOMEM;
    const char *rest = ""; /* the components of out below anc */
    while (!realpath(anc[0] ? anc : ".", ro)) {
        char *sl = strrchr(anc, '/');
        if (!anc[0]) {
            free(anc);
            return gc_errorf(GC_ERR_IO, "cannot resolve the current folder: %s", strerror(errno));
        }
        if (!sl) rest = out, anc[0] = 0;
        else if (sl == anc) rest = out + 1, anc[1] = 0; /* the root folder */
        else rest = out + (sl - anc) + 1, *sl = 0;
    }
    size_t lr = strlen(rr);
    char *full = gc_strfmt("%s%s%s", ro, ro[strlen(ro) - 1] == '/' ? "" : "/", rest);
    bool inside = full && strncmp(full, rr, lr) == 0 && (full[lr] == '/' || full[lr] == 0);
    free(full), free(anc);
    if (inside) return gc_errorf(GC_ERR_ARG, "--out %s lies inside the release %s, which is only read", out, raw);
    return GC_OK;
}

static gc_status check_out_empty(const char *out) {
    struct stat st;
    if (lstat(out, &st) != 0) return errno == ENOENT ? GC_OK : gc_errorf(GC_ERR_IO, "%s: %s", out, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return gc_errorf(GC_ERR_ARG, "%s: exists and is not a folder (--out must be absent or empty)", out);
    DIR *d = opendir(out);
    if (!d) return gc_errorf(GC_ERR_IO, "%s: %s", out, strerror(errno));
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d))) empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty) return gc_errorf(GC_ERR_ARG, "%s: not empty (--out must be absent or empty; the build never mixes "
                                 "into an existing tree)", out);
    return GC_OK;
}

static void builder_free(builder *b) {
    for (int k = 0; k < 3; k++) gc_jr_free(&b->doc[k]), free(b->text[k]), free(b->path[k]);
    for (int64_t i = 0; i < b->n_recs; i++) {
        for (int m = 0; m < b->recs[i].nm; m++) free(b->recs[i].m[m].key);
        free(b->recs[i].m), free(b->recs[i].file);
    }
    free(b->recs);
    for (int s = 0; s < b->n_sp; s++) {
        free(b->sp[s].family), free(b->sp[s].name), free(b->sp[s].recs);
        for (int l = 0; l < 3; l++) gc_free(b->sp[s].list[l]);
    }
    free(b->sp);
    for (int64_t i = 0; i < b->n_crowd; i++) free(b->crowd[i]);
    free(b->crowd);
    free(b->tmp);
}

static gc_status make_tmp(builder *b) {
    size_t lo = strlen(b->o->out);
    while (lo > 1 && b->o->out[lo - 1] == '/') lo--;
    for (int k = 0; k < 100; k++) {
        free(b->tmp);
        if (!(b->tmp = gc_strfmt("%.*s.partial-%d%s%.0d", (int)lo, b->o->out, (int)getpid(), k ? "-" : "", k)))
            return GC_ERR_NOMEM;
        if (mkdir(b->tmp, 0777) == 0) return GC_OK;
        if (errno != EEXIST) return gc_errorf(GC_ERR_IO, "%s: cannot create: %s", b->tmp, strerror(errno));
    }
    return gc_errorf(GC_ERR_IO, "%s: cannot create a temporary folder beside it", b->o->out);
}

gc_status gc_ap10k_build(const gc_ap10k_build_opts *o, gc_ap10k_build_counts *counts) {
    memset(counts, 0, sizeof *counts);
    if (!o->raw || !o->out) return gc_errorf(GC_ERR_ARG, "ap10k-build needs the release folder and the output folder");
    builder b = {.o = o, .c = counts};
    GC_TRY(check_places(o->raw, o->out));
    GC_TRY(check_out_empty(o->out));
    gc_status s = load_crowd(&b);
    char *parent = gc_strdup(o->out);
    if (s == GC_OK && !parent) s = GC_ERR_NOMEM;
    char *sl = parent ? strrchr(parent, '/') : NULL;
    if (s == GC_OK && sl && sl != parent) *sl = 0, s = gc_mkdir_p(parent);
    free(parent);
    if (s == GC_OK) s = make_tmp(&b);
    bool made = s == GC_OK;
    if (s == GC_OK) s = build_records(&b);
    if (s == GC_OK) s = group_species(&b);
    if (s == GC_OK && o->log)
        fprintf(o->log, "%lld unique annotations after cleanup; %lld image annotation files in %lld species of %lld families\n",
                (long long)counts->annotations, (long long)counts->records, (long long)counts->species,
                (long long)counts->families);
    if (s == GC_OK) s = copy_images(&b);
    const char *sub[] = {"ImageAnnotation", "JPEGImages", "PairAnnotation"};
    for (int k = 0; s == GC_OK && k < 3; k++) {
        char *p = gc_strfmt("%s/%s", b.tmp, sub[k]);
        s = p ? gc_mkdir_p(p) : GC_ERR_NOMEM;
        free(p);
    }
    for (int k = 0; s == GC_OK && k < GC_AP_NSETS; k++) {
        char *p = gc_strfmt("%s/PairAnnotation/%s", b.tmp, gc_ap10k_pair_dirs[k]);
        s = p ? gc_mkdir_p(p) : GC_ERR_NOMEM;
        free(p);
    }
    if (s == GC_OK) s = write_lists(&b);
    if (s == GC_OK && o->log) fprintf(o->log, "image annotations and lists written; drawing pairs\n");
    if (s == GC_OK) s = intra_species(&b);
    if (s == GC_OK) s = cross_pairs(&b, false);
    if (s == GC_OK) s = cross_pairs(&b, true);
    if (s == GC_OK && rename(b.tmp, o->out) != 0)
        s = gc_errorf(GC_ERR_IO, "%s: cannot move the finished tree %s into place: %s", o->out, b.tmp, strerror(errno));
    if (s != GC_OK && made) {
        gc_status keep = s;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", gc_last_error());
        if (gc_remove_tree(b.tmp) != GC_OK) gc_error_context(keep, "%s (and removing %s failed)", msg, b.tmp);
        else gc_errorf(keep, "%s", msg);
    }
    builder_free(&b);
    return s;
}
