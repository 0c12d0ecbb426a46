/* SD-branch ops against direct definitions (conv2d with asymmetric padding / stride 2 / several
 * bands, GroupNorm, FreeU Fourier filter vs a literal DFT + fftshift mask + inverse DFT, nearest
 * upsampling, GEGLU, timestep embedding) and the noise schedule vs sd_schedule.safetensors. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "models/sd_schedule.h"
#include "tensor/conv2d.h"
#include "tensor/fourier.h"
#include "tensor/geglu.h"
#include "tensor/groupnorm.h"
#include "tensor/timestep.h"
#include "tensor/upsample.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 40) / 16777216.0 * 2.0 - 1.0);
}

static double max_rel(const float *a, const double *b, int64_t n) {
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mr = fmax(mr, fabs(b[i]));
    }
    return md / mr;
}

/* y[B, Cout, Ho, Wo] in double, straight from the definition. */
static double *conv_ref(const float *x, const float *w, const float *b, int64_t B, int64_t Cin, int64_t H, int64_t W,
                        int64_t Cout, int64_t k, int64_t stride, gc_pad2d p) {
    int64_t Ho = gc_conv2d_out(H, k, stride, p.top, p.bottom), Wo = gc_conv2d_out(W, k, stride, p.left, p.right);
    double *ref = calloc((size_t)(B * Cout * Ho * Wo), sizeof(double));
    for (int64_t i = 0; i < B; i++)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t r = 0; r < Ho; r++)
                for (int64_t c = 0; c < Wo; c++) {
                    double a = b[o];
                    for (int64_t ci = 0; ci < Cin; ci++)
                        for (int64_t ki = 0; ki < k; ki++)
                            for (int64_t kj = 0; kj < k; kj++) {
                                int64_t iy = r * stride - p.top + ki, ix = c * stride - p.left + kj;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                    a += (double)w[((o * Cin + ci) * k + ki) * k + kj] * x[((i * Cin + ci) * H + iy) * W + ix];
                            }
                    ref[((i * Cout + o) * Ho + r) * Wo + c] = a;
                }
    return ref;
}

static void check_conv(int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d p) {
    uint64_t s = 7;
    int64_t Ho = gc_conv2d_out(H, k, stride, p.top, p.bottom), Wo = gc_conv2d_out(W, k, stride, p.left, p.right);
    float *x = malloc(sizeof(float) * Cin * H * W), *w = malloc(sizeof(float) * Cout * Cin * k * k),
          *b = malloc(sizeof(float) * Cout), *y = malloc(sizeof(float) * Cout * Ho * Wo);
    for (int64_t i = 0; i < Cin * H * W; i++) x[i] = frand(&s);
    for (int64_t i = 0; i < Cout * Cin * k * k; i++) w[i] = frand(&s);
    for (int64_t i = 0; i < Cout; i++) b[i] = frand(&s);
    double *ref = conv_ref(x, w, b, 1, Cin, H, W, Cout, k, stride, p);
    assert_int_equal(gc_conv2d(y, x, w, b, Cin, H, W, Cout, k, stride, p), GC_OK);
    double e = max_rel(y, ref, Cout * Ho * Wo);
    /* same bytes with one thread (bands are split across threads, never a sum) */
    float *y1 = malloc(sizeof(float) * Cout * Ho * Wo);
    int nt = gc_get_threads();
    gc_set_threads(1);
    assert_int_equal(gc_conv2d(y1, x, w, b, Cin, H, W, Cout, k, stride, p), GC_OK);
    gc_set_threads(nt < 2 ? 2 : nt);
    assert_memory_equal(y, y1, sizeof(float) * Cout * Ho * Wo);
    gc_set_threads(nt);
    /* with a residual: the bytes of the conv followed by a separate y += res pass (the Winograd paths
     * add it inside their output transform) */
    for (int64_t i = 0; i < Cout * Ho * Wo; i++) y1[i] = frand(&s);
    float *yr = malloc(sizeof(float) * Cout * Ho * Wo);
    gc_arena ar;
    gc_arena_init(&ar, gc_alloc, gc_free);
    assert_int_equal(gc_conv2d_scratch(&ar, 1, yr, x, w, b, y1, Cin, H, W, Cout, k, stride, p), GC_OK);
    gc_arena_free(&ar);
    for (int64_t i = 0; i < Cout * Ho * Wo; i++) y1[i] = y[i] + y1[i];
    assert_memory_equal(yr, y1, sizeof(float) * Cout * Ho * Wo);
    free(yr);
    free(y1);
    printf("  conv %lldx%lldx%lld k%lld s%lld pad(%lld,%lld,%lld,%lld): rel %.3g\n", (long long)Cin, (long long)H,
           (long long)W, (long long)k, (long long)stride, (long long)p.top, (long long)p.left, (long long)p.bottom,
           (long long)p.right, e);
    /* float32 sums of <= 600 products vs double: observed ~1e-7 direct, 2e-7 F(2x2,3x3), 5e-6 F(4x4,3x3) */
    assert_true(e <= 1e-5);
    free(x), free(w), free(b), free(y), free(ref);
}

