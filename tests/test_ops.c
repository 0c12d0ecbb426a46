/* The tensor op families against straightforward double-precision references, the bicubic
 * position-embedding resamplers against the DINOv2 fixtures, and thread-count determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/activation.h"
#include "tensor/attention.h"
#include "tensor/layernorm.h"
#include "tensor/linear.h"
#include "tensor/resample.h"
#include "testutil.h"

static uint64_t g_rng = 0x1234567;
static float frand(void) { /* uniform [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static float *rand_buf(int64_t n, float scale) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* max|got - want| / max|want|, printed. */
static double rel_err(const char *what, const float *got, const double *want, int64_t n) {
    double md = 0, mw = 0;
    for (int64_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)got[i] - want[i]));
        mw = fmax(mw, fabs(want[i]));
    }
    double r = md / (mw > 0 ? mw : 1);
    printf("  %-28s max|diff|/max|ref| = %.2e\n", what, r);
    return r;
}

static void test_linear(void **state) {
    int64_t N = 37, K = 70, O = 29;
    float *x = rand_buf(N * K, 1), *W = rand_buf(O * K, 0.5f), *b = rand_buf(O, 0.1f);
    float *y = malloc(N * O * sizeof(float)), *y2 = malloc(N * O * sizeof(float));
    double *ref = malloc(N * O * sizeof(double)), *ref2 = malloc(N * O * sizeof(double));
    gc_linear(y, x, W, b, N, K, O);
    gc_linear(y2, x, W, NULL, N, K, O);
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)x[n * K + k] * W[o * K + k];
            ref[n * O + o] = s + b[o];
            ref2[n * O + o] = s;
        }
    assert_true(rel_err("linear", y, ref, N * O) < 1e-6);
    assert_true(rel_err("linear (no bias)", y2, ref2, N * O) < 1e-6);
    /* matmul with every transpose combination, alpha and beta; several C tiles (256 x 512) */
    int64_t M = 300, Kk = 21, Nn = 530;
    float *A = rand_buf(M * Kk, 1), *B = rand_buf(Kk * Nn, 1), *C0 = rand_buf(M * Nn, 1);
    float *At = malloc(M * Kk * sizeof(float)), *Bt = malloc(Kk * Nn * sizeof(float));
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < Kk; k++) At[k * M + i] = A[i * Kk + k];
    for (int64_t k = 0; k < Kk; k++)
        for (int64_t j = 0; j < Nn; j++) Bt[j * Kk + k] = B[k * Nn + j];
    double *refc = malloc(M * Nn * sizeof(double));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < Nn; j++) {
            double s = 0;
            for (int64_t k = 0; k < Kk; k++) s += (double)A[i * Kk + k] * B[k * Nn + j];
            refc[i * Nn + j] = 0.5 * s + 2.0 * C0[i * Nn + j];
        }
    for (int t = 0; t < 4; t++) {
        float *C = malloc(M * Nn * sizeof(float));
        memcpy(C, C0, M * Nn * sizeof(float));
        bool ta = t & 1, tb = t & 2;
        gc_matmul(C, ta ? At : A, tb ? Bt : B, M, Kk, Nn, ta, tb, 0.5f, 2.0f);
        char what[64];
        snprintf(what, sizeof what, "matmul ta=%d tb=%d", ta, tb != 0);
        assert_true(rel_err(what, C, refc, M * Nn) < 1e-6);
        free(C);
    }
    free(x), free(W), free(b), free(y), free(y2), free(ref), free(ref2);
    free(A), free(B), free(C0), free(At), free(Bt), free(refc);
}

/* gc_linear_act (bias and activation applied per tile, in cache) gives the bytes of gc_linear followed
 * by the activation pass, at a shape of several tiles with ragged ends (600 x 1100: 2 x 3 tiles). */
