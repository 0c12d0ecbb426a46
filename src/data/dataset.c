#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#ifdef GEOCORR_HAVE_MATIO
#include <matio.h>
#endif

#include "data/dataset.h"
#include "data/np_random.h"
#include "io/config.h"

static const char *const k_voc[20] = {"aeroplane", "bicycle", "bird",  "boat",      "bottle", "bus",         "car",
                                      "cat",       "chair",   "cow",   "diningtable", "dog",  "horse",       "motorbike",
                                      "person",    "pottedplant", "sheep", "sofa",    "train", "tvmonitor"};

gc_status gc_dataset_kind_parse(const char *s, gc_dataset_kind *out) {
    if (s && strcmp(s, "spair") == 0) *out = GC_DS_SPAIR;
    else if (s && (strcmp(s, "pfpascal") == 0 || strcmp(s, "pascal") == 0)) *out = GC_DS_PFPASCAL;
    else if (s && strcmp(s, "ap10k") == 0) *out = GC_DS_AP10K;
    else return gc_errorf(GC_ERR_ARG, "dataset must be spair, pfpascal or ap10k (got '%s')", s ? s : "");
    return GC_OK;
}

gc_status gc_ap10k_subset_parse(const char *s, gc_ap10k_subset *out) {
    if (!s || strcmp(s, "intra-species") == 0) *out = GC_AP10K_INTRA;
    else if (strcmp(s, "cross-species") == 0) *out = GC_AP10K_CROSS_SPECIES;
    else if (strcmp(s, "cross-family") == 0) *out = GC_AP10K_CROSS_FAMILY;
    else return gc_errorf(GC_ERR_ARG, "AP-10K subset must be intra-species, cross-species or cross-family (got '%s')", s);
    return GC_OK;
}

const char *gc_dataset_kind_name(gc_dataset_kind k) {
    return k == GC_DS_SPAIR ? "spair" : k == GC_DS_PFPASCAL ? "pfpascal" : "ap10k";
}

/* preprocess_kps_pad of n rows in place (the shared keypoint-frame code); returns the float64 scale
 * and the float32 centring offsets (x, y) for mapping predictions given in original pixels. */
static double kps_to_anno(float (*kps)[3], int n, double w, double h, float off[2]) {
    gc_canvas_geom g;
    gc_canvas_geometry((int32_t)w, (int32_t)h, GC_CANVAS_DINO, &g); /* sizes were validated by check_size */
    gc_kps_to_canvas(&kps[0][0], n, (int32_t)w, (int32_t)h, GC_CANVAS_DINO, &kps[0][0]);
    off[0] = h > w ? (float)g.off_x : 0, off[1] = h < w ? (float)g.off_y : 0;
    return g.scale;
}

/* Source and target keypoints (raw ids, original pixels) into the pair's 840-frame arrays; the
 * eval_spair copy of the target starts equal. Returns the target's scale (the source's in *src_scale). */
static double pair_set_kps(gc_eval_pair *p, const float (*sk)[3], const float (*tk)[3], int n, double sw, double sh,
                           double tw, double th, double *src_scale) {
    float off[2];
    memcpy(p->src_kps, sk, (size_t)n * sizeof *sk);
    memcpy(p->trg_kps, tk, (size_t)n * sizeof *tk);
    *src_scale = kps_to_anno(p->src_kps, n, sw, sh, off);
    double sc = kps_to_anno(p->trg_kps, n, tw, th, p->trg_off);
    memcpy(p->trg_kps_img, p->trg_kps, sizeof p->trg_kps);
    p->trg_scale = (float)sc;
    p->src_wh[0] = (int)sw, p->src_wh[1] = (int)sh, p->trg_wh[0] = (int)tw, p->trg_wh[1] = (int)th;
    return sc;
}

/* ---- small helpers ---------------------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} strlist;

static gc_status strlist_push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **nv = gc_realloc_array(l->v, (size_t)cap, sizeof(char *));
        if (!nv) return GC_ERR_NOMEM;
        l->v = nv, l->cap = cap;
    }
    if (!(l->v[l->n] = gc_strdup(s))) return GC_ERR_NOMEM;
    l->n++;
    return GC_OK;
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir (no dot files): dirs_only selects sub-folders, else names ending in suffix. */
static gc_status list_dir(const char *dir, bool dirs_only, const char *suffix, const char *expect, strlist *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return gc_errorf(GC_ERR_MISSING, "%s: folder missing (expected %s)", dir, expect);
    struct dirent *e;
    gc_status s = GC_OK;
    size_t ls = suffix ? strlen(suffix) : 0;
    while (s == GC_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (dirs_only) {
            char *p = gc_strfmt("%s/%s", dir, e->d_name);
            bool isdir = p && gc_dir_exists(p);
            free(p);
            if (!isdir) continue;
        } else {
            size_t ln = strlen(e->d_name);
            if (ln < ls || strcmp(e->d_name + ln - ls, suffix) != 0) continue;
        }
        s = strlist_push(out, e->d_name);
    }
    closedir(d);
    if (s != GC_OK) strlist_free(out);
    else if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
    return s;
}

static gc_status json_num(const cJSON *j, const char *file, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a number", file, key);
    *out = v->valuedouble;
    return GC_OK;
}