static void test_conv2d(void **state) {
    check_conv(5, 9, 7, 6, 3, 1, (gc_pad2d){1, 1, 1, 1});  /* UNet conv */
    check_conv(5, 8, 10, 4, 3, 2, (gc_pad2d){1, 1, 1, 1}); /* UNet Downsample */
    check_conv(3, 8, 6, 4, 3, 2, (gc_pad2d){0, 0, 1, 1});  /* VAE Downsample: right/bottom only */
    check_conv(7, 5, 6, 3, 1, 1, (gc_pad2d){0, 0, 0, 0});  /* 1x1 */
    /* stride 2 from 4096 outputs: phase GEMMs, VAE and UNet padding, odd sizes; 512 outputs channels
     * make 10 bands of 7 rows, which run in parallel */
    check_conv(5, 130, 129, 3, 3, 2, (gc_pad2d){0, 0, 1, 1});
    check_conv(4, 128, 130, 2, 3, 2, (gc_pad2d){1, 1, 1, 1});
    check_conv(3, 130, 128, 512, 3, 2, (gc_pad2d){0, 0, 1, 1});
    check_conv(32, 33, 35, 5, 3, 1, (gc_pad2d){1, 1, 1, 1}); /* Winograd F(2x2,3x3), odd sizes: partial tiles */
    check_conv(40, 32, 48, 7, 3, 1, (gc_pad2d){1, 1, 1, 1}); /* Winograd F(2x2,3x3), even sizes */
    /* F(4x4,3x3) from 128x128 up, its error a few times F(2x2)'s (observed ~5e-6 at 64 channels);
     * fewer than 8 bands run in turn with tiled parallel GEMMs, more run in parallel: F(4x4) over 4
     * bands (129: partial tiles), then 16 bands, and im2col over 32 parallel bands */
    if (!getenv("GEOCORR_SANITIZED")) {
        check_conv(64, 129, 128, 2, 3, 1, (gc_pad2d){1, 1, 1, 1});
        check_conv(32, 512, 512, 2, 3, 1, (gc_pad2d){1, 1, 1, 1});
        check_conv(3, 256, 256, 4, 3, 1, (gc_pad2d){1, 1, 1, 1});
    }
}

/* A batch of B maps through gc_conv2d_scratch (its batched paths: Winograd bands of whole maps,
 * im2col GEMMs over several maps) with a residual, each map against the double definition (or, with
 * `ref_per_map`, against the conv of that map alone, for shapes too large for the double loop); and
 * the same bytes with one thread. */
