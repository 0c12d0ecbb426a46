/* The poses of the adaptive alignment (poses.h): names and sets, the pose of an image, of keypoints and
 * of a canvas, and the rotations' part of the alignment. */
#include "match/poses.h"

#include <math.h>
#include <string.h>

#include "pipeline/preprocess.h"

static const char *const k_names[GC_N_POSES] = {"original", "flip", "rot90", "rot180", "rot270"};
static const char *const k_suffix[GC_N_POSES] = {"", "_flip", "_rot90", "_rot180", "_rot270"};

const char *gc_pose_name(int pose) { return pose >= 0 && pose < GC_N_POSES ? k_names[pose] : "?"; }
const char *gc_pose_suffix(int pose) { return pose >= 0 && pose < GC_N_POSES ? k_suffix[pose] : "?"; }

gc_status gc_poses_parse(const char *text, unsigned *set) {
    *set = 0;
    if (!text || !*text) return gc_errorf(GC_ERR_ARG, "poses: empty list (expected auto or flip[,rot90,rot180,rot270])");
    if (strcmp(text, "auto") == 0) return *set = GC_POSES_AUTO, GC_OK;
    unsigned s = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int q = GC_POSE_FLIP; q < GC_N_POSES; q++)
            if (strlen(k_names[q]) == n && strncmp(p, k_names[q], n) == 0) found = q;
        if (found < 0)
            return gc_errorf(GC_ERR_ARG, "poses '%s': unknown pose '%.*s' (expected auto or flip[,rot90,rot180,rot270])", text,
                             (int)n, p);
        s |= 1u << found;
        p += n;
        if (*p == ',' && !*++p) return gc_errorf(GC_ERR_ARG, "poses '%s': empty entry after ','", text);
    }
    if (!(s & (1u << GC_POSE_FLIP)))
        return gc_errorf(GC_ERR_ARG, "poses '%s': the flip is always among the poses (the rotations are added to it): "
                                     "write flip,%s", text, text);
    *set = s;
    return GC_OK;
}

unsigned gc_poses_resolve(unsigned set, const char *category) {
    if (!(set & GC_POSES_AUTO)) return set;
    /* paper Supp. C: flip for every category, the three rotations for bottle only */
    return (1u << GC_POSE_FLIP) | (category && strcmp(category, "bottle") == 0 ? GC_POSES_ROTATIONS : 0);
}

gc_status gc_image_pose(const gc_image *img, int pose, gc_image *out) {
    memset(out, 0, sizeof *out);
    if (!img || !img->rgb) return gc_errorf(GC_ERR_ARG, "image pose: no image");
    if (pose < 0 || pose >= GC_N_POSES) return gc_errorf(GC_ERR_ARG, "image pose: %d is not a pose", pose);
    const int32_t w = img->w, h = img->h;
    const bool quarter = pose == GC_POSE_ROT90 || pose == GC_POSE_ROT270;
    GC_TRY(gc_image_alloc(out, quarter ? h : w, quarter ? w : h));
    if (pose == GC_POSE_FLIP) {
        gc_flip_rgb(img->rgb, w, h, out->rgb);
        return GC_OK;
    }
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            /* where pixel (x, y) goes: rot90 (y, w-1-x), rot180 (w-1-x, h-1-y), rot270 (h-1-y, x) */
            int32_t ox = x, oy = y;
            if (pose == GC_POSE_ROT90) ox = y, oy = w - 1 - x;
            else if (pose == GC_POSE_ROT180) ox = w - 1 - x, oy = h - 1 - y;
            else if (pose == GC_POSE_ROT270) ox = h - 1 - y, oy = x;
            memcpy(out->rgb + ((size_t)oy * out->w + ox) * 3, img->rgb + ((size_t)y * w + x) * 3, 3);
        }
    return GC_OK;
}

