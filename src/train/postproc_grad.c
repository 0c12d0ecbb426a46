#include "train/postproc_grad.h"

#include <string.h>

#include "tensor/im2col.h"
#include "tensor/linear.h"
#include "train/groupnorm_grad.h"

void gc_postproc_descriptors_backward(float *dy, const float *ddesc, const float *y, const float *norm, int64_t P,
                                      int64_t HW) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < HW; t++) {
        const float n = norm[t], d = n + 1e-10f;
        double s = 0;
        for (int64_t c = 0; c < P; c++) s += (double)ddesc[t * P + c] * y[c * HW + t];
        /* d/dv of v/(|v|+e): I/(|v|+e) - v v^T / (|v| (|v|+e)^2); the second term vanishes at v = 0 */
        const float k = n > 0 ? (float)(s / ((double)n * d * d)) : 0.0f;
        for (int64_t c = 0; c < P; c++) dy[c * HW + t] = ddesc[t * P + c] / d - y[c * HW + t] * k;
    }
}

/* x *= (ref > 0): the ReLU backward (ref = the ReLU output). */
static void relu_mask(float *x, const float *ref, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (!(ref[i] > 0)) x[i] = 0.0f;
}

typedef struct {
    float *dz, *dh3, *dhs; /* [P, HW] */
    float *da2, *dh2, *da1, *dh1; /* [mid, HW] */
    float *col, *dcol; /* [mid*9, HW] */
} grad_scratch;

static gc_status block_backward(const gc_postproc *m, int i, const gc_pp_block_cache *b, const float *x, int64_t H,
                           int64_t W, const float *dout, gc_pp_block *g, const grad_scratch *s) {
    const gc_pp_block *k = &m->p.blk[i];
    const int64_t HW = H * W, cin = m->fd[i], mid = m->mid, P = m->proj, G = m->groups;
    const float *st = b->stats;
    memcpy(s->dz, dout, (size_t)(P * HW) * sizeof(float));
    relu_mask(s->dz, b->out, P * HW);
    gc_groupnorm_backward(s->dh3, g->g3, g->b3, s->dz, b->h3, st + 4 * G, k->g3, P, HW, G);
    if (k->ws) {
        gc_groupnorm_backward(s->dhs, g->gs, g->bs, s->dz, b->hs, st + 6 * G, k->gs, P, HW, G);
        GC_TRY(gc_matmul(g->ws, s->dhs, x, P, HW, cin, false, true, 1.0f, 1.0f));
    }
    GC_TRY(gc_matmul(g->w3, s->dh3, b->a2, P, HW, mid, false, true, 1.0f, 1.0f));
    GC_TRY(gc_matmul(s->da2, k->w3, s->dh3, mid, P, HW, true, false, 1.0f, 0.0f));
    relu_mask(s->da2, b->a2, mid * HW);
    gc_groupnorm_backward(s->dh2, g->g2, g->b2, s->da2, b->h2, st + 2 * G, k->g2, mid, HW, G);
    gc_im2col(s->col, b->a1, mid, H, W, 3);
    GC_TRY(gc_matmul(g->w2, s->dh2, s->col, mid, HW, mid * 9, false, true, 1.0f, 1.0f));
    GC_TRY(gc_matmul(s->dcol, k->w2, s->dh2, mid * 9, mid, HW, true, false, 1.0f, 0.0f));
    gc_col2im(s->da1, s->dcol, mid, H, W, 3);
    relu_mask(s->da1, b->a1, mid * HW);
    gc_groupnorm_backward(s->dh1, g->g1, g->b1, s->da1, b->h1, st, k->g1, mid, HW, G);
    return gc_matmul(g->w1, s->dh1, x, mid, HW, cin, false, true, 1.0f, 1.0f);
}

gc_status gc_postproc_backward(const gc_postproc *m, const gc_pp_cache *c, const float *ddesc,
                               gc_pp_params *grads) {
    const int64_t H = c->H, W = c->W, HW = H * W, P = m->proj, mid = m->mid;
    float *dy = gc_alloc_array((size_t)(P * HW), sizeof(float));
    float *dout = gc_alloc_array((size_t)(P * HW), sizeof(float));
    float *pool = gc_alloc_array((size_t)((3 * P + 4 * mid + 18 * mid) * HW), sizeof(float));
    if (!dy || !dout || !pool) {
        gc_free(dy);
        gc_free(dout);
        gc_free(pool);
        return gc_error_context(GC_ERR_NOMEM, "post-processor backward buffers");
    }
    grad_scratch s;
    float *p = pool;
    s.dz = p, p += P * HW;
    s.dh3 = p, p += P * HW;
    s.dhs = p, p += P * HW;
    s.da2 = p, p += mid * HW;
    s.dh2 = p, p += mid * HW;
    s.da1 = p, p += mid * HW;
    s.dh1 = p, p += mid * HW;
    s.col = p, p += 9 * mid * HW;
    s.dcol = p;
    gc_postproc_descriptors_backward(dy, ddesc, c->y, c->norm, P, HW);
    /* y = sum_i mix_i out_i, mix = softmax(logits): dmix_i = <dy, out_i>, then the softmax Jacobian */
    double dmix[GC_PP_GROUPS], dot = 0;
    for (int i = 0; i < m->n_groups; i++) {
        double acc = 0;
        const float *o = c->blk[i].out;
        for (int64_t j = 0; j < P * HW; j++) acc += (double)dy[j] * o[j];
        dmix[i] = acc;
        dot += acc * c->mix[i];
    }
    for (int i = 0; i < m->n_groups; i++) grads->mixing[i] += (float)(c->mix[i] * (dmix[i] - dot));
    int64_t off = 0;
    gc_status st = GC_OK;
    for (int i = 0; i < m->n_groups && st == GC_OK; i++) {
        const float mi = c->mix[i];
        for (int64_t j = 0; j < P * HW; j++) dout[j] = dy[j] * mi;
        st = block_backward(m, i, &c->blk[i], c->x + off * HW, H, W, dout, &grads->blk[i], &s);
        off += m->fd[i];
    }
    gc_free(dy);
    gc_free(dout);
    gc_free(pool);
    return st;
}