static void check_conv_batch(int64_t B, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride,
                             gc_pad2d p, bool ref_per_map, double tol) {
    uint64_t s = 11;
    int64_t Ho = gc_conv2d_out(H, k, stride, p.top, p.bottom), Wo = gc_conv2d_out(W, k, stride, p.left, p.right);
    int64_t xs = Cin * H * W, ys = Cout * Ho * Wo;
    float *x = malloc(sizeof(float) * B * xs), *w = malloc(sizeof(float) * Cout * Cin * k * k),
          *b = malloc(sizeof(float) * Cout), *res = malloc(sizeof(float) * B * ys), *y = malloc(sizeof(float) * B * ys),
          *y1 = malloc(sizeof(float) * B * ys);
    for (int64_t i = 0; i < B * xs; i++) x[i] = frand(&s);
    for (int64_t i = 0; i < Cout * Cin * k * k; i++) w[i] = frand(&s);
    for (int64_t i = 0; i < Cout; i++) b[i] = frand(&s);
    for (int64_t i = 0; i < B * ys; i++) res[i] = frand(&s);
    gc_arena ar;
    gc_arena_init(&ar, gc_alloc, gc_free);
    assert_int_equal(gc_conv2d_scratch(&ar, B, y, x, w, b, res, Cin, H, W, Cout, k, stride, p), GC_OK);
    double *ref;
    if (ref_per_map) {
        ref = malloc(sizeof(double) * B * ys);
        for (int64_t i = 0; i < B; i++) {
            assert_int_equal(gc_conv2d_scratch(&ar, 1, y1, x + i * xs, w, b, NULL, Cin, H, W, Cout, k, stride, p), GC_OK);
            for (int64_t j = 0; j < ys; j++) ref[i * ys + j] = y1[j];
        }
    } else {
        ref = conv_ref(x, w, b, B, Cin, H, W, Cout, k, stride, p);
    }
    double e = 0;
    for (int64_t i = 0; i < B; i++) { /* each map on its own scale: a map mixed with another fails */
        for (int64_t j = 0; j < ys; j++) y1[i * ys + j] = y[i * ys + j] - res[i * ys + j];
        e = fmax(e, max_rel(y1 + i * ys, ref + i * ys, ys));
    }
    int nt = gc_get_threads();
    gc_set_threads(1);
    assert_int_equal(gc_conv2d_scratch(&ar, B, y1, x, w, b, res, Cin, H, W, Cout, k, stride, p), GC_OK);
    gc_set_threads(nt);
    assert_memory_equal(y, y1, sizeof(float) * B * ys);
    gc_arena_free(&ar);
    printf("  conv batch %lld x %lldx%lldx%lld -> %lld k%lld s%lld: rel %.3g (against %s)\n", (long long)B,
           (long long)Cin, (long long)H, (long long)W, (long long)Cout, (long long)k, (long long)stride, e,
           ref_per_map ? "each map alone" : "double");
    assert_true(e <= tol);
    free(x), free(w), free(b), free(res), free(y), free(y1), free(ref);
}

static void test_conv2d_batch(void **state) {
    const gc_pad2d p1 = {1, 1, 1, 1}, p0 = {0, 0, 0, 0};
    /* 8x8 maps: im2col GEMMs of 256 columns, 4 maps and then 1 */
    check_conv_batch(5, 6, 8, 8, 5, 3, 1, p1, false, 1e-5);
    check_conv_batch(3, 7, 8, 8, 4, 1, 1, p0, false, 1e-5);   /* 1x1 */
    check_conv_batch(3, 5, 16, 14, 4, 3, 2, p1, false, 1e-5); /* Downsample to 8x7 */
    /* 16x16 maps, 4 of them: a Winograd F(2x2) band of whole maps; 17: bands of 16 (1024 tiles) and 1 */
    check_conv_batch(4, 32, 16, 16, 3, 3, 1, p1, false, 1e-5);
    check_conv_batch(17, 32, 16, 16, 2, 3, 1, p1, false, 1e-5);
    if (!getenv("GEOCORR_SANITIZED")) {
        /* 32x32 x 4 from 512 channels: F(4x4) over whole maps. Its float32 error grows as the square
         * root of the summed channels: ~5e-6 at 64 (test_conv2d), so ~1.4e-5 at 512 (observed 1.2e-5) */
        check_conv_batch(4, 512, 32, 32, 3, 3, 1, p1, false, 3e-5);
        /* filters in blocks of output channels (16 x 1024 x 1024 floats > GC_WINO_U_FLOATS) against
         * each map's im2col conv, itself checked against double above */
        check_conv_batch(4, 1024, 16, 16, 1024, 3, 1, p1, true, 1e-5);
    }
}

/* Against double-precision statistics. */
static void test_groupnorm(void **state) {
    enum { C = 64, HW = 10, G = 32 };
    uint64_t s = 3;
    float x[C * HW], w[C], b[C], y[C * HW];
    double ref[C * HW];
    for (int i = 0; i < C * HW; i++) x[i] = 3.0f + frand(&s);
    for (int i = 0; i < C; i++) w[i] = 1 + 0.2f * frand(&s), b[i] = 0.1f * frand(&s);
    for (int silu = 0; silu < 2; silu++) {
        for (int g = 0; g < G; g++) {
            int n = (C / G) * HW;
            double m = 0, v = 0;
            for (int i = 0; i < n; i++) m += x[g * n + i];
            m /= n;
            for (int i = 0; i < n; i++) v += (x[g * n + i] - m) * (x[g * n + i] - m);
            v /= n;
            for (int i = 0; i < n; i++) {
                int c = (g * n + i) / HW;
                double t = (x[g * n + i] - m) / sqrt(v + 1e-6) * w[c] + b[c];
                ref[g * n + i] = silu ? t / (1 + exp(-t)) : t;
            }
        }
        gc_groupnorm(y, x, w, b, C, HW, G, 1e-6f, silu);
        double e = max_rel(y, ref, C * HW);
        printf("  groupnorm silu=%d rel %.3g\n", silu, e);
        assert_true(e <= 1e-5);
    }
}