static void test_linear_act(void **state) {
    const int64_t N = 600, K = 48, O = 1100;
    float *x = rand_buf(N * K, 2), *W = rand_buf(O * K, 0.5f), *b = rand_buf(O, 0.3f);
    float *y = malloc(N * O * sizeof(float)), *y2 = malloc(N * O * sizeof(float));
    const gc_act acts[] = {GC_ACT_NONE, GC_ACT_GELU_ERF, GC_ACT_QUICK_GELU, GC_ACT_SILU};
    for (int i = 0; i < 4; i++)
        for (int withb = 0; withb < 2; withb++) {
            assert_int_equal(gc_linear_act(y, x, W, withb ? b : NULL, N, K, O, acts[i]), GC_OK);
            assert_int_equal(gc_linear(y2, x, W, withb ? b : NULL, N, K, O), GC_OK);
            gc_act_apply(acts[i], y2, N * O);
            assert_memory_equal(y, y2, N * O * sizeof(float));
        }
    free(x), free(W), free(b), free(y), free(y2);
}

static void test_layernorm(void **state) {
    int64_t N = 9, C = 300;
    float *x = rand_buf(N * C, 3), *w = rand_buf(C, 1), *b = rand_buf(C, 1);
    for (int64_t i = 0; i < N * C; i++) x[i] += 5.0f; /* a large mean exercises the two-pass variance */
    float *y = malloc(N * C * sizeof(float));
    double *ref = malloc(N * C * sizeof(double)), *ref2 = malloc(N * C * sizeof(double));
    for (int64_t n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < C; c++) m += x[n * C + c];
        m /= C;
        for (int64_t c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
        v /= C;
        for (int64_t c = 0; c < C; c++) {
            double t = (x[n * C + c] - m) / sqrt(v + 1e-6);
            ref[n * C + c] = t * w[c] + b[c];
            ref2[n * C + c] = t;
        }
    }
    gc_layernorm(y, x, w, b, N, C, 1e-6f);
    assert_true(rel_err("layernorm", y, ref, N * C) < 1e-6);
    memcpy(y, x, N * C * sizeof(float));
    gc_layernorm(y, y, NULL, NULL, N, C, 1e-6f); /* in place, no affine */
    assert_true(rel_err("layernorm in place, no w/b", y, ref2, N * C) < 1e-6);
    free(x), free(w), free(b), free(y), free(ref), free(ref2);
}

static void test_activations(void **state) {
    int64_t n = 2001;
    float *x = rand_buf(n, 8), *y = malloc(n * sizeof(float));
    double *ref = malloc(n * sizeof(double));
    struct {
        const char *name;
        void (*f)(float *, int64_t);
        int kind;
    } acts[] = {{"gelu_erf", gc_gelu_erf, 0}, {"quick_gelu", gc_quick_gelu, 1}, {"silu", gc_silu, 2}, {"relu", gc_relu, 3}};
    for (size_t a = 0; a < 4; a++) {
        for (int64_t i = 0; i < n; i++) {
            double v = x[i];
            ref[i] = acts[a].kind == 0   ? 0.5 * v * (1 + erf(v / sqrt(2.0)))
                     : acts[a].kind == 1 ? v / (1 + exp(-1.702 * v))
                     : acts[a].kind == 2 ? v / (1 + exp(-v))
                                         : (v > 0 ? v : 0);
        }
        memcpy(y, x, n * sizeof(float));
        acts[a].f(y, n);
        assert_true(rel_err(acts[a].name, y, ref, n) < 1e-6);
    }
    /* softmax rows, including a row of huge values (max subtraction) */
    int64_t R = 5, C = 77;
    float *s = rand_buf(R * C, 10);
    for (int64_t c = 0; c < C; c++) s[C + c] += 1000.0f;
    double *rs = malloc(R * C * sizeof(double));
    for (int64_t r = 0; r < R; r++) {
        double m = -INFINITY, z = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, s[r * C + c]);
        for (int64_t c = 0; c < C; c++) z += exp(s[r * C + c] - m);
        for (int64_t c = 0; c < C; c++) rs[r * C + c] = exp(s[r * C + c] - m) / z;
    }
    gc_softmax_rows(s, R, C);
    assert_true(rel_err("softmax_rows", s, rs, R * C) < 1e-6);
    free(x), free(y), free(ref), free(s), free(rs);
}