/* A numeric array of exactly n (n > 0) or at least -n (n < 0) entries. */
static gc_status json_nums(const cJSON *j, const char *file, const char *key, int n, double *out) {
    const cJSON *a = key ? cJSON_GetObjectItemCaseSensitive(j, key) : j;
    int len = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (len < 0 || (n > 0 && len != n) || (n < 0 && len < -n))
        return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must be a list of %s%d numbers", file, key ? key : "value",
                         n < 0 ? "at least " : "", n < 0 ? -n : n);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (i >= (n < 0 ? -n : n)) break;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return gc_errorf(GC_ERR_FORMAT, "%s: '%s' must hold numbers", file, key ? key : "value");
        out[i++] = v->valuedouble;
    }
    return GC_OK;
}

static const char *json_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Image size must be positive and sane; keypoints must lie within a generous margin of the image
 * (annotations slightly outside the border exist; values far outside are a corrupt file). */
static gc_status check_size(const char *file, double w, double h) {
    if (!(w >= 1 && h >= 1 && w <= 1e6 && h <= 1e6 && w == (int32_t)w && h == (int32_t)h && w < 1000 * h && h < 1000 * w))
        return gc_errorf(GC_ERR_FORMAT, "%s: image size %gx%g out of range", file, w, h);
    return GC_OK;
}

static gc_status check_kp(const char *file, int id, double x, double y, double w, double h) {
    if (!(x >= -w && x <= 2 * w && y >= -h && y <= 2 * h))
        return gc_errorf(GC_ERR_FORMAT, "%s: keypoint %d (%g, %g) out of range for a %gx%g image", file, id, x, y, w, h);
    return GC_OK;
}

typedef struct {
    strlist cats;
    gc_eval_pair *pairs;
    int n, cap;
} builder;

static gc_status push_pair(builder *b, gc_eval_pair **out) {
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        gc_eval_pair *np = gc_realloc_array(b->pairs, (size_t)cap, sizeof(gc_eval_pair));
        if (!np) return GC_ERR_NOMEM;
        b->pairs = np, b->cap = cap;
    }
    *out = &b->pairs[b->n++];
    memset(*out, 0, sizeof **out);
    (*out)->az = -1;
    return GC_OK;
}

static void pair_free(gc_eval_pair *p) {
    free(p->category), free(p->src_category), free(p->src), free(p->trg), free(p->pair_file);
}

/* ---- SPair-71k -------------------------------------------------------------------------------- */

gc_status gc_spair_image_load(const char *path, gc_spair_image *out) {
    cJSON *j;
    GC_TRY(gc_json_load(path, &j));
    gc_spair_image im = {0};
    double bb[4] = {0}, az = -1;
    gc_status s = json_num(j, path, "image_width", &im.w);
    if (s == GC_OK) s = json_num(j, path, "image_height", &im.h);
    if (s == GC_OK) s = check_size(path, im.w, im.h);
    if (s == GC_OK) s = json_nums(j, path, "bndbox", 4, bb);
    if (s == GC_OK && cJSON_GetObjectItemCaseSensitive(j, "azimuth_id")) s = json_num(j, path, "azimuth_id", &az);
    const cJSON *kps = cJSON_GetObjectItemCaseSensitive(j, "kps");
    if (s == GC_OK && !cJSON_IsObject(kps)) s = gc_errorf(GC_ERR_FORMAT, "%s: 'kps' must be an object", path);
    for (int i = 0; s == GC_OK && i < 30; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(kps, key);
        if (!p) {
            s = gc_errorf(GC_ERR_FORMAT, "%s: 'kps' lacks key \"%s\" (SPair has ids \"0\"..\"29\")", path, key);
        } else if (!cJSON_IsNull(p)) {
            double xy[2];
            s = json_nums(p, path, NULL, 2, xy);
            if (s != GC_OK) s = gc_errorf(GC_ERR_FORMAT, "%s: kps[\"%s\"] must be [x, y] or null", path, key);
            if (s == GC_OK) s = check_kp(path, i, xy[0], xy[1], im.w, im.h);
            im.kps[i][0] = (float)xy[0], im.kps[i][1] = (float)xy[1], im.kps[i][2] = 1;
        }
    }
    cJSON_Delete(j);
    if (s != GC_OK) return s;
    im.bbox_max = GC_MAX(bb[3] - bb[1], bb[2] - bb[0]);
    for (int k = 0; k < 4; k++) im.box[k] = (float)bb[k];
    im.azimuth = (int)az;
    *out = im;
    return GC_OK;
}

typedef struct {
    char *name; /* image file name */
    gc_spair_image a;
} spair_image;

typedef struct {
    spair_image *v;
    int n, cap;
} spair_cache;

