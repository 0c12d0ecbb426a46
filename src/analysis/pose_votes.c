/* Steps 6 and 7 of the pose-awareness test: the votes over the three template sets and the
 * accuracies, as pose_awareness_test.py computes them. */
#include <math.h>

#include "analysis/pose_test.h"

enum { BACK, FRONT, LEFT, RIGHT };

void gc_pose_vote(gc_pose_result *r) {
    const float *d = r->distances;
    int n_front = 0, n_right = 0;
    for (int s = 0; s < GC_POSE_SETS; s++) {
        const float *ds = d + 4 * s;
        /* (back - front) > 0: false for NaN, as torch compares */
        n_front += ds[BACK] - ds[FRONT] > 0;
        n_right += ds[LEFT] - ds[RIGHT] > 0;
        /* torch.argmin: the first minimum, a NaN being the minimum */
        int best = 0;
        for (int p = 1; p < 4 && !isnan(ds[best]); p++)
            if (isnan(ds[p]) || ds[p] < ds[best]) best = p;
        r->set_argmin[s] = best;
    }
    r->bf = n_front > 1 ? 'f' : 'b';
    r->lr = n_right > 1 ? 'r' : 'l';
    /* bincount(set_argmin).argmax(): the most frequent pose, the lowest index on ties */
    int count[4] = {0}, best = 0;
    for (int s = 0; s < GC_POSE_SETS; s++) count[r->set_argmin[s]]++;
    for (int p = 1; p < 4; p++)
        if (count[p] > count[best]) best = p;
    r->pose4 = "bflr"[best];
}

bool gc_pose_correct_2(char label, const gc_pose_result *r) { return label == r->bf || label == r->lr; }
bool gc_pose_correct_4(char label, const gc_pose_result *r) { return label == r->pose4; }

void gc_pose_count(gc_pose_counts *c, char label, const gc_pose_result *r) {
    c->total++;
    c->c2 += gc_pose_correct_2(label, r);
    c->c4 += gc_pose_correct_4(label, r);
    if (label == 'b' || label == 'f') {
        c->bf++;
        c->c2_fb += r->bf == label;
        c->c4_fb += r->pose4 == label;
    } else if (label == 'l' || label == 'r') {
        c->lr++;
        c->c2_lr += r->lr == label;
        c->c4_lr += r->pose4 == label;
    }
}

static double frac(int64_t k, int64_t n) { return n ? (double)k / (double)n : NAN; }

void gc_pose_metrics(const gc_pose_counts *c, double m[6]) {
    m[0] = frac(c->c2, c->total);
    m[1] = frac(c->c4, c->total);
    m[2] = frac(c->c2_lr, c->lr);
    m[3] = frac(c->c2_fb, c->bf);
    m[4] = frac(c->c4_lr, c->lr);
    m[5] = frac(c->c4_fb, c->bf);
}
