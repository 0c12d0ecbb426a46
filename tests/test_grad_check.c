/* Finite-difference checks of every backward pass on tiny inputs: GroupNorm, im2col/col2im (adjoint),
 * token normalisation, the whole post-processor (every parameter tensor: convs, GroupNorm affine,
 * ReLU, shortcut, mixing softmax), the CLIP loss (descriptors, logit_scale) and the soft-argmax loss
 * (descriptors, g_x, g_y). Central differences in float32 with step 1e-3 (1e-2 and 3e-3 already
 * cross ReLU kinks / GroupNorm curvature on some elements of the network);
 * tolerance |fd - analytic| <= 2e-2 * max(|analytic|, scale) (float32 rounding of the loss / h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/prng_weights.h"
#include "models/postproc.h"
#include "tensor/groupnorm.h"
#include "tensor/im2col.h"
#include "train/groupnorm_grad.h"
#include "train/loss.h"
#include "train/postproc_grad.h"
#include "testutil.h"

#define H_STEP 1e-3f
#define FD_TOL 2e-2

static void fill(const char *name, float *x, int64_t n, double offset, double scale) {
    gc_prng_fill(name, 7, offset, scale, x, n);
}

static double dotd(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void expect_fd(const char *what, double fd, double an, double scale) {
    const double err = fabs(fd - an), lim = FD_TOL * fmax(fabs(an), scale);
    if (err > lim) printf("  %-40s fd %.6g analytic %.6g err %.3g > %.3g\n", what, fd, an, err, lim);
    assert_true(err <= lim);
}

/* ---- GroupNorm ---- */
static double gn_loss(const float *x, const float *g, const float *b, const float *r, int64_t C, int64_t HW,
                      int64_t G) {
    float *y = malloc((size_t)(C * HW) * sizeof(float));
    gc_groupnorm_stats(y, x, g, b, C, HW, G, 1e-5f, NULL, NULL);
    const double l = dotd(y, r, C * HW);
    free(y);
    return l;
}

static void test_groupnorm(void **state) {
    (void)state;
    const int64_t C = 8, HW = 10, G = 4;
    float x[80], r[80], g[8], b[8], st[8], dx[80], dg[8] = {0}, db[8] = {0};
    fill("x", x, 80, 0.3, 1.0);
    fill("r", r, 80, 0, 1.0);
    fill("g", g, 8, 1, 0.2);
    fill("b", b, 8, 0, 0.1);
    float y[80];
    gc_groupnorm_stats(y, x, g, b, C, HW, G, 1e-5f, st, NULL);
    gc_groupnorm_backward(dx, dg, db, r, x, st, g, C, HW, G);
    float *params[3] = {x, g, b}, *grads[3] = {dx, dg, db};
    const int64_t sizes[3] = {80, 8, 8};
    for (int t = 0; t < 3; t++)
        for (int64_t i = 0; i < sizes[t]; i += 3) {
            const float keep = params[t][i];
            params[t][i] = keep + H_STEP;
            const double lp = gn_loss(x, g, b, r, C, HW, G);
            params[t][i] = keep - H_STEP;
            const double lm = gn_loss(x, g, b, r, C, HW, G);
            params[t][i] = keep;
            expect_fd("groupnorm", (lp - lm) / (2 * H_STEP), grads[t][i], 0.05);
        }
}

/* ---- im2col / col2im are adjoint: <im2col(x), c> == <x, col2im(c)> ---- */
static void test_col2im_adjoint(void **state) {
    (void)state;
    const int64_t C = 3, H = 5, W = 4, K = 3, n = C * K * K * H * W;
    float x[60], dx[60], *col = malloc((size_t)n * sizeof(float)), *c = malloc((size_t)n * sizeof(float));
    fill("x", x, 60, 0, 1);
    fill("c", c, n, 0, 1);
    gc_im2col(col, x, C, H, W, K);
    gc_col2im(dx, c, C, H, W, K);
    const double a = dotd(col, c, n), b = dotd(x, dx, 60);
    printf("  <im2col x, c> %.9g  <x, col2im c> %.9g\n", a, b);
    assert_true(fabs(a - b) <= 1e-5 * fabs(a));
    free(col);
    free(c);
}

