#include "analysis/pose_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"

/* A number, or null for NaN / inf (JSON has neither). */
static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *char_str(char c) {
    char s[2] = {c, 0};
    return cJSON_CreateString(s);
}

static gc_pose_counts tally(const gc_pose_labels *labels, const gc_pose_result *res) {
    gc_pose_counts c = {0};
    for (int64_t i = 0; i < labels->n; i++) gc_pose_count(&c, labels->poses[i], &res[i]);
    return c;
}

static const char *const k_metric_names[6] = {"correct_2", "correct_4", "correct_2_lr", "correct_2_fb", "correct_4_lr", "correct_4_fb"};

static cJSON *target_json(const char *name, char label, const gc_pose_result *r) {
    cJSON *t = cJSON_CreateObject(), *d = cJSON_CreateArray(), *am = cJSON_CreateArray();
    for (int k = 0; k < GC_POSE_TEMPLATES; k++) cJSON_AddItemToArray(d, num(r->distances[k]));
    for (int s = 0; s < GC_POSE_SETS; s++) cJSON_AddItemToArray(am, cJSON_CreateNumber(r->set_argmin[s]));
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddItemToObject(t, "label", char_str(label));
    cJSON_AddNumberToObject(t, "n_masked", (double)r->n_masked);
    cJSON_AddItemToObject(t, "distances", d);
    cJSON_AddItemToObject(t, "set_argmin", am);
    cJSON_AddItemToObject(t, "bf", char_str(r->bf));
    cJSON_AddItemToObject(t, "lr", char_str(r->lr));
    cJSON_AddItemToObject(t, "pose4", char_str(r->pose4));
    cJSON_AddBoolToObject(t, "correct_2", gc_pose_correct_2(label, r));
    cJSON_AddBoolToObject(t, "correct_4", gc_pose_correct_4(label, r));
    return t;
}

static cJSON *sums_json(const gc_pose_desc_sums *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "template_sumabs", num(s->template_sumabs));
    cJSON_AddItemToObject(o, "target_sumabs", num(s->target_sumabs));
    cJSON_AddItemToObject(o, "colsum_dot", num(s->colsum_dot));
    cJSON_AddItemToObject(o, "template_colsum_sq", num(s->template_colsum_sq));
    cJSON_AddItemToObject(o, "target_colsum_sq", num(s->target_colsum_sq));
    cJSON_AddItemToObject(o, "cross_fro", num(s->cross_fro));
    return o;
}

static cJSON *pair_json(int k, int64_t i, const gc_pose_pair *p) {
    static const char *const layers[3] = {"s5", "s4", "s3"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "template", k);
    cJSON_AddNumberToObject(o, "target", (double)i);
    if (p->sv[0]) {
        cJSON *sv = cJSON_AddObjectToObject(o, "pca_sv");
        for (int l = 0; l < 3; l++) {
            cJSON *a = cJSON_AddArrayToObject(sv, layers[l]);
            for (int64_t j = 0; a && j < p->q[l]; j++) cJSON_AddItemToArray(a, num(p->sv[l][j]));
        }
    }
    if (p->has_desc) {
        cJSON *d = cJSON_AddObjectToObject(o, "desc");
        cJSON_AddItemToObject(d, "sd", sums_json(&p->sd));
        cJSON_AddItemToObject(d, "fused", sums_json(&p->fused));
    }
    return o;
}

cJSON *gc_pose_report(const gc_pose_labels *labels, const gc_pose_result *res, const gc_pose_pair *pairs) {
    cJSON *root = cJSON_CreateObject(), *targets = cJSON_AddArrayToObject(root, "targets");
    for (int64_t i = 0; targets && i < labels->n; i++)
        cJSON_AddItemToArray(targets, target_json(labels->names[i], labels->poses[i], &res[i]));
    gc_pose_counts c = tally(labels, res);
    double m[6];
    gc_pose_metrics(&c, m);
    cJSON *metrics = cJSON_AddObjectToObject(root, "metrics"), *counts = cJSON_AddObjectToObject(root, "counts");
    for (int j = 0; metrics && j < 6; j++) cJSON_AddItemToObject(metrics, k_metric_names[j], num(m[j]));
    const char *cn[9] = {"total", "lr", "bf", "2", "4", "2_lr", "2_fb", "4_lr", "4_fb"};
    const int64_t cv[9] = {c.total, c.lr, c.bf, c.c2, c.c4, c.c2_lr, c.c2_fb, c.c4_lr, c.c4_fb};
    for (int j = 0; counts && j < 9; j++) cJSON_AddNumberToObject(counts, cn[j], (double)cv[j]);
    if (pairs) {
        cJSON *pa = cJSON_AddArrayToObject(root, "pairs");
        for (int64_t i = 0; pa && i < labels->n; i++)
            for (int k = 0; k < GC_POSE_TEMPLATES; k++) cJSON_AddItemToArray(pa, pair_json(k, i, &pairs[i * GC_POSE_TEMPLATES + k]));
    }
    /* cJSON leaves a NULL item out silently: check the parts once here */
    if (!targets || !metrics || !counts || cJSON_GetArraySize(targets) != labels->n) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void gc_pose_report_print(FILE *f, const gc_pose_labels *labels, const gc_pose_result *res) {
    gc_pose_counts c = tally(labels, res);
    double m[6];
    gc_pose_metrics(&c, m);
    for (int j = 0; j < 6; j += 2) {
        char a[32], b[32];
        snprintf(a, sizeof a, isnan(m[j]) ? "n/a (no such label)" : "%.6g", m[j]);
        snprintf(b, sizeof b, isnan(m[j + 1]) ? "n/a (no such label)" : "%.6g", m[j + 1]);
        fprintf(f, "%s: %s, %s: %s\n", k_metric_names[j], a, k_metric_names[j + 1], b);
    }
}

gc_status gc_pose_report_write(const char *path, const cJSON *report) {
    char *text = report ? cJSON_Print(report) : NULL;
    if (!text) return gc_errorf(GC_ERR_NOMEM, "%s: out of memory building the report", path);
    gc_status st = gc_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}
