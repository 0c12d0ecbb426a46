#include "train/loss.h"

#include <math.h>
#include <string.h>

#include "tensor/linear.h"

static gc_status check_cells(const int64_t *idx, int64_t n, int64_t HW) {
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= HW)
            return gc_errorf(GC_ERR_ARG, "keypoint %lld maps to cell %lld, outside the %lld-cell grid",
                             (long long)i, (long long)idx[i], (long long)HW);
    return GC_OK;
}

static float *gather_rows(const float *X, const int64_t *idx, int64_t n, int64_t P) {
    float *r = gc_alloc_array((size_t)(n * P), sizeof(float));
    if (r)
        for (int64_t i = 0; i < n; i++) memcpy(r + i * P, X + idx[i] * P, (size_t)P * sizeof(float));
    return r;
}

/* dX[idx[i]] += R[i] in row order (duplicate cells accumulate deterministically). */
static void scatter_rows(float *dX, const float *R, const int64_t *idx, int64_t n, int64_t P) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < P; c++) dX[idx[i] * P + c] += R[i * P + c];
}

gc_status gc_loss_clip(const float *S, const float *T, int64_t P, int64_t n, const int64_t *is, const int64_t *it,
                       float logit_scale, float grad_scale, float *dS, float *dT, float *dlogit_scale,
                       float *loss) {
    if (n <= 0) return gc_errorf(GC_ERR_ARG, "sparse loss: no visible keypoints");
    const float tau = expf(logit_scale);
    float *Fs = gather_rows(S, is, n, P), *Ft = gather_rows(T, it, n, P);
    float *L = gc_alloc_array((size_t)(n * n), sizeof(float));
    float *G = gc_alloc_array((size_t)(n * n), sizeof(float));
    float *dF = gc_alloc_array((size_t)(n * P), sizeof(float));
    gc_status s = Fs && Ft && L && G && dF ? GC_OK : gc_error_context(GC_ERR_NOMEM, "sparse loss");
    if (s == GC_OK) {
        for (int64_t j = 0; j < n * P; j++) dF[j] = tau * Fs[j]; /* (tau * Fs) @ Ft^T as the reference */
        s = gc_matmul(L, dF, Ft, n, P, n, false, true, 1.0f, 0.0f);
    }
    if (s == GC_OK) {
        /* row softmax (logits_per_image) and column softmax (logits_per_text = L^T) */
        double total = 0;
        memset(G, 0, (size_t)(n * n) * sizeof(float));
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t r = 0; r < n; r++) {
                /* element (r, k) of the pass's logit matrix */
#define GC_CLIP_AT(k) (pass == 0 ? L[r * n + (k)] : L[(k) * n + r])
                float mx = GC_CLIP_AT(0);
                for (int64_t k = 1; k < n; k++) mx = fmaxf(mx, GC_CLIP_AT(k));
                double sum = 0;
                for (int64_t k = 0; k < n; k++) sum += exp((double)GC_CLIP_AT(k) - mx);
                total += -((double)GC_CLIP_AT(r) - mx - log(sum)) / (double)n;
                for (int64_t k = 0; k < n; k++) {
                    const double p = exp((double)GC_CLIP_AT(k) - mx) / sum - (k == r ? 1.0 : 0.0);
                    float *gk = pass == 0 ? &G[r * n + k] : &G[k * n + r];
                    *gk += (float)(p / (2.0 * (double)n) * grad_scale);
                }
#undef GC_CLIP_AT
            }
        }
        *loss = (float)(total / 2.0);
        if (dS) {
            double dl = 0;
            for (int64_t j = 0; j < n * n; j++) dl += (double)G[j] * L[j];
            *dlogit_scale += (float)dl; /* d/dlogit_scale of tau*x = tau*x */
            s = gc_matmul(dF, G, Ft, n, n, P, false, false, tau, 0.0f);
            if (s == GC_OK) scatter_rows(dS, dF, is, n, P);
            if (s == GC_OK) s = gc_matmul(dF, G, Fs, n, n, P, true, false, tau, 0.0f);
            if (s == GC_OK) scatter_rows(dT, dF, it, n, P);
        }
    }
    gc_free(Fs);
    gc_free(Ft);
    gc_free(L);
    gc_free(G);
    gc_free(dF);
    return s;
}

/* Soft-argmax of rows Sr[n,P] against T: probabilities Pr[n,HW] (softmax of (c - max)/beta, as
 * SFNet's softmax_with_temperature) and the predicted flow of source cells cells[n]. */