/* Naive double attention over strided q/k/v. */
static void ref_attention(double *out, const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v,
                          int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads, int64_t hd, double scale,
                          bool causal) {
    double *p = malloc(Tk * sizeof(double));
    for (int64_t h = 0; h < heads; h++)
        for (int64_t t = 0; t < Tq; t++) {
            int64_t n = causal ? t + 1 : Tk;
            double m = -INFINITY, z = 0;
            for (int64_t s = 0; s < n; s++) {
                double d = 0;
                for (int64_t j = 0; j < hd; j++) d += (double)q[t * ldq + h * hd + j] * k[s * ldk + h * hd + j];
                p[s] = d * scale;
                m = fmax(m, p[s]);
            }
            for (int64_t s = 0; s < n; s++) z += (p[s] = exp(p[s] - m));
            for (int64_t j = 0; j < hd; j++) {
                double o = 0;
                for (int64_t s = 0; s < n; s++) o += p[s] * v[s * ldv + h * hd + j];
                out[t * heads * hd + h * hd + j] = o / z;
            }
        }
    free(p);
}

static void check_attention(const char *what, int64_t Tq, int64_t Tk, int64_t heads, int64_t hd, bool causal,
                            float amp) {
    int64_t D = heads * hd;
    /* fused qkv buffer (row stride 3D) for self-attention, separate k/v buffers otherwise */
    float *qkv = rand_buf(GC_MAX(Tq, Tk) * 3 * D, amp);
    float *out = malloc(Tq * D * sizeof(float));
    double *ref = malloc(Tq * D * sizeof(double));
    ref_attention(ref, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, Tq, Tk, heads, hd, 1.0 / sqrt((double)hd),
                  causal);
    /* both kernels: the portable one (x86-64-v3 cap) and, on AVX-512 CPUs, the fused one; float32
     * scores and sums over <= 600 keys stay within 1e-5 of the double reference */
    for (int level = 3; level <= 4; level++) {
        gc_cpu_limit(level);
        char name[128];
        snprintf(name, sizeof name, "%s [cpu level %d]", what, gc_cpu_level());
        gc_status s = gc_attention(out, D, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, Tq, Tk, heads, hd,
                                   1.0f / sqrtf((float)hd), causal);
        assert_int_equal(s, GC_OK);
        assert_true(rel_err(name, out, ref, Tq * D) < 1e-5);
    }
    free(qkv), free(out), free(ref);
}

static void test_attention(void **state) {
    /* sizes cross several query blocks (256 portable, 144 fused in tiles of 48 queries with ragged 16-
     * and 32-query tiles) and key blocks (256 portable, 64 fused in 8-key tiles) with ragged ends; head
     * widths whose last fused output tile has 1..7 of its 8 columns, and one above 256 (served by the
     * portable kernel) */
    check_attention("attention 300x600 h3 hd16", 300, 600, 3, 16, false, 1);
    check_attention("attention 77x77 causal", 77, 77, 2, 8, true, 1);
    check_attention("attention 530x530 causal", 530, 530, 2, 32, true, 1);
    check_attention("attention 250x140 hd40", 250, 140, 2, 40, false, 1);
    check_attention("attention 100x77 hd160", 100, 77, 2, 160, false, 1);
    check_attention("attention 60x70 hd300", 60, 70, 1, 300, false, 1);
    check_attention("attention peaked scores", 200, 300, 2, 64, false, 6); /* exercises the running max */
    check_attention("attention 1 key", 5, 1, 1, 4, false, 1);
    for (int64_t hd = 9; hd <= 15; hd++) check_attention("attention 70x90 hd9..15", 70, 90, 1, hd, false, 1);
    float x = 0;
    assert_int_equal(gc_attention(&x, 1, &x, 1, &x, 1, &x, 1, 1, 0, 1, 1, 1.0f, false), GC_ERR_ARG);
}

/* Double references of the resamplers, written from the formulas in the fixture README. */
static double cubic_w(double x, double A) {
    x = fabs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}
/* src_scale is rounded to float first: PyTorch stores the scale as a float (a specified
 * behaviour, not rounding noise: it moves the taps by ~1e-6 at 60 outputs). */