/* The statistics are summed in one read about a sample of each group: groups far from zero with a
 * small spread (mean 1000, std ~0.006; 200 elements: 32-lane blocks and a tail) must not lose their
 * variance to cancellation. Compared in double with two-pass double statistics: one-pass shifted
 * sums in double are exact to ~1e-13 here, a naive float E[x^2] - E[x]^2 would be off by 100%. (The
 * normalised output itself is not compared: its x * scale + shift form, PyTorch's too, cancels in
 * float at such offsets.) */
static void test_groupnorm_stats_offset(void **state) {
    enum { C = 64, HW = 100, G = 32, N = (C / G) * HW };
    uint64_t s = 5;
    float *x = malloc(sizeof(float) * C * HW), *y = malloc(sizeof(float) * C * HW), st[2 * G];
    double sd[2 * G];
    for (int i = 0; i < C * HW; i++) x[i] = 1000.0f + 0.01f * frand(&s);
    gc_groupnorm_stats(y, x, NULL, NULL, C, HW, G, 1e-6f, st, sd);
    double em = 0, er = 0;
    for (int g = 0; g < G; g++) {
        double m = 0, v = 0;
        for (int i = 0; i < N; i++) m += x[g * N + i];
        m /= N;
        for (int i = 0; i < N; i++) v += (x[g * N + i] - m) * (x[g * N + i] - m);
        const double rstd = 1.0 / sqrt(v / N + 1e-6);
        em = fmax(em, fabs(sd[2 * g] - m) / m);
        er = fmax(er, fabs(sd[2 * g + 1] - rstd) / rstd);
        assert_true(st[2 * g] == (float)sd[2 * g] && st[2 * g + 1] == (float)sd[2 * g + 1]);
    }
    printf("  groupnorm statistics at mean 1000: mean rel %.3g, rstd rel %.3g\n", em, er);
    assert_true(em <= 1e-12 && er <= 1e-9);
    free(x), free(y);
}

/* The reference definition: fftn, fftshift, mask[..., H//2-1 : H//2+1, W//2-1 : W//2+1] *= s (Python
 * slicing: a negative start counts from the end), ifftshift, ifftn, real part. */
static void fourier_reference(const float *x, int64_t H, int64_t W, double s, double *out) {
    double complex *X = calloc((size_t)(H * W), sizeof(double complex));
    for (int64_t u = 0; u < H; u++)
        for (int64_t v = 0; v < W; v++)
            for (int64_t m = 0; m < H; m++)
                for (int64_t n = 0; n < W; n++)
                    X[u * W + v] += x[m * W + n] * cexp(-2 * M_PI * I * ((double)u * m / H + (double)v * n / W));
    /* shifted index i holds frequency (i - H//2) mod H */
    int64_t r0 = H / 2 - 1, r1 = H / 2 + 1, c0 = W / 2 - 1, c1 = W / 2 + 1;
    if (r0 < 0) r0 += H; /* python slice start -1 on a length-1 axis -> 0 */
    if (c0 < 0) c0 += W;
    r1 = r1 > H ? H : r1;
    c1 = c1 > W ? W : c1;
    for (int64_t i = r0; i < r1; i++)
        for (int64_t j = c0; j < c1; j++) {
            int64_t u = ((i - H / 2) % H + H) % H, v = ((j - W / 2) % W + W) % W;
            X[u * W + v] *= s;
        }
    for (int64_t m = 0; m < H; m++)
        for (int64_t n = 0; n < W; n++) {
            double complex a = 0;
            for (int64_t u = 0; u < H; u++)
                for (int64_t v = 0; v < W; v++)
                    a += X[u * W + v] * cexp(2 * M_PI * I * ((double)u * m / H + (double)v * n / W));
            out[m * W + n] = creal(a) / (double)(H * W);
        }
    free(X);
}