static gc_status spair_image_get(spair_cache *c, const char *root, const char *cat, const char *imname,
                                 const gc_spair_image **out) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->v[i].name, imname) == 0) return *out = &c->v[i].a, GC_OK;
    /* the reference maps the image path to its annotation by replacing 'jpg' with 'json' */
    size_t ln = strlen(imname);
    if (ln < 4 || strcmp(imname + ln - 4, ".jpg") != 0)
        return gc_errorf(GC_ERR_FORMAT, "image name '%s' does not end in .jpg", imname);
    char *path = gc_strfmt("%s/ImageAnnotation/%s/%.*s.json", root, cat, (int)(ln - 4), imname);
    if (!path) return GC_ERR_NOMEM;
    if (!gc_file_exists(path)) {
        gc_status s = gc_errorf(GC_ERR_MISSING, "%s: image annotation missing (a pair names image %s/%s)", path, cat,
                                imname);
        free(path);
        return s;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        spair_image *nv = gc_realloc_array(c->v, (size_t)cap, sizeof(spair_image));
        if (!nv) return free(path), GC_ERR_NOMEM;
        c->v = nv, c->cap = cap;
    }
    spair_image *im = &c->v[c->n];
    gc_status s = gc_spair_image_load(path, &im->a);
    free(path);
    if (s != GC_OK) return s;
    if (!(im->name = gc_strdup(imname))) return GC_ERR_NOMEM;
    c->n++;
    *out = &im->a;
    return GC_OK;
}

static void spair_cache_free(spair_cache *c) {
    for (int i = 0; i < c->n; i++) free(c->v[i].name);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static gc_status spair_pair(builder *b, const char *root, const char *cat, const char *file, spair_cache *cache) {
    cJSON *j;
    GC_TRY(gc_json_load(file, &j));
    gc_status s = GC_OK;
    const char *jc = json_str(j, "category"), *sn = json_str(j, "src_imname"), *tn = json_str(j, "trg_imname");
    double tb[4], sb[4], ssz[3], tsz[3], ssc;
    if (!jc || strcmp(jc, cat) != 0)
        s = gc_errorf(GC_ERR_FORMAT, "%s: 'category' is %s%s%s, expected \"%s\" (from the file name)", file,
                      jc ? "\"" : "", jc ? jc : "missing", jc ? "\"" : "", cat);
    else if (!sn || !tn) s = gc_errorf(GC_ERR_FORMAT, "%s: 'src_imname' and 'trg_imname' must be strings", file);
    if (s == GC_OK) s = json_nums(j, file, "trg_bndbox", 4, tb);
    if (s == GC_OK) s = json_nums(j, file, "src_bndbox", 4, sb);
    if (s == GC_OK) s = json_nums(j, file, "src_imsize", -2, ssz);
    if (s == GC_OK) s = json_nums(j, file, "trg_imsize", -2, tsz);
    if (s == GC_OK) s = check_size(file, ssz[0], ssz[1]);
    if (s == GC_OK) s = check_size(file, tsz[0], tsz[1]);
    const gc_spair_image *si = NULL, *ti = NULL;
    if (s == GC_OK) s = spair_image_get(cache, root, cat, sn, &si);
    if (s == GC_OK) s = spair_image_get(cache, root, cat, tn, &ti);
    if (s == GC_OK) {
        for (int k = 0; k < 2 && s == GC_OK; k++) {
            char *img = gc_strfmt("%s/JPEGImages/%s/%s", root, cat, k ? tn : sn);
            if (img && !gc_file_exists(img))
                s = gc_errorf(GC_ERR_MISSING, "%s: names image %s, which is missing", file, img);
            free(img);
        }
    }
    gc_eval_pair *p = NULL;
    if (s == GC_OK) s = push_pair(b, &p);
    if (s == GC_OK) {
        p->category = gc_strdup(cat), p->src_category = gc_strdup(cat), p->pair_file = gc_strdup(file);
        p->src = gc_strfmt("%s/%s", cat, sn), p->trg = gc_strfmt("%s/%s", cat, tn);
        if (!p->category || !p->src_category || !p->pair_file || !p->src || !p->trg) s = GC_ERR_NOMEM;
    }
    if (s == GC_OK) {
        float off[2];
        double sc = pair_set_kps(p, si->kps, ti->kps, 30, ssz[0], ssz[1], tsz[0], tsz[1], &ssc);
        p->thr_src = GC_MAX(sb[3] - sb[1], sb[2] - sb[0]) * ssc;
        memcpy(p->trg_kps_img, ti->kps, sizeof ti->kps); /* eval_spair.py scales by the image annotation's size */
        p->thr = GC_MAX(tb[3] - tb[1], tb[2] - tb[0]) * sc;
        double sci = kps_to_anno(p->trg_kps_img, 30, ti->w, ti->h, off);
        p->thr_img = (float)(ti->bbox_max * sci);
        memcpy(p->src_box, si->box, sizeof p->src_box), memcpy(p->trg_box, ti->box, sizeof p->trg_box);
        if (si->azimuth >= 0 && ti->azimuth >= 0) {
            int d = abs(si->azimuth - ti->azimuth);
            p->az = GC_MIN(d, 8 - d);
        }
    }
    cJSON_Delete(j);
    return s;
}

static gc_status load_spair(builder *b, const char *root, const char *split) {
    char *ia = gc_strfmt("%s/ImageAnnotation", root), *pd = gc_strfmt("%s/PairAnnotation/%s", root, split);
    char *jp = gc_strfmt("%s/JPEGImages", root);
    gc_status s = ia && pd && jp ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && !gc_dir_exists(jp))
        s = gc_errorf(GC_ERR_MISSING, "%s: folder missing (SPair-71k layout: JPEGImages/<category>/*.jpg)", jp);
    if (s == GC_OK) s = list_dir(ia, true, NULL, "SPair-71k layout: ImageAnnotation/<category>/*.json", &b->cats);
    strlist files = {0};
    if (s == GC_OK) s = list_dir(pd, false, ".json", "SPair-71k layout: PairAnnotation/{trn,val,test}/*:<category>.json", &files);
    for (int c = 0; s == GC_OK && c < b->cats.n; c++) {
        const char *cat = b->cats.v[c];
        char *suffix = gc_strfmt(":%s.json", cat);
        if (!suffix) s = GC_ERR_NOMEM;
        spair_cache cache = {0};
        for (int i = 0; s == GC_OK && i < files.n; i++) {
            size_t lf = strlen(files.v[i]), ls = strlen(suffix);
            if (lf < ls || strcmp(files.v[i] + lf - ls, suffix) != 0) continue;
            char *f = gc_strfmt("%s/%s", pd, files.v[i]);
            s = f ? spair_pair(b, root, cat, f, &cache) : GC_ERR_NOMEM;
            free(f);
        }
        spair_cache_free(&cache);
        free(suffix);
    }
    strlist_free(&files);
    free(ia), free(pd), free(jp);
    return s;
}