void gc_pose_rotate_kps(int pose, const float *kps, int64_t K, float S, float *out) {
    const float inside = nextafterf(S, 0.0f);
    for (int64_t k = 0; k < K; k++) {
        const float x = kps[3 * k], y = kps[3 * k + 1], v = kps[3 * k + 2];
        float ox = x, oy = y;
        if (pose == GC_POSE_ROT90) ox = y, oy = S - x;
        else if (pose == GC_POSE_ROT180) ox = S - x, oy = S - y;
        else if (pose == GC_POSE_ROT270) ox = S - y, oy = x;
        out[3 * k] = GC_MIN(ox, inside);
        out[3 * k + 1] = GC_MIN(oy, inside);
        out[3 * k + 2] = v;
    }
}

void gc_pose_canvas(int pose, const uint8_t *in, int32_t S, uint8_t *out) {
    for (int32_t y = 0; y < S; y++)
        for (int32_t x = 0; x < S; x++) {
            int32_t ox = x, oy = y;
            if (pose == GC_POSE_FLIP) ox = S - 1 - x;
            else if (pose == GC_POSE_ROT90) ox = y, oy = S - 1 - x;
            else if (pose == GC_POSE_ROT180) ox = S - 1 - x, oy = S - 1 - y;
            else if (pose == GC_POSE_ROT270) ox = S - 1 - y, oy = x;
            out[(size_t)oy * S + ox] = in[(size_t)y * S + x];
        }
}

gc_status gc_align_rotations(const float *const src_rot[GC_N_ROT], const float *trg, int64_t C, const float *src_kps,
                             const float *trg_kps, int64_t K, const float *const msrc_rot64[GC_N_ROT],
                             const float *mtrg64, const gc_match_params *m, gc_align_result *r) {
    const bool imd = mtrg64 != NULL;
    double best = r->flip_chosen ? r->dist_flip : r->dist_orig;
    int win = -1;
    for (int q = 0; q < GC_N_ROT; q++) {
        r->dist_rot[q] = NAN;
        if (!src_rot[q]) continue;
        if (imd && !msrc_rot64[q])
            return gc_errorf(GC_ERR_ARG, "pose %s: no source mask for the instance matching distance",
                             gc_pose_name(GC_POSE_ROT90 + q));
        GC_TRY(imd ? gc_imd(src_rot[q], trg, C, msrc_rot64[q], mtrg64, &r->dist_rot[q], NULL, NULL)
                   : gc_mnn_distance(src_rot[q], trg, GC_CELLS, C, &r->dist_rot[q]));
        if (r->dist_rot[q] < best) best = r->dist_rot[q], win = q; /* NaN never wins */
    }
    if (win < 0) return GC_OK;
    const int pose = GC_POSE_ROT90 + win;
    float *pred = gc_alloc_array((size_t)K * 2 + 1, sizeof(float)), *score = gc_alloc_array((size_t)K + 1, sizeof(float));
    int64_t *cells = gc_alloc_array((size_t)K + 1, sizeof(int64_t));
    r->kps_rot = gc_alloc_array((size_t)K * 3 + 1, sizeof(float));
    gc_status st = pred && score && cells && r->kps_rot ? GC_OK : GC_ERR_NOMEM;
    if (st == GC_OK) {
        gc_pose_rotate_kps(pose, src_kps, K, (float)GC_CANVAS_DINO, r->kps_rot);
        gc_kps_to_cells(r->kps_rot, K, cells);
        st = gc_match_cells(src_rot[win], trg, C, cells, K, m, pred, NULL, score);
    }
    if (st == GC_OK) {
        /* no keypoint changes sides in a rotation: each mutually visible point takes its own match */
        r->pose = pose;
        r->flip_chosen = false;
        memcpy(r->merged, r->pred, (size_t)K * 2 * sizeof(float));
        for (int64_t i = 0; i < K; i++) {
            r->from_flip[i] = false;
            if (src_kps[3 * i + 2] * (trg_kps ? trg_kps[3 * i + 2] : 1.0f) > 0) {
                r->merged[2 * i] = pred[2 * i], r->merged[2 * i + 1] = pred[2 * i + 1];
                r->score[i] = score[i];
            }
        }
    } else {
        gc_free(r->kps_rot);
        r->kps_rot = NULL;
    }
    gc_free(pred), gc_free(score), gc_free(cells);
    return st;
}