static gc_status soft_argmax_rows(const float *Sr, const float *T, int64_t P, int64_t side, int64_t n,
                                  const int64_t *cells, const float *g, float beta, float *Pr, float *flow) {
    const int64_t HW = side * side;
    GC_TRY(gc_matmul(Pr, Sr, T, n, P, HW, false, true, 1.0f, 0.0f));
    const float half = (float)(side - 1) / 2.0f;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *p = Pr + i * HW;
        float mx = p[0];
        for (int64_t t = 1; t < HW; t++) mx = fmaxf(mx, p[t]);
        double sum = 0;
        for (int64_t t = 0; t < HW; t++) sum += p[t] = expf((p[t] - mx) / beta);
        const float inv = (float)sum;
        double ex = 0, ey = 0;
        for (int64_t t = 0; t < HW; t++) {
            p[t] /= inv;
            ex += (double)p[t] * g[t % side];
            ey += (double)p[t] * g[side + t / side];
        }
        /* unnormalise_and_convert_mapping_to_flow: (e + 1) * (side - 1) / 2 - cell */
        flow[2 * i] = ((float)ex + 1.0f) * (float)(side - 1) / 2.0f - (float)(cells[i] % side);
        flow[2 * i + 1] = ((float)ey + 1.0f) * (float)(side - 1) / 2.0f - (float)(cells[i] / side);
        (void)half;
    }
    return GC_OK;
}

gc_status gc_loss_dense(const float *S, const float *T, int64_t P, int64_t side, int64_t n, const int64_t *is,
                        const float *gt, const float *g, float beta, float grad_scale, float *dS, float *dT,
                        float *dg, float *flow, float *loss) {
    const int64_t HW = side * side;
    if (n <= 0) return gc_errorf(GC_ERR_ARG, "dense loss: no visible keypoints");
    GC_TRY(check_cells(is, n, HW));
    float *Sr = gather_rows(S, is, n, P);
    float *Pr = gc_alloc_array((size_t)(n * HW), sizeof(float));
    float *fl = gc_alloc_array((size_t)(2 * n), sizeof(float));
    float *dF = dS ? gc_alloc_array((size_t)(n * P), sizeof(float)) : NULL;
    gc_status s = Sr && Pr && fl && (!dS || dF) ? GC_OK : gc_error_context(GC_ERR_NOMEM, "dense loss");
    if (s == GC_OK) s = soft_argmax_rows(Sr, T, P, side, n, is, g, beta, Pr, fl);
    if (s == GC_OK) {
        if (flow) memcpy(flow, fl, (size_t)(2 * n) * sizeof(float));
        double total = 0;
        for (int64_t i = 0; i < n; i++) {
            const float dx = fl[2 * i] - gt[2 * i], dy = fl[2 * i + 1] - gt[2 * i + 1];
            total += sqrtf(dx * dx + dy * dy);
        }
        *loss = (float)(total / (double)n);
    }
    if (s == GC_OK && dS) {
        const float half = (float)(side - 1) / 2.0f;
        for (int64_t i = 0; i < n; i++) {
            const float dx = fl[2 * i] - gt[2 * i], dy = fl[2 * i + 1] - gt[2 * i + 1];
            const float d = sqrtf(dx * dx + dy * dy);
            /* d|e|/de = e/|e| (0 at e = 0, as torch.norm's backward); then d flow / d E = (side-1)/2 */
            const float k = d > 0 ? grad_scale / ((float)n * d) * half : 0.0f;
            const float dex = dx * k, dey = dy * k;
            float *p = Pr + i * HW;
            double dot = 0;
            for (int64_t t = 0; t < HW; t++) {
                const float dp = dex * g[t % side] + dey * g[side + t / side];
                dg[t % side] += p[t] * dex;
                dg[side + t / side] += p[t] * dey;
                dot += (double)p[t] * dp;
            }
            /* softmax backward, then the 1/beta of (c - max)/beta; p becomes dC */
            for (int64_t t = 0; t < HW; t++) {
                const float dp = dex * g[t % side] + dey * g[side + t / side];
                p[t] = p[t] * (dp - (float)dot) / beta;
            }
        }
        s = gc_matmul(dF, Pr, T, n, HW, P, false, false, 1.0f, 0.0f);
        if (s == GC_OK) scatter_rows(dS, dF, is, n, P);
        if (s == GC_OK) s = gc_matmul(dT, Pr, Sr, HW, n, P, true, false, 1.0f, 1.0f);
    }
    gc_free(Sr);
    gc_free(Pr);
    gc_free(fl);
    gc_free(dF);
    return s;
}

gc_status gc_flow_map(const float *S, const float *T, int64_t P, int64_t side, const float *g, float beta,
                      float *flow) {
    const int64_t HW = side * side, chunk = 512;
    float *Pr = gc_alloc_array((size_t)(chunk * HW), sizeof(float));
    int64_t *cells = gc_alloc_array((size_t)chunk, sizeof(int64_t));
    if (!Pr || !cells) {
        gc_free(Pr);
        gc_free(cells);
        return gc_error_context(GC_ERR_NOMEM, "flow map");
    }
    for (int64_t r0 = 0; r0 < HW; r0 += chunk) {
        const int64_t n = GC_MIN(chunk, HW - r0);
        for (int64_t i = 0; i < n; i++) cells[i] = r0 + i;
        soft_argmax_rows(S + r0 * P, T, P, side, n, cells, g, beta, Pr, flow + 2 * r0);
    }
    gc_free(Pr);
    gc_free(cells);
    return GC_OK;
}