/* ---- AP-10K ----------------------------------------------------------------------------------- */

/* Resolve a repo-relative annotation path ("data/ap-10k/ImageAnnotation/...") against the parent of the
 * data/ folder holding root; when root is not inside a data/ folder, the "data/<dataset>/" prefix is
 * replaced by root itself. */
static char *ap10k_resolve(const char *root, const char *rel) {
    if (rel[0] == '/') return gc_strdup(rel);
    size_t lr = strlen(root);
    while (lr > 1 && root[lr - 1] == '/') lr--;
    const char *slash = NULL;
    for (const char *q = root; q < root + lr; q++)
        if (*q == '/') slash = q;
    size_t lparent = slash ? (size_t)(slash - root) : 0;
    const char *pname = root;
    for (const char *q = root; q < root + lparent; q++)
        if (*q == '/') pname = q + 1;
    if (slash && (size_t)(root + lparent - pname) == 4 && strncmp(pname, "data", 4) == 0) {
        size_t lbase = (size_t)(pname - root);
        return gc_strfmt("%.*s%s", (int)lbase, root, rel);
    }
    const char *rest = rel;
    if (strncmp(rest, "data/", 5) == 0) {
        const char *s2 = strchr(rest + 5, '/');
        if (s2) return gc_strfmt("%.*s/%s", (int)lr, root, s2 + 1);
    }
    return gc_strfmt("%.*s/%s", (int)lr, root, rel);
}

/* Image path relative to JPEGImages from an annotation path ".../ImageAnnotation/<f>/<s>/<id>.json". */
static char *ap10k_image_rel(const char *json_path) {
    const char *m = strstr(json_path, "ImageAnnotation/");
    if (!m) return NULL;
    const char *r = m + strlen("ImageAnnotation/");
    size_t ln = strlen(r);
    if (ln < 5 || strcmp(r + ln - 5, ".json") != 0) return NULL;
    return gc_strfmt("%.*s.jpg", (int)(ln - 5), r);
}

static gc_status ap10k_image(const char *root, const char *jpath, const char *pair_file, float kps[17][3],
                             double *w, double *h, double *bbox_max, float box[4]) {
    if (!gc_file_exists(jpath))
        return gc_errorf(GC_ERR_MISSING, "%s: names image annotation %s, which is missing", pair_file, jpath);
    cJSON *j;
    GC_TRY(gc_json_load(jpath, &j));
    double k[51], bb[4];
    gc_status s = json_num(j, jpath, "width", w);
    if (s == GC_OK) s = json_num(j, jpath, "height", h);
    if (s == GC_OK) s = check_size(jpath, *w, *h);
    if (s == GC_OK) s = json_nums(j, jpath, "bbox", 4, bb);
    if (s == GC_OK) s = json_nums(j, jpath, "keypoints", 51, k);
    for (int i = 0; s == GC_OK && i < 17; i++) {
        if (k[3 * i + 2] != 0 && k[3 * i + 2] != 1 && k[3 * i + 2] != 2)
            s = gc_errorf(GC_ERR_FORMAT, "%s: keypoint %d has visibility %g (expected 0, 1 or 2)", jpath, i, k[3 * i + 2]);
        else if (k[3 * i + 2] != 0) s = check_kp(jpath, i, k[3 * i], k[3 * i + 1], *w, *h);
        kps[i][0] = (float)k[3 * i], kps[i][1] = (float)k[3 * i + 1], kps[i][2] = (float)k[3 * i + 2] / 2;
    }
    cJSON_Delete(j);
    if (s == GC_OK) {
        *bbox_max = GC_MAX(bb[3], bb[2]);
        box[0] = (float)bb[0], box[1] = (float)bb[1], box[2] = (float)(bb[0] + bb[2]), box[3] = (float)(bb[1] + bb[3]);
    }
    return s;
}