/* ---- the post-processor: every parameter tensor, through the token normalisation ---- */
static gc_postproc make_tiny(void) {
    /* widths: groups 4 | 6 | 6 | 128 (identity shortcut), P = 128, bottleneck 32: the smallest
     * shapes 32-group GroupNorm allows */
    gc_weights *w = gc_weights_new("tiny-fd");
    const int64_t fd[4] = {4, 6, 6, 128}, P = 128, mid = 32;
    const char *convs[4] = {"conv1", "conv2", "conv3", "shortcut"};
    for (int i = 0; i < 4; i++) {
        const int64_t ws[4][4] = {{mid, fd[i], 1, 1}, {mid, mid, 3, 3}, {P, mid, 1, 1}, {P, fd[i], 1, 1}};
        const int64_t ns[4] = {mid, mid, P, P};
        for (int c = 0; c < (fd[i] == P ? 3 : 4); c++) {
            char name[96];
            const int64_t n = ws[c][0] * ws[c][1] * ws[c][2] * ws[c][3];
            float *p = gc_alloc_array((size_t)n, sizeof(float));
            snprintf(name, sizeof name, "bottleneck_layers.%d.0.%s.weight", i, convs[c]);
            fill(name, p, n, 0, sqrt(3.0 / (double)(ws[c][1] * ws[c][2] * ws[c][3])));
            assert_int_equal(gc_weights_add_owned_f32(w, name, 4, ws[c], p), GC_OK);
            for (int a = 0; a < 2; a++) {
                p = gc_alloc_array((size_t)ns[c], sizeof(float));
                snprintf(name, sizeof name, "bottleneck_layers.%d.0.%s.norm.%s", i, convs[c], a ? "bias" : "weight");
                fill(name, p, ns[c], a ? 0 : 1, a ? 0.1 : 0.2);
                assert_int_equal(gc_weights_add_owned_f32(w, name, 1, &ns[c], p), GC_OK);
            }
        }
    }
    float *mix = gc_alloc_array(4, sizeof(float));
    fill("mixing_weights", mix, 4, 1, 0.5);
    assert_int_equal(gc_weights_add_owned_f32(w, "mixing_weights", 1, (const int64_t[]){4}, mix), GC_OK);
    assert_int_equal(gc_weights_finalize(w), GC_OK);
    gc_postproc m;
    assert_int_equal(gc_postproc_from_weights(&m, w, 32), GC_OK);
    gc_weights_free(w);
    return m;
}

static double net_loss(const gc_postproc *m, const float *x, const float *r, int64_t S) {
    gc_pp_cache c;
    assert_int_equal(gc_postproc_forward_train(m, x, NULL, S, S, &c), GC_OK);
    const double l = dotd(c.desc, r, S * S * m->proj);
    gc_pp_cache_free(&c);
    return l;
}

static void test_postproc(void **state) {
    (void)state;
    gc_postproc m = make_tiny();
    const int64_t S = 5, HW = S * S, n = m.cin * HW;
    float *x = malloc((size_t)n * sizeof(float)), *r = malloc((size_t)(HW * m.proj) * sizeof(float));
    fill("input", x, n, 0, 1);
    fill("r", r, HW * m.proj, 0, 1);
    gc_pp_cache c;
    assert_int_equal(gc_postproc_forward_train(&m, x, NULL, S, S, &c), GC_OK);
    float *grad = calloc((size_t)m.n_params, sizeof(float));
    gc_pp_params gp;
    gc_postproc_bind(&m, grad, &gp);
    assert_int_equal(gc_postproc_backward(&m, &c, r, &gp), GC_OK);
    gc_pp_cache_free(&c);
    int checked = 0;
    for (int t = 0; t < m.n_tensors; t++) {
        const gc_pp_tensor *tt = &m.tensors[t];
        if (tt->ndim == 0) continue; /* logit scales: not used by the network */
        double scale = 0;
        for (int64_t j = 0; j < tt->numel; j++) scale = fmax(scale, fabs(grad[tt->offset + j]));
        /* a few elements per tensor, spread over it */
        for (int k = 0; k < 4; k++) {
            const int64_t j = tt->offset + (k * 7919) % tt->numel;
            const float keep = m.data[j];
            m.data[j] = keep + H_STEP;
            const double lp = net_loss(&m, x, r, S);
            m.data[j] = keep - H_STEP;
            const double lm = net_loss(&m, x, r, S);
            m.data[j] = keep;
            expect_fd(tt->name, (lp - lm) / (2 * H_STEP), grad[j], 0.05 * scale);
            checked++;
        }
    }
    printf("  %d parameter elements checked over %d tensors\n", checked, m.n_tensors - 2);
    free(grad);
    free(x);
    free(r);
    gc_postproc_clear(&m);
}