static void ref_bicubic_matrix(double *M, int64_t n_in, int64_t n_out, double src_scale) {
    src_scale = (float)src_scale;
    memset(M, 0, n_out * n_in * sizeof(double));
    for (int64_t i = 0; i < n_out; i++) {
        double src = (i + 0.5) * src_scale - 0.5, f = floor(src);
        for (int k = -1; k <= 2; k++) {
            int64_t j = (int64_t)f + k;
            j = j < 0 ? 0 : j >= n_in ? n_in - 1 : j;
            M[i * n_in + j] += cubic_w(src - (f + k), -0.75);
        }
    }
}
static void ref_aa_matrix(double *M, int64_t n_in, int64_t n_out) {
    memset(M, 0, n_out * n_in * sizeof(double));
    double scale = (float)((double)n_in / n_out), sup = 2 * fmax(scale, 1), inv = 1 / fmax(scale, 1);
    for (int64_t i = 0; i < n_out; i++) {
        double c = scale * (i + 0.5), tot = 0;
        int64_t lo = (int64_t)fmax(c - sup + 0.5, 0), hi = (int64_t)fmin(c + sup + 0.5, n_in);
        for (int64_t j = lo; j < hi; j++) tot += (M[i * n_in + j] = cubic_w((j - c + 0.5) * inv, -0.5));
        for (int64_t j = lo; j < hi; j++) M[i * n_in + j] /= tot;
    }
}
static void ref_bilinear_matrix(double *M, int64_t n_in, int64_t n_out) {
    memset(M, 0, n_out * n_in * sizeof(double));
    for (int64_t i = 0; i < n_out; i++) {
        /* the ratio in float, the source index in double, as PyTorch 1.13 (its accscalar_t) */
        double src = fmax((i + 0.5) * (float)((double)n_in / n_out) - 0.5, 0);
        int64_t a = (int64_t)src, b = a < n_in - 1 ? a + 1 : a;
        M[i * n_in + a] += 1 - (src - a);
        M[i * n_in + b] += src - a;
    }
}
/* out[c] = Mh · in[c] · Mw^T */
static void apply_separable(double *out, const float *in, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                            const double *Mh, const double *Mw) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Ho; y++)
            for (int64_t x = 0; x < Wo; x++) {
                double s = 0;
                for (int64_t i = 0; i < H; i++)
                    for (int64_t j = 0; j < W; j++) s += Mh[y * H + i] * Mw[x * W + j] * in[(c * H + i) * W + j];
                out[(c * Ho + y) * Wo + x] = s;
            }
}

/* tol: 1e-6, except the antialiased filter whose taps PyTorch evaluates in float (center, offsets):
 * ~4e-6 against the exact double taps at 37 -> 60 (and closer to torch's own output that way). */
static void check_resize(int mode, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo, double sh, double sw) {
    float *in = rand_buf(C * H * W, 1), *out = malloc(C * Ho * Wo * sizeof(float));
    double *Mh = malloc(Ho * H * sizeof(double)), *Mw = malloc(Wo * W * sizeof(double));
    double *ref = malloc(C * Ho * Wo * sizeof(double));
    char what[96];
    if (mode == 0) {
        ref_bicubic_matrix(Mh, H, Ho, sh), ref_bicubic_matrix(Mw, W, Wo, sw);
        assert_int_equal(gc_resize_bicubic(out, in, C, H, W, Ho, Wo, sh, sw), GC_OK);
    } else if (mode == 1) {
        ref_aa_matrix(Mh, H, Ho), ref_aa_matrix(Mw, W, Wo);
        assert_int_equal(gc_resize_bicubic_aa(out, in, C, H, W, Ho, Wo, (double)H / Ho, (double)W / Wo), GC_OK);
    } else {
        ref_bilinear_matrix(Mh, H, Ho), ref_bilinear_matrix(Mw, W, Wo);
        assert_int_equal(gc_resize_bilinear(out, in, C, H, W, Ho, Wo), GC_OK);
    }
    apply_separable(ref, in, C, H, W, Ho, Wo, Mh, Mw);
    snprintf(what, sizeof what, "%s %lldx%lld->%lldx%lld", mode == 0 ? "bicubic" : mode == 1 ? "bicubic_aa" : "bilinear",
             (long long)H, (long long)W, (long long)Ho, (long long)Wo);
    assert_true(rel_err(what, out, ref, C * Ho * Wo) < (mode == 1 ? 1e-5 : 1e-6));
    free(in), free(out), free(Mh), free(Mw), free(ref);
}