static gc_status ap10k_pair(builder *b, const char *root, const char *cat, const char *file) {
    cJSON *j;
    GC_TRY(gc_json_load(file, &j));
    const char *sj = json_str(j, "src_json_path"), *tj = json_str(j, "trg_json_path");
    gc_status s = sj && tj ? GC_OK
                           : gc_errorf(GC_ERR_FORMAT, "%s: 'src_json_path' and 'trg_json_path' must be strings", file);
    char *sp = NULL, *tp = NULL;
    gc_eval_pair *p = NULL;
    if (s == GC_OK) {
        sp = ap10k_resolve(root, sj), tp = ap10k_resolve(root, tj);
        if (!sp || !tp) s = GC_ERR_NOMEM;
    }
    if (s == GC_OK) s = push_pair(b, &p);
    if (s == GC_OK) {
        p->category = gc_strdup(cat), p->pair_file = gc_strdup(file);
        p->src = ap10k_image_rel(sp), p->trg = ap10k_image_rel(tp);
        if (!p->src || !p->trg)
            s = gc_errorf(GC_ERR_FORMAT, "%s: annotation paths must look like .../ImageAnnotation/<family>/<species>/<id>.json",
                          file);
    }
    if (s == GC_OK) {
        const char *sl = strrchr(p->src, '/');
        const char *b0 = sl;
        while (b0 && b0 > p->src && b0[-1] != '/') b0--;
        p->src_category = sl && b0 ? gc_strfmt("%.*s", (int)(sl - b0), b0) : gc_strdup("");
        if (!p->category || !p->pair_file || !p->src_category) s = GC_ERR_NOMEM;
    }
    double sw, sh, tw, th, sbb, tbb;
    float sk[17][3], tk[17][3];
    if (s == GC_OK) s = ap10k_image(root, sp, file, sk, &sw, &sh, &sbb, p->src_box);
    if (s == GC_OK) s = ap10k_image(root, tp, file, tk, &tw, &th, &tbb, p->trg_box);
    for (int k = 0; k < 2 && s == GC_OK; k++) {
        char *img = gc_strfmt("%s/JPEGImages/%s", root, k ? p->trg : p->src);
        if (img && !gc_file_exists(img)) s = gc_errorf(GC_ERR_MISSING, "%s: names image %s, which is missing", file, img);
        free(img);
    }
    if (s == GC_OK) {
        double ssc;
        p->thr = tbb * pair_set_kps(p, sk, tk, 17, sw, sh, tw, th, &ssc);
        p->thr_src = sbb * ssc;
        p->thr_img = (float)p->thr;
    }
    free(sp), free(tp);
    cJSON_Delete(j);
    return s;
}

static gc_status load_ap10k(builder *b, const char *root, const char *split, gc_ap10k_subset subset) {
    char *ia = gc_strfmt("%s/ImageAnnotation", root);
    if (!ia) return GC_ERR_NOMEM;
    strlist fams = {0};
    gc_status s = list_dir(ia, true, NULL, "AP-10K layout: ImageAnnotation/<family>/<species>/*.json", &fams);
    for (int f = 0; s == GC_OK && f < fams.n; f++) {
        char *fd = gc_strfmt("%s/%s", ia, fams.v[f]);
        strlist sp = {0};
        s = fd ? list_dir(fd, true, NULL, "AP-10K layout: ImageAnnotation/<family>/<species>/", &sp) : GC_ERR_NOMEM;
        if (s == GC_OK && subset == GC_AP10K_INTRA)
            for (int i = 0; s == GC_OK && i < sp.n; i++) s = strlist_push(&b->cats, sp.v[i]);
        if (s == GC_OK && subset == GC_AP10K_CROSS_SPECIES && sp.n > 1) s = strlist_push(&b->cats, fams.v[f]);
        strlist_free(&sp);
        free(fd);
    }
    strlist_free(&fams);
    free(ia);
    if (s == GC_OK && subset == GC_AP10K_CROSS_FAMILY) s = strlist_push(&b->cats, "all");
    if (s != GC_OK) return s;
    qsort(b->cats.v, (size_t)b->cats.n, sizeof(char *), cmp_str);
    const char *suffix = subset == GC_AP10K_CROSS_SPECIES ? "_cross_species"
                         : subset == GC_AP10K_CROSS_FAMILY ? "_cross_family" : "";
    if (strcmp(split, "val") == 0) /* the reference drops king cheetah from val: it has no val images */
        for (int i = 0; i < b->cats.n; i++)
            if (strcmp(b->cats.v[i], "king cheetah") == 0) {
                free(b->cats.v[i]);
                memmove(&b->cats.v[i], &b->cats.v[i + 1], (size_t)(b->cats.n - i - 1) * sizeof(char *));
                b->cats.n--;
                break;
            }
    char *pd = gc_strfmt("%s/PairAnnotation/%s%s", root, split, suffix);
    strlist files = {0};
    s = pd ? list_dir(pd, false, ".json",
                      "AP-10K layout: PairAnnotation/{trn,val,test,val_cross_species,...}/<src>-<trg>:<category>.json", &files)
           : GC_ERR_NOMEM;
    for (int c = 0; s == GC_OK && c < b->cats.n; c++) {
        char *sfx = gc_strfmt(":%s.json", b->cats.v[c]);
        if (!sfx) s = GC_ERR_NOMEM;
        for (int i = 0; s == GC_OK && i < files.n; i++) {
            size_t lf = strlen(files.v[i]), ls = strlen(sfx);
            if (lf < ls || strcmp(files.v[i] + lf - ls, sfx) != 0) continue;
            char *f = gc_strfmt("%s/%s", pd, files.v[i]);
            s = f ? ap10k_pair(b, root, b->cats.v[c], f) : GC_ERR_NOMEM;
            free(f);
        }
        free(sfx);
    }
    strlist_free(&files);
    free(pd);
    return s;
}

