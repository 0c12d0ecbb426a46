/* `geocorr trace pose-test --inputs IN.safetensors --labels L.json --out OUT.json [--features fused|dino|sd]
 * [--pairs]` (TRACE.md sec. 11): the pose-awareness test after the feature extraction, on stored raw maps
 * of the 12 templates and N targets with the targets' masks. --pairs adds the per-pair diagnostics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/pose_report.h"
#include "cli/cli.h"
#include "io/safetensors.h"

static const char *const k_maps[4] = {"s5", "s4", "s3", "dino"};

/* `<prefix>.<map>` as [C, H, W] (an optional leading 1); absent maps the mode does not need stay NULL. */
static gc_status read_maps(gc_weights *w, const char *prefix, gc_pose_features f, gc_pose_maps *m) {
    memset(m, 0, sizeof *m);
    for (int l = 0; l < 4; l++) {
        const gc_tensor_ref *r = gc_weights_findf(w, "%s.%s", prefix, k_maps[l]);
        bool need = l == 3 ? f != GC_POSE_SD : f != GC_POSE_DINO;
        if (!r) {
            if (need) return gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s.%s'", gc_weights_label(w), prefix, k_maps[l]);
            continue;
        }
        int off = r->ndim == 4;
        char buf[96];
        if ((r->ndim != 3 && r->ndim != 4) || (off && r->shape[0] != 1) || r->dtype != GC_DT_F32)
            return gc_errorf(GC_ERR_SHAPE, "%s: '%s' is %s %s; expected F32 [1, C, H, W]", gc_weights_label(w), r->name,
                             gc_dtype_name(r->dtype), gc_shape_str(r->ndim, r->shape, buf, sizeof buf));
        m->c[l] = r->shape[off], m->h[l] = r->shape[off + 1], m->w[l] = r->shape[off + 2];
        GC_TRY(gc_weights_f32(w, r->name, r->ndim, r->shape, &m->x[l]));
    }
    return GC_OK;
}

/* N: one more than the largest i of any `target.{i}.*` tensor. */
static gc_status count_targets(gc_weights *w, int64_t *n) {
    *n = 0;
    for (int64_t k = 0; k < gc_weights_count(w); k++) {
        const char *name = gc_weights_at(w, k)->name;
        char *end;
        if (strncmp(name, "target.", 7) != 0) continue;
        long long i = strtoll(name + 7, &end, 10);
        if (end == name + 7 || *end != '.' || i < 0 || i > 1000000)
            return gc_errorf(GC_ERR_FORMAT, "%s: tensor '%s' is not target.{i}.<map>", gc_weights_label(w), name);
        *n = GC_MAX(*n, i + 1);
    }
    if (*n == 0) return gc_errorf(GC_ERR_MISSING, "%s: no target.{i}.* tensors", gc_weights_label(w));
    return GC_OK;
}

static gc_status read_pca_q(gc_weights *w, int64_t q[3]) {
    q[0] = q[1] = q[2] = GC_POSE_PCA_Q;
    const gc_tensor_ref *r = gc_weights_find(w, "pca_q");
    if (!r) return GC_OK;
    if (r->dtype != GC_DT_I64 || r->numel != 3)
        return gc_errorf(GC_ERR_SHAPE, "%s: 'pca_q' must be I64 [3] (PCA dims of s5, s4, s3)", gc_weights_label(w));
    memcpy(q, r->data, 3 * sizeof(int64_t));
    for (int l = 0; l < 3; l++)
        if (q[l] < 1) return gc_errorf(GC_ERR_ARG, "%s: pca_q[%d] = %lld; PCA dims must be at least 1", gc_weights_label(w), l, (long long)q[l]);
    return GC_OK;
}

static gc_status run(gc_args *a) {
    const char *in, *labels_path, *out, *feat = gc_arg_str(a, "--features", "fused");
    bool want_pairs = gc_arg_flag(a, "--pairs");
    GC_TRY(gc_arg_req(a, "--inputs", &in));
    GC_TRY(gc_arg_req(a, "--labels", &labels_path));
    GC_TRY(gc_arg_req(a, "--out", &out));
    GC_TRY(gc_args_finish(a));
    gc_pose_opts o = {0};
    GC_TRY(gc_pose_features_parse(feat, &o.features));
    gc_pose_labels labels;
    GC_TRY(gc_pose_labels_load(labels_path, &labels));
    gc_weights *w = NULL;
    gc_pose_maps tmpl[GC_POSE_TEMPLATES];
    gc_pose_result *res = NULL;
    gc_pose_pair *pairs = NULL;
    cJSON *report = NULL;
    int64_t n = 0;
    gc_status s = gc_weights_open(in, &w);
    if (s == GC_OK) s = read_pca_q(w, o.pca_q);
    if (s == GC_OK) s = count_targets(w, &n);
    if (s == GC_OK && n != labels.n)
        s = gc_errorf(GC_ERR_ARG, "%s has %lld targets but %s labels %lld", in, (long long)n, labels_path, (long long)labels.n);
    for (int k = 0; k < GC_POSE_TEMPLATES && s == GC_OK; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "template.%d", k);
        s = read_maps(w, prefix, o.features, &tmpl[k]);
    }
    if (s == GC_OK) {
        res = gc_calloc((size_t)n, sizeof *res);
        pairs = want_pairs ? gc_calloc((size_t)(n * GC_POSE_TEMPLATES), sizeof *pairs) : NULL;
        if (!res || (want_pairs && !pairs)) s = GC_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n && s == GC_OK; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "target.%lld", (long long)i);
        gc_pose_maps m;
        s = read_maps(w, prefix, o.features, &m);
        const gc_tensor_ref *mk = s == GC_OK ? gc_weights_findf(w, "%s.mask", prefix) : NULL;
        if (s == GC_OK && !mk) s = gc_errorf(GC_ERR_MISSING, "%s: missing tensor '%s.mask' (U8 [H, W])", in, prefix);
        if (s == GC_OK && (mk->dtype != GC_DT_U8 || mk->ndim != 2 || mk->shape[0] < 1 || mk->shape[1] < 1))
            s = gc_errorf(GC_ERR_SHAPE, "%s: '%s.mask' must be a non-empty U8 [H, W] mask", in, prefix);
        if (s == GC_OK &&
            (s = gc_pose_target(tmpl, &m, mk->data, mk->shape[0], mk->shape[1], &o, &res[i],
                                pairs ? pairs + i * GC_POSE_TEMPLATES : NULL)) != GC_OK)
            gc_error_context(s, "%s: %s (\"%s\")", in, prefix, labels.names[i]);
    }
    if (s == GC_OK) {
        report = gc_pose_report(&labels, res, pairs);
        s = gc_pose_report_write(out, report);
    }
    cJSON_Delete(report);
    for (int64_t i = 0; pairs && i < n * GC_POSE_TEMPLATES; i++) gc_pose_pair_free(&pairs[i]);
    gc_free(pairs);
    gc_free(res);
    gc_weights_free(w);
    gc_pose_labels_free(&labels);
    return s;
}

const gc_command gc_trace_pose_test = {"pose-test", "pose-awareness test on stored maps: co-PCA, fusion, IMD at 128, votes, metrics", run};