static void test_resample(void **state) {
    check_resize(0, 3, 37, 37, 60, 60, 37.0 / 60.1, 37.0 / 60.1); /* DINOv2 +0.1 path */
    check_resize(0, 2, 37, 37, 16, 20, 37.0 / 16.1, 37.0 / 20.1); /* downsampling */
    check_resize(0, 2, 5, 7, 11, 3, 5.0 / 11, 7.0 / 3);
    check_resize(1, 3, 37, 37, 16, 20, 0, 0); /* aa downsampling widens the kernel */
    check_resize(1, 2, 37, 37, 60, 60, 0, 0);
    check_resize(1, 1, 9, 9, 9, 4, 0, 0); /* unchanged height */
    check_resize(2, 3, 15, 15, 60, 60, 0, 0);
    check_resize(2, 2, 30, 20, 7, 50, 0, 0);
    float x = 1;
    assert_int_equal(gc_resize_bilinear(&x, &x, 1, 1, 1, 0, 1), GC_ERR_ARG);
    printf("  empty size -> %s\n", gc_last_error());
}

/* Position-embedding interpolation of the DINOv2 fixtures: the 37x37 table of the tiny models
 * resampled to the patch grid must equal the recorded `pos_embed` (observed ~1e-7). */
static void check_pos_embed(const char *cfg, const char *tag, int64_t Hp, int64_t Wp, bool aa) {
    char name[128];
    snprintf(name, sizeof name, "dinov2_%s.model.safetensors", cfg);
    gc_weights *w = gct_open(gct_fixture(name));
    snprintf(name, sizeof name, "dinov2_%s.io.safetensors", cfg);
    gc_weights *io = gct_open(gct_fixture(name));
    const float *pe;
    assert_int_equal(GC_WEIGHT(w, "embeddings.position_embeddings", &pe, 1, 1 + 37 * 37, 64), GC_OK);
    int64_t D = 64, N = 37 * 37;
    float *grid = malloc(D * N * sizeof(float)), *res = malloc(D * Hp * Wp * sizeof(float));
    float *tok = malloc((1 + Hp * Wp) * D * sizeof(float));
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) grid[d * N + n] = pe[(1 + n) * D + d];
    if (aa)
        assert_int_equal(gc_resize_bicubic_aa(res, grid, D, 37, 37, Hp, Wp, 37.0 / Hp, 37.0 / Wp), GC_OK);
    else
        assert_int_equal(gc_resize_bicubic(res, grid, D, 37, 37, Hp, Wp, 1.0 / ((Hp + 0.1) / 37.0),
                                           1.0 / ((Wp + 0.1) / 37.0)),
                         GC_OK);
    memcpy(tok, pe, D * sizeof(float));
    for (int64_t n = 0; n < Hp * Wp; n++)
        for (int64_t d = 0; d < D; d++) tok[(1 + n) * D + d] = res[d * Hp * Wp + n];
    snprintf(name, sizeof name, "%s.pos_embed", tag);
    gct_expect_close(io, name, tok, (1 + Hp * Wp) * D, 1e-5); /* observed 4.6e-7 .. 1.5e-6 */
    free(grid), free(res), free(tok);
    gc_weights_free(w);
    gc_weights_free(io);
}

static void test_pos_embed_fixtures(void **state) {
    check_pos_embed("tiny", "224x280", 16, 20, false);
    check_pos_embed("tiny", "280x224", 20, 16, false);
    check_pos_embed("tiny", "840x840", 60, 60, false);
    check_pos_embed("tiny_reg", "224x280", 16, 20, true);
    check_pos_embed("tiny_reg", "840x840", 60, 60, true);
}

/* Same bytes with 1 and 2 threads: GEMMs (incl. K = 588 and K = 3072, where a BLAS's own threading
 * may split K), attention (both kernels), layernorm, activations and resampling. */