/* ---- PF-Pascal -------------------------------------------------------------------------------- */

/* np.fromstring(text, sep=';') into at most 20 doubles. */
static gc_status parse_coords(const char *text, const char *file, int line, double *out, int *n) {
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v))
            return gc_errorf(GC_ERR_FORMAT, "%s:%d: bad coordinate list '%s'", file, line, text);
        if (*n >= 20) return gc_errorf(GC_ERR_FORMAT, "%s:%d: more than 20 keypoints", file, line);
        out[(*n)++] = v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ';') p++;
        else if (*p) return gc_errorf(GC_ERR_FORMAT, "%s:%d: bad coordinate list '%s'", file, line, text);
    }
    return GC_OK;
}

static gc_status image_size(const char *path, double *w, double *h) {
    int iw, ih, ic;
    if (!stbi_info(path, &iw, &ih, &ic))
        return gc_errorf(gc_file_exists(path) ? GC_ERR_FORMAT : GC_ERR_MISSING, "%s: %s", path,
                         gc_file_exists(path) ? "not a readable image" : "image missing");
    *w = iw, *h = ih;
    return GC_OK;
}

static gc_status pascal_mat_kps(const char *path, float kps[20][3]) {
#ifdef GEOCORR_HAVE_MATIO
    if (!gc_file_exists(path)) return gc_errorf(GC_ERR_MISSING, "%s: keypoint annotation missing", path);
    mat_t *m = Mat_Open(path, MAT_ACC_RDONLY);
    if (!m) return gc_errorf(GC_ERR_FORMAT, "%s: not a MATLAB file", path);
    matvar_t *v = Mat_VarRead(m, "kps");
    gc_status s = GC_OK;
    if (!v) s = gc_errorf(GC_ERR_MISSING, "%s: no variable 'kps'", path);
    else if (v->rank != 2 || v->dims[1] != 2 || v->dims[0] > 20 || v->class_type != MAT_C_DOUBLE || v->isComplex ||
             !v->data)
        s = gc_errorf(GC_ERR_FORMAT, "%s: 'kps' must be a real double N x 2 matrix with N <= 20", path);
    if (s == GC_OK) {
        const double *d = v->data;
        size_t n = v->dims[0];
        for (size_t i = 0; i < n; i++) {
            double x = d[i], y = d[n + i]; /* column-major */
            bool ok = !isnan(x) && !isnan(y);
            kps[i][0] = ok ? (float)x : 0, kps[i][1] = ok ? (float)y : 0, kps[i][2] = ok;
        }
    }
    if (v) Mat_VarFree(v);
    Mat_Close(m);
    return s;
#else
    return gc_errorf(GC_ERR_UNSUPPORTED, "%s: reading MATLAB files needs libmatio (geocorr was built without it)", path);
#endif
}

/* PF-Pascal has no instance boxes: the box of the visible keypoints (NaN without any). */
static void kps_box(const float (*kps)[3], int n, float box[4]) {
    box[0] = box[1] = INFINITY, box[2] = box[3] = -INFINITY;
    for (int i = 0; i < n; i++)
        if (kps[i][2] > 0) {
            box[0] = fminf(box[0], kps[i][0]), box[1] = fminf(box[1], kps[i][1]);
            box[2] = fmaxf(box[2], kps[i][0]), box[3] = fmaxf(box[3], kps[i][1]);
        }
    if (box[0] > box[2]) box[0] = box[1] = box[2] = box[3] = NAN;
}

/* Split one CSV line into up to 8 fields in place (no quoting in these files). */
static int csv_fields(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') *p = 0, f[n++] = p + 1;
    return n;
}