static void test_fourier(void **state) {
    static const int64_t sizes[][2] = {{8, 8}, {2, 3}, {4, 6}, {1, 2}, {3, 1}, {1, 1}, {5, 7}};
    uint64_t s = 11;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t H = sizes[k][0], W = sizes[k][1], C = 3;
        float x[3 * 64];
        double ref[3 * 64];
        for (int64_t i = 0; i < C * H * W; i++) x[i] = frand(&s) + 0.5f;
        for (int64_t c = 0; c < C; c++) fourier_reference(x + c * H * W, H, W, 0.2, ref + c * H * W);
        assert_int_equal(gc_fourier_lowfreq_scale(x, C, H, W, 0.2f), GC_OK);
        double e = max_rel(x, ref, C * H * W);
        printf("  fourier %lldx%lld rel %.3g\n", (long long)H, (long long)W, e);
        assert_true(e <= 1e-6);
    }
}

static void test_small_ops(void **state) {
    float x[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, y[2 * 4 * 6];
    gc_upsample_nearest2x(y, x, 2, 2, 3);
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 6; q++) assert_true(y[(c * 4 + r) * 6 + q] == x[(c * 2 + r / 2) * 3 + q / 2]);
    float g[2 * 4] = {1, -2, 0.5f, 3, -1, 2, 0.25f, -4}, o[2 * 2];
    gc_geglu(o, g, 2, 2);
    for (int t = 0; t < 2; t++)
        for (int j = 0; j < 2; j++) {
            double gv = g[t * 4 + 2 + j], want = g[t * 4 + j] * 0.5 * gv * (1 + erf(gv / sqrt(2.0)));
            assert_true(fabs(o[t * 2 + j] - want) <= 1e-6 * fabs(want) + 1e-7);
        }
    /* timestep embedding, cos first: fixture t_emb of sd_micro at t = 50 */
    gc_weights *ref = gct_open(gct_fixture("sd_micro.io.safetensors"));
    float e[32];
    gc_timestep_embedding(e, 50.0f, 32);
    gct_expect_close(ref, "t50.unet.t_emb", e, 32, 1e-6); /* observed 6e-8 */
    gc_timestep_embedding(e, 261.0f, 32);
    gct_expect_close(ref, "t261.unet.t_emb", e, 32, 1e-6); /* observed 5e-7 (sin/cos of ~261 rad in float32) */
    gc_weights_free(ref);
}

/* One unit in the last place of b. */
static double ulp(double b) { return nextafter(fabs(b), INFINITY) - fabs(b); }

static void test_schedule(void **state) {
    gc_weights *ref = gct_open(gct_fixture("sd_schedule.safetensors"));
    sd_schedule s;
    assert_int_equal(sd_schedule_init(&s, 0.00085, 0.012, 1000), GC_OK);
    const char *keys[] = {"ldm.betas", "ldm.alphas_cumprod", "ldm.sqrt_alphas_cumprod", "ldm.sqrt_one_minus_alphas_cumprod"};
    for (int k = 0; k < 4; k++) {
        const gc_tensor_ref *r = gc_weights_find(ref, keys[k]);
        assert_non_null(r);
        assert_int_equal(r->numel, 1000);
        double worst = 0;
        for (int t = 0; t < 1000; t++) {
            double want, got = k == 0 ? s.betas[t] : k == 1 ? s.alphas_cumprod[t]
                                   : k == 2 ? sqrt(s.alphas_cumprod[t]) : sqrt(1.0 - s.alphas_cumprod[t]);
            memcpy(&want, (const char *)r->data + 8 * t, 8);
            worst = fmax(worst, fabs(got - want) / ulp(want));
        }
        printf("  %-36s worst %.1f ulp\n", keys[k], worst);
        assert_true(worst <= 1.0);
    }
    assert_true(fabs(s.alphas_cumprod[50] - 0.9515769028024592) < 1e-15);
    /* q_sample in float32 with the f32-cast coefficients; noise file shipped with geocorr */
    float *noise;
    assert_int_equal(sd_noise_load(&noise), GC_OK);
    const float *want;
    assert_int_equal(GC_WEIGHT(ref, "odise.shared_noise_seed42", &want, 1, 4, 64, 64), GC_OK);
    assert_memory_equal(noise, want, 4 * 64 * 64 * sizeof(float));
    gc_free(noise);
    assert_int_not_equal(sd_q_sample(&s, 1000, NULL, NULL, 0, NULL), GC_OK);
    sd_schedule_free(&s);
    gc_weights_free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d), cmocka_unit_test(test_conv2d_batch),
        cmocka_unit_test(test_groupnorm), cmocka_unit_test(test_groupnorm_stats_offset), cmocka_unit_test(test_fourier),
        cmocka_unit_test(test_small_ops),  cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