/* ---- losses: descriptors, logit_scale, g ---- */
typedef struct {
    float *S, *T, *g, ls;
    int64_t P, n, is[4], it[4];
    float gt[8];
} loss_case;

static double case_loss(const loss_case *c, int which) {
    float l;
    if (which == 0)
        assert_int_equal(gc_loss_clip(c->S, c->T, c->P, c->n, c->is, c->it, c->ls, 1, NULL, NULL, NULL, &l), GC_OK);
    else
        assert_int_equal(gc_loss_dense(c->S, c->T, c->P, 6, c->n, c->is, c->gt, c->g, 0.5f, 1, NULL, NULL, NULL, NULL, &l),
                         GC_OK);
    return l;
}

static void test_losses(void **state) {
    (void)state;
    loss_case c = {.P = 5, .n = 4, .is = {3, 17, 30, 17}, .it = {5, 8, 35, 20},
                   .gt = {1.5f, -2.0f, 0.3f, 2.2f, -1.0f, -3.0f, 4.0f, 0.5f}, .ls = 1.2f};
    const int64_t HW = 36, N = HW * c.P;
    c.S = malloc((size_t)N * sizeof(float));
    c.T = malloc((size_t)N * sizeof(float));
    c.g = malloc(12 * sizeof(float));
    fill("S", c.S, N, 0, 1);
    fill("T", c.T, N, 0, 1);
    for (int i = 0; i < 6; i++) c.g[i] = c.g[6 + i] = -1.0f + 0.4f * (float)i;
    /* beta 0.5 on a 6x6 grid keeps the soft-argmax smooth enough for float32 differences */
    for (int which = 0; which < 2; which++) {
        float *dS = calloc((size_t)N, sizeof(float)), *dT = calloc((size_t)N, sizeof(float)), dls = 0, dg[12] = {0}, l;
        if (which == 0)
            assert_int_equal(gc_loss_clip(c.S, c.T, c.P, c.n, c.is, c.it, c.ls, 1, dS, dT, &dls, &l), GC_OK);
        else
            assert_int_equal(gc_loss_dense(c.S, c.T, c.P, 6, c.n, c.is, c.gt, c.g, 0.5f, 1, dS, dT, dg, NULL, &l), GC_OK);
        float *vars[3] = {c.S, c.T, which ? c.g : &c.ls}, *grads[3] = {dS, dT, which ? dg : &dls};
        const int64_t sizes[3] = {N, N, which ? 12 : 1};
        const char *names[2][3] = {{"clip dS", "clip dT", "clip dlogit_scale"}, {"dense dS", "dense dT", "dense dg"}};
        for (int v = 0; v < 3; v++)
            for (int64_t j = 0; j < sizes[v]; j++) {
                if (sizes[v] == N && (j / c.P) != 17 && (j / c.P) != 5 && (j / c.P) != 20 && j % 11) continue;
                const float keep = vars[v][j];
                vars[v][j] = keep + H_STEP;
                const double lp = case_loss(&c, which);
                vars[v][j] = keep - H_STEP;
                const double lm = case_loss(&c, which);
                vars[v][j] = keep;
                expect_fd(names[which][v], (lp - lm) / (2 * H_STEP), grads[v][j], 0.02);
            }
        printf("  %s: loss %.6g, gradients match central differences\n", which ? "dense" : "clip", l);
        free(dS);
        free(dT);
    }
    free(c.S);
    free(c.T);
    free(c.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_col2im_adjoint),
        cmocka_unit_test(test_postproc),
        cmocka_unit_test(test_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