static gc_status load_pfpascal(builder *b, const char *root, const char *split) {
    bool train = strcmp(split, "train") == 0 || strcmp(split, "trn") == 0;
    char *csv = gc_strfmt("%s/%s_pairs_pf_pascal.csv", root, train ? "train" : split);
    char *ann = gc_strfmt("%s/Annotations", root);
    if (!csv || !ann) return free(csv), free(ann), GC_ERR_NOMEM;
    gc_status s = GC_OK;
    if (!gc_file_exists(csv))
        s = gc_errorf(GC_ERR_MISSING, "%s: pair list missing (PF-Pascal layout: <root>/{train,val,test}_pairs_pf_pascal.csv)", csv);
    if (s == GC_OK) s = list_dir(ann, true, NULL, "PF-Pascal layout: Annotations/<class>/ (the class list)", &b->cats);
    char *text = NULL;
    size_t len;
    if (s == GC_OK) s = gc_read_file(csv, &text, &len, 64u << 20);
    /* rows per class in file order */
    char *save = NULL;
    int line = 0, nrows = 0;
    char **rows = NULL;
    for (char *l = s == GC_OK ? strtok_r(text, "\n", &save) : NULL; l && s == GC_OK; l = strtok_r(NULL, "\n", &save)) {
        line++;
        size_t ll = strlen(l);
        if (ll && l[ll - 1] == '\r') l[ll - 1] = 0;
        if (line == 1 || !*l) continue; /* header */
        char **nr = gc_realloc_array(rows, (size_t)nrows + 1, sizeof(char *));
        if (!nr) s = GC_ERR_NOMEM;
        else rows = nr, rows[nrows++] = l;
    }
    char *base = NULL;
    if (s == GC_OK) {
        size_t lr = strlen(root);
        while (lr > 1 && root[lr - 1] == '/') lr--;
        base = gc_strfmt("%.*s/..", (int)lr, root);
        if (!base) s = GC_ERR_NOMEM;
    }
    for (int c = 0; s == GC_OK && c < b->cats.n; c++) {
        int cls = -1;
        for (int k = 0; k < 20; k++)
            if (strcmp(k_voc[k], b->cats.v[c]) == 0) cls = k + 1;
        if (cls < 0) {
            s = gc_errorf(GC_ERR_FORMAT, "%s/%s: not a PASCAL VOC class", ann, b->cats.v[c]);
            break;
        }
        for (int r = 0; s == GC_OK && r < nrows; r++) {
            char buf[8192], *f[8];
            snprintf(buf, sizeof buf, "%s", rows[r]);
            int nf = csv_fields(buf, f, 8);
            if (nf < 3 || (!train && nf < 7)) {
                s = gc_errorf(GC_ERR_FORMAT, "%s: row %d has %d columns, expected %d", csv, r + 2, nf, train ? 3 : 7);
                break;
            }
            char *end;
            long id = strtol(f[2], &end, 10);
            if (end == f[2] || id < 1 || id > 20) {
                s = gc_errorf(GC_ERR_FORMAT, "%s: row %d: class '%s' is not a VOC class id 1..20", csv, r + 2, f[2]);
                break;
            }
            if (id != cls) continue;
            gc_eval_pair *p;
            float sk[20][3] = {{0}}, tk[20][3] = {{0}};
            double sw = 0, sh = 0, tw = 0, th = 0;
            char *spath = gc_strfmt("%s/%s", base, f[0]), *tpath = gc_strfmt("%s/%s", base, f[1]);
            s = spath && tpath ? GC_OK : GC_ERR_NOMEM;
            if (s == GC_OK) s = image_size(spath, &sw, &sh);
            if (s == GC_OK) s = image_size(tpath, &tw, &th);
            if (s != GC_OK) s = gc_error_context(s, "%s row %d", csv, r + 2);
            if (s == GC_OK && !train) {
                double xa[20], ya[20], xb[20], yb[20];
                int nxa, nya, nxb, nyb;
                s = parse_coords(f[3], csv, r + 2, xa, &nxa);
                if (s == GC_OK) s = parse_coords(f[4], csv, r + 2, ya, &nya);
                if (s == GC_OK) s = parse_coords(f[5], csv, r + 2, xb, &nxb);
                if (s == GC_OK) s = parse_coords(f[6], csv, r + 2, yb, &nyb);
                if (s == GC_OK && (nxa != nya || nxb != nyb))
                    s = gc_errorf(GC_ERR_FORMAT, "%s: row %d: X and Y lists differ in length", csv, r + 2);
                /* padding rows are (-1, -1, vis 0): zeroed by the visibility multiply */
                for (int i = 0; s == GC_OK && i < 20; i++) {
                    sk[i][0] = i < nxa ? (float)xa[i] : -1, sk[i][1] = i < nxa ? (float)ya[i] : -1, sk[i][2] = i < nxa;
                    tk[i][0] = i < nxb ? (float)xb[i] : -1, tk[i][1] = i < nxb ? (float)yb[i] : -1, tk[i][2] = i < nxb;
                    if (i < nxa) s = check_kp(csv, i, xa[i], ya[i], sw, sh);
                    if (s == GC_OK && i < nxb) s = check_kp(csv, i, xb[i], yb[i], tw, th);
                }
            } else if (s == GC_OK) {
                for (int k = 0; k < 2 && s == GC_OK; k++) {
                    const char *bn = gc_basename(k ? f[1] : f[0]);
                    size_t lb = strlen(bn);
                    char *mat = gc_strfmt("%s/%s/%.*s.mat", ann, b->cats.v[c], (int)(lb > 4 ? lb - 4 : lb), bn);
                    s = mat ? pascal_mat_kps(mat, k ? tk : sk) : GC_ERR_NOMEM;
                    free(mat);
                }
            }
            if (s == GC_OK) s = push_pair(b, &p);
            if (s == GC_OK) {
                const char *sj = strstr(f[0], "JPEGImages/"), *tj = strstr(f[1], "JPEGImages/");
                p->category = gc_strdup(b->cats.v[c]), p->src_category = gc_strdup(b->cats.v[c]);
                p->src = gc_strdup(sj ? sj + 11 : f[0]), p->trg = gc_strdup(tj ? tj + 11 : f[1]);
                p->pair_file = gc_strfmt("%s row %d", csv, r + 2);
                if (!p->category || !p->src_category || !p->src || !p->trg || !p->pair_file) s = GC_ERR_NOMEM;
            }
            if (s == GC_OK) {
                double ssc;
                kps_box(sk, 20, p->src_box), kps_box(tk, 20, p->trg_box);
                pair_set_kps(p, sk, tk, 20, sw, sh, tw, th, &ssc);
                p->thr = GC_CANVAS_DINO, p->thr_img = GC_CANVAS_DINO, p->thr_src = GC_CANVAS_DINO;
            }
            free(spath), free(tpath);
        }
    }
    free(base), free(rows), free(text), free(csv), free(ann);
    return s;
}