static void test_thread_determinism(void **state) {
    int64_t N = 600, K = 384, O = 512, T = 700, H = 6, hd = 64, D = H * hd;
    float *x = rand_buf(N * K, 1), *W = rand_buf(O * K, 0.1f), *b = rand_buf(O, 0.1f);
    float *qkv = rand_buf(T * 3 * D, 1), *grid = rand_buf(D * 37 * 37, 1);
    float *res[2][10];
    float *xk = rand_buf(600 * 3072, 1), *wk = rand_buf(64 * 3072, 0.1f);
    for (int r = 0; r < 2; r++) {
        gc_set_threads(r + 1);
        res[r][0] = malloc(N * O * sizeof(float));
        gc_linear(res[r][0], x, W, b, N, K, O);
        res[r][1] = malloc(T * D * sizeof(float));
        assert_int_equal(gc_attention(res[r][1], D, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, T, T, H, hd,
                                      0.125f, false),
                         GC_OK);
        res[r][2] = malloc(T * D * sizeof(float));
        assert_int_equal(gc_attention(res[r][2], D, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, T, T, H, hd,
                                      0.125f, true),
                         GC_OK);
        res[r][3] = malloc(N * O * sizeof(float));
        gc_layernorm(res[r][3], res[r][0], NULL, b, N, O, 1e-6f);
        gc_gelu_erf(res[r][3], N * O);
        res[r][4] = malloc(D * 60 * 60 * sizeof(float));
        assert_int_equal(gc_resize_bicubic(res[r][4], grid, D, 37, 37, 60, 60, 37 / 60.1, 37 / 60.1), GC_OK);
        res[r][5] = malloc(D * 60 * 60 * sizeof(float));
        assert_int_equal(gc_resize_bicubic_aa(res[r][5], grid, D, 37, 37, 60, 60, 37 / 60.0, 37 / 60.0), GC_OK);
        res[r][6] = malloc(600 * 64 * sizeof(float));
        gc_linear(res[r][6], xk, wk, NULL, 600, 588, 64);
        res[r][7] = malloc(600 * 64 * sizeof(float));
        gc_linear(res[r][7], xk, wk, b, 600, 3072, 64);
        gc_cpu_limit(3); /* the portable attention kernel too */
        for (int c = 0; c < 2; c++) {
            res[r][8 + c] = malloc(T * D * sizeof(float));
            assert_int_equal(gc_attention(res[r][8 + c], D, qkv, 3 * D, qkv + D, 3 * D, qkv + 2 * D, 3 * D, T, T, H,
                                          hd, 0.125f, c),
                             GC_OK);
        }
        gc_cpu_limit(4);
    }
    int64_t sizes[10] = {N * O, T * D, T * D, N * O, D * 3600, D * 3600, 600 * 64, 600 * 64, T * D, T * D};
    for (int i = 0; i < 10; i++) {
        assert_memory_equal(res[0][i], res[1][i], sizes[i] * sizeof(float));
        free(res[0][i]), free(res[1][i]);
    }
    gc_set_threads(0);
    free(x), free(W), free(b), free(qkv), free(grid), free(xk), free(wk);
}

/* A failed assertion leaves its test early: undo the kernel cap and thread count it may have set, so
 * that one failure does not fail the tests after it (test_attention once left level 3 behind). */
static int restore_cpu(void **state) {
    (void)state;
    gc_cpu_limit(4);
    gc_set_threads(0);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_linear, restore_cpu),
        cmocka_unit_test_teardown(test_layernorm, restore_cpu),
        cmocka_unit_test_teardown(test_activations, restore_cpu),
        cmocka_unit_test_teardown(test_attention, restore_cpu),
        cmocka_unit_test_teardown(test_resample, restore_cpu),
        cmocka_unit_test_teardown(test_pos_embed_fixtures, restore_cpu),
        cmocka_unit_test_teardown(test_thread_determinism, restore_cpu),
        /* last: the shared PRNG stream of the tests above is unchanged */
        cmocka_unit_test_teardown(test_linear_act, restore_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