/* ---- set ---------------------------------------------------------------------------------------- */

/* A pair's sort key: the comparator sees everything it needs (no file-scope state). */
typedef struct {
    const char *first, *second; /* image names in comparison order */
    int value;
} pair_key;

static int cmp_pair_key(const void *a, const void *b) {
    const pair_key *p = a, *q = b;
    int c = strcmp(p->first, q->first);
    if (!c) c = strcmp(p->second, q->second);
    return c ? c : p->value - q->value;
}

gc_status gc_eval_pairs_sort(const gc_eval_set *s, const int *sel, int *idx, int n, bool target_first) {
    pair_key *k = gc_alloc_array((size_t)GC_MAX(n, 1), sizeof *k);
    if (!k) return GC_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const gc_eval_pair *p = &s->pairs[sel ? sel[idx[i]] : idx[i]];
        k[i] = target_first ? (pair_key){p->trg, p->src, idx[i]} : (pair_key){p->src, p->trg, idx[i]};
    }
    qsort(k, (size_t)n, sizeof *k, cmp_pair_key);
    for (int i = 0; i < n; i++) idx[i] = k[i].value;
    gc_free(k);
    return GC_OK;
}

gc_status gc_eval_set_load(gc_eval_set *s, gc_dataset_kind kind, const char *root, const char *split,
                           gc_ap10k_subset subset) {
    memset(s, 0, sizeof *s);
    if (!gc_dir_exists(root)) return gc_errorf(GC_ERR_MISSING, "%s: dataset folder missing", root);
    builder b = {0};
    gc_status st = kind == GC_DS_SPAIR      ? load_spair(&b, root, split)
                   : kind == GC_DS_AP10K    ? load_ap10k(&b, root, split, subset)
                                            : load_pfpascal(&b, root, split);
    s->kind = kind;
    s->n_kps = kind == GC_DS_SPAIR ? 30 : kind == GC_DS_AP10K ? 17 : 20;
    s->categories = b.cats.v, s->n_categories = b.cats.n;
    s->pairs = b.pairs, s->n_pairs = b.n;
    if (st == GC_OK && s->n_pairs == 0)
        st = gc_errorf(GC_ERR_MISSING, "%s: no %s pairs found for split '%s'", root, gc_dataset_kind_name(kind), split);
    if (st == GC_OK && !(s->by_name = gc_alloc_array((size_t)s->n_pairs, sizeof(int)))) st = GC_ERR_NOMEM;
    if (st == GC_OK) {
        for (int i = 0; i < s->n_pairs; i++) s->by_name[i] = i;
        st = gc_eval_pairs_sort(s, NULL, s->by_name, s->n_pairs, false);
    }
    if (st != GC_OK) gc_eval_set_free(s);
    return st;
}

void gc_eval_set_free(gc_eval_set *s) {
    for (int i = 0; i < s->n_pairs; i++) pair_free(&s->pairs[i]);
    free(s->pairs);
    for (int i = 0; i < s->n_categories; i++) free(s->categories[i]);
    free(s->categories);
    gc_free(s->by_name);
    memset(s, 0, sizeof *s);
}

int gc_eval_set_find(const gc_eval_set *s, const char *src, const char *trg) {
    int lo = 0, hi = s->n_pairs;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const gc_eval_pair *p = &s->pairs[s->by_name[mid]];
        int c = strcmp(p->src, src);
        if (!c) c = strcmp(p->trg, trg);
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->n_pairs) {
        const gc_eval_pair *p = &s->pairs[s->by_name[lo]];
        if (strcmp(p->src, src) == 0 && strcmp(p->trg, trg) == 0) return s->by_name[lo];
    }
    return -1;
}

int gc_eval_used_points(const gc_eval_set *s, const int *pairs, int n, int *used) {
    int nu = 0;
    for (int j = 0; j < s->n_kps; j++) {
        bool any = false;
        for (int i = 0; i < n && !any; i++) any = s->pairs[pairs[i]].src_kps[j][2] != 0 || s->pairs[pairs[i]].trg_kps[j][2] != 0;
        if (any) used[nu++] = j;
    }
    return nu;
}

gc_status gc_eval_set_sample(const gc_eval_set *s, int n, int **idx, int *count) {
    *count = 0;
    int cap = s->n_pairs + (n > 0 ? n * s->n_categories : 0);
    if (!(*idx = gc_alloc_array((size_t)GC_MAX(cap, 1), sizeof(int)))) return GC_ERR_NOMEM;
    int start = 0;
    for (int c = 0; c < s->n_categories; c++) {
        int len = 0;
        while (start + len < s->n_pairs && strcmp(s->pairs[start + len].category, s->categories[c]) == 0) len++;
        if (n <= 0 || len == 0 || s->kind == GC_DS_PFPASCAL) { /* the PF-Pascal loader ignores sampling */
            for (int i = 0; i < len; i++) (*idx)[(*count)++] = start + i;
        } else {
            gc_np_random r;
            gc_np_random_seed(&r, 42); /* re-seeded per category, as load_*_data does */
            for (int i = 0; i < n; i++) { /* one draw at a time is the same stream as choice(len, n) */
                int64_t pick;
                gc_np_random_choice(&r, len, 1, &pick);
                (*idx)[(*count)++] = start + (int)pick;
            }
        }
        start += len;
    }
    return GC_OK;
}
