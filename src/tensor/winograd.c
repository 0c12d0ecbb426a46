/* Winograd convolutions for the stride-1, pad-1 3x3 convs that dominate SD: per m x m output tile,
 * V = B^T d B of its (m+2)^2 input patch, U = G g G^T of each filter, (m+2)^2 GEMMs
 * M[xi] = U[xi] . V[xi] (Cout x Cin x tiles), Y = A^T M A.
 *  - F(2x2, 3x3): 2.25x fewer multiplications than im2col + GEMM;
 *  - F(4x4, 3x3) (Lavin & Gray's matrices, points 0, +-1, +-2): 4x fewer, float32 error a few times
 *    F(2x2, 3x3)'s (test_sd_ops: ~5e-6 of the output scale at 64 channels against a double
 *    reference, 3e-7 for F(2x2)); the SD-1.5 VAE fixtures move from 1.7e-6 to 3.3e-6 (tolerance 1e-4).
 * Tiles are processed in bands of whole tile rows; gc_conv2d picks m by map size (bench_kernels). */
#include "tensor/winograd.h"

#include <omp.h>
#include <string.h>

#include "tensor/conv2d.h"
#include "tensor/linear.h"
#include "tensor/winograd_kernels.h"

#define GC_WINO_BAND_TILES 1024
#define GC_WINO_MIN_TILES 256         /* narrower GEMMs (N < 256) lose more than the extra band gains */
#define GC_WINO_BAND_FLOATS (8 << 20) /* V + M of one band: 32 MB (the 512-channel levels of the VAE) */
#define GC_WINO_PAR_FLOATS (1 << 20)  /* a band's transforms run over the threads from this many V or M floats */
#define GC_WINO_BATCH_FLOATS (32 << 20) /* V + M of a band of whole maps of a batch: 128 MB */
#define GC_WINO_U_FLOATS (12 << 20)     /* a batch's filters are transformed in blocks of this many floats */

/* Rows iy0 .. iy0+n-1 of channel xc[H, W] as pointers (rows outside the map: `zero`, W zeros). The
 * column pass reads the map in place: the padded tile grid's column 0 and columns past W are zeros,
 * whose transforms are the zeros the column pass writes there itself. */
static inline void wino_rows(const float **rp, const float *xc, const float *zero, int64_t H, int64_t W, int64_t iy0,
                             int n) {
    for (int r = 0; r < n; r++) {
        const int64_t iy = iy0 + r;
        rp[r] = iy >= 0 && iy < H ? xc + iy * W : zero;
    }
}

/* t[r][0] and t[r][W+1 .. Wp) = 0 for the n rows of t (Wp apart). */
static inline void wino_pad_cols(float *t, int64_t W, int64_t Wp, int n) {
    for (int r = 0; r < n; r++) {
        t[r * Wp] = 0.0f;
        for (int64_t i = W + 1; i < Wp; i++) t[r * Wp + i] = 0.0f;
    }
}

/* ---- F(2x2, 3x3) ---------------------------------------------------------------------------- */

/* Filter transforms work on WINO_FB filters at a time, tap-major in local arrays: the taps are read
 * once, the arithmetic vectorises across the filters and each U[xi] gets a contiguous run (one filter
 * at a time it ran scalar with 16 or 36 scattered stores: 7% of a UNet pass). Same operations in the
 * same order per value, so the bytes do not change. */
#define WINO_FB 16

/* g[k][l] = tap k of filter f0 + l, for the (at most WINO_FB) filters left of n; returns their count. */
static inline int64_t wino_gather(float g[9][WINO_FB], const float *w, int64_t f0, int64_t n) {
    const int64_t nb = GC_MIN(WINO_FB, n - f0);
    for (int64_t l = 0; l < nb; l++)
        for (int k = 0; k < 9; k++) g[k][l] = w[(f0 + l) * 9 + k];
    return nb;
}

GC_CLONES static void wino2_filter(float *U, const float *w, int64_t Cout, int64_t Cin) {
    const int64_t n = Cout * Cin;
#pragma omp parallel for schedule(static) if (n > 4096)
    for (int64_t f0 = 0; f0 < n; f0 += WINO_FB) {
        float g[9][WINO_FB], t[4][3][WINO_FB];
        const int64_t nb = wino_gather(g, w, f0, n);
        for (int j = 0; j < 3; j++) /* G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
            for (int64_t l = 0; l < nb; l++) {
                t[0][j][l] = g[j][l];
                t[1][j][l] = 0.5f * (g[j][l] + g[3 + j][l] + g[6 + j][l]);
                t[2][j][l] = 0.5f * (g[j][l] - g[3 + j][l] + g[6 + j][l]);
                t[3][j][l] = g[6 + j][l];
            }
        for (int i = 0; i < 4; i++) { /* (G g) G^T: row i gives U[4i .. 4i+3] */
            float *u = U + (int64_t)(4 * i) * n + f0;
            for (int64_t l = 0; l < nb; l++) {
                u[l] = t[i][0][l];
                u[n + l] = 0.5f * (t[i][0][l] + t[i][1][l] + t[i][2][l]);
                u[2 * n + l] = 0.5f * (t[i][0][l] - t[i][1][l] + t[i][2][l]);
                u[3 * n + l] = t[i][2][l];
            }
        }
    }
}

/* The AVX-512 row pass is built where the compiler targets x86-64 (winograd_avx512.c). */
#if defined(__x86_64__) && defined(__GNUC__)
#define GC_WINO512 1
#else
#define GC_WINO512 0
#endif

/* V[xi, c, n] for the tile rows ti0 .. ti0+nr-1 (n = (ti - ti0) * tw + tj; V's rows ld floats
 * apart, ld >= nr * tw). rows: scratch of 8 * (2*tw + 2) floats per thread of the channel loop (one when
 * called inside a parallel band). */
GC_CLONES static void wino2_input(float *V, const float *x, int64_t Cin, int64_t H, int64_t W, int64_t tw, int64_t ti0,
                                  int64_t nr, int64_t ld, float *rows) {
    int64_t Wp = 2 * tw + 2, nt = nr * tw, stride = Cin * ld;
#pragma omp parallel for schedule(static) if (16 * Cin * nt > GC_WINO_PAR_FLOATS)
    for (int64_t c = 0; c < Cin; c++) {
        /* a zero row, then B^T down the columns of the 4 input rows */
        float *zero = rows + (int64_t)omp_get_thread_num() * 8 * Wp, *t = zero + 4 * Wp;
        memset(zero, 0, (size_t)W * sizeof(float));
        const float *xc = x + c * H * W, *rp[4];
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            wino_rows(rp, xc, zero, H, W, 2 * ti - 1, 4);
            float *t1 = t + 1; /* column i of the map is column i + 1 of the padded grid */
#pragma GCC ivdep /* the rows and t may alias as far as GCC knows */
            for (int64_t i = 0; i < W; i++) {
                float d0 = rp[0][i], d1 = rp[1][i], d2 = rp[2][i], d3 = rp[3][i];
                t1[i] = d0 - d2;
                t1[Wp + i] = d1 + d2;
                t1[2 * Wp + i] = d2 - d1;
                t1[3 * Wp + i] = d1 - d3;
            }
            wino_pad_cols(t, W, Wp, 4);
            float *v = V + c * ld + (ti - ti0) * tw;
            for (int r = 0; r < 4; r++) { /* (B^T d) B along each row */
                const float *tr = t + r * Wp;
                float *v0 = v + (4 * r) * stride, *v1 = v0 + stride, *v2 = v1 + stride, *v3 = v2 + stride;
                for (int64_t j = 0; j < tw; j++) {
                    float a0 = tr[2 * j], a1 = tr[2 * j + 1], a2 = tr[2 * j + 2], a3 = tr[2 * j + 3];
                    v0[j] = a0 - a2;
                    v1[j] = a1 + a2;
                    v2[j] = a2 - a1;
                    v3[j] = a1 - a3;
                }
            }
        }
    }
}

/* y = (bias + A^T M A) + res for each tile of the rows ti0 .. ti0+nr-1 (M[xi, o, n], rows ld floats
 * apart; b NULL: no bias; res NULL: no residual, which is added here while y is in cache rather than in a
 * pass of its own). */
GC_CLONES static void wino2_output(float *y, const float *b, const float *res, const float *M, int64_t Cout, int64_t H,
                                   int64_t W, int64_t tw, int64_t ti0, int64_t nr, int64_t ld) {
    int64_t nt = nr * tw, stride = Cout * ld, full = W / 2; /* tiles whose 2 columns both exist */
#pragma omp parallel for schedule(static) if (16 * Cout * nt > GC_WINO_PAR_FLOATS)
    for (int64_t o = 0; o < Cout; o++) {
        float *yo = y + o * H * W;
        const float bo = b ? b[o] : 0.0f;
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            const float *m = M + o * ld + (ti - ti0) * tw;
            float *y0 = yo + 2 * ti * W, *y1 = 2 * ti + 1 < H ? y0 + W : NULL;
            const float *r0 = res ? res + o * H * W + 2 * ti * W : NULL, *r1 = r0 ? r0 + W : NULL;
            for (int64_t j = 0; j < tw; j++) {
                float s0[4], s1[4]; /* A^T m: rows m0 + m1 + m2 and m1 - m2 - m3 */
                for (int q = 0; q < 4; q++) {
                    float m0 = m[q * stride + j], m1 = m[(4 + q) * stride + j], m2 = m[(8 + q) * stride + j],
                          m3 = m[(12 + q) * stride + j];
                    s0[q] = m0 + m1 + m2;
                    s1[q] = m1 - m2 - m3;
                }
                y0[2 * j] = bo + (s0[0] + s0[1] + s0[2]);
                if (y1) y1[2 * j] = bo + (s1[0] + s1[1] + s1[2]);
                if (j < full) {
                    y0[2 * j + 1] = bo + (s0[1] - s0[2] - s0[3]);
                    if (y1) y1[2 * j + 1] = bo + (s1[1] - s1[2] - s1[3]);
                }
            }
            if (r0) { /* the row pair is in cache */
                for (int64_t i = 0; i < W; i++) y0[i] += r0[i];
                if (y1)
                    for (int64_t i = 0; i < W; i++) y1[i] += r1[i];
            }
        }
    }
}

/* ---- F(4x4, 3x3) ---------------------------------------------------------------------------- */

/* out[0], out[os], ..., out[5 os] = G a for one column a = (a0, a1, a2) of a filter (rows 1/4,
 * -1/6 (1,1,1), -1/6 (1,-1,1), 1/24 + 1/12 + 1/6, 1/24 - 1/12 + 1/6, 0 0 1). */
static inline void wino4_g(float a0, float a1, float a2, float *out, int64_t os) {
    const float e = a0 + a2, o = a1;
    out[0] = 0.25f * a0;
    out[os] = (e + o) * (-1.0f / 6.0f);
    out[2 * os] = (e - o) * (-1.0f / 6.0f);
    out[3 * os] = a0 * (1.0f / 24.0f) + a1 * (1.0f / 12.0f) + a2 * (1.0f / 6.0f);
    out[4 * os] = a0 * (1.0f / 24.0f) - a1 * (1.0f / 12.0f) + a2 * (1.0f / 6.0f);
    out[5 * os] = a2;
}

GC_CLONES static void wino4_filter(float *U, const float *w, int64_t Cout, int64_t Cin) {
    const int64_t n = Cout * Cin;
#pragma omp parallel for schedule(static) if (n > 4096)
    for (int64_t f0 = 0; f0 < n; f0 += WINO_FB) {
        float g[9][WINO_FB], t[6][3][WINO_FB];
        const int64_t nb = wino_gather(g, w, f0, n);
        for (int j = 0; j < 3; j++) /* G g, column by column */
            for (int64_t l = 0; l < nb; l++) wino4_g(g[j][l], g[3 + j][l], g[6 + j][l], &t[0][j][l], 3 * WINO_FB);
        for (int i = 0; i < 6; i++) /* (G g) G^T, row by row: row i gives U[6i .. 6i+5] */
            for (int64_t l = 0; l < nb; l++)
                wino4_g(t[i][0][l], t[i][1][l], t[i][2][l], U + (int64_t)(6 * i) * n + f0 + l, n);
    }
}

/* The 6 values B^T d of one column d[0..5] (stride s apart) into out[0..5] (stride o apart). */
#define WINO_BT(out, o, d, s) WINO_BT6(out, o, (d)[0], (d)[s], (d)[2 * (s)], (d)[3 * (s)], (d)[4 * (s)], (d)[5 * (s)])
#define WINO_BT6(out, o, a0, a1, a2, a3, a4, a5)                                            \
    do {                                                                                    \
        const float d0_ = (a0), d1_ = (a1), d2_ = (a2), d3_ = (a3), d4_ = (a4), d5_ = (a5);  \
        (out)[0] = 4.0f * d0_ - 5.0f * d2_ + d4_;                                           \
        (out)[o] = d3_ + d4_ - 4.0f * (d1_ + d2_);                                          \
        (out)[2 * (o)] = d4_ - d3_ + 4.0f * (d1_ - d2_);                                    \
        (out)[3 * (o)] = d4_ - d2_ + 2.0f * (d3_ - d1_);                                    \
        (out)[4 * (o)] = d4_ - d2_ + 2.0f * (d1_ - d3_);                                    \
        (out)[5 * (o)] = 4.0f * d1_ - 5.0f * d3_ + d5_;                                     \
    } while (0)

/* V[xi, c, n] for the tile rows ti0 .. ti0+nr-1 (n = (ti - ti0) * tw + tj; rows ld apart). rows:
 * scratch of 12 * (4*tw + 2) floats per thread of the channel loop (one when called inside a
 * parallel band). */
GC_CLONES static void wino4_input(float *V, const float *x, int64_t Cin, int64_t H, int64_t W, int64_t tw, int64_t ti0,
                                  int64_t nr, int64_t ld, float *rows) {
    int64_t Wp = 4 * tw + 2, nt = nr * tw, stride = Cin * ld;
    const bool avx512 = GC_WINO512 && gc_cpu_level() >= 4;
#pragma omp parallel for schedule(static) if (36 * Cin * nt > GC_WINO_PAR_FLOATS)
    for (int64_t c = 0; c < Cin; c++) {
        /* a zero row, then B^T down the columns of the 6 input rows */
        float *zero = rows + (int64_t)omp_get_thread_num() * 12 * Wp, *t = zero + 6 * Wp;
        memset(zero, 0, (size_t)W * sizeof(float));
        const float *xc = x + c * H * W, *rp[6];
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            wino_rows(rp, xc, zero, H, W, 4 * ti - 1, 6);
            float *t1 = t + 1; /* column i of the map is column i + 1 of the padded grid */
            /* the rows and t may alias as far as GCC knows, so it would not vectorise */
#pragma GCC ivdep
            for (int64_t i = 0; i < W; i++) WINO_BT6(t1 + i, Wp, rp[0][i], rp[1][i], rp[2][i], rp[3][i], rp[4][i], rp[5][i]);
            wino_pad_cols(t, W, Wp, 6);
            float *v = V + c * ld + (ti - ti0) * tw;
            for (int r = 0; r < 6; r++) { /* (B^T d) B along each row */
                const float *tr = t + r * Wp;
                float *vr = v + (6 * r) * stride;
                int64_t j = avx512 ? gc_wino4_bt_row_avx512(vr, stride, tr, tw) : 0;
                for (; j < tw; j++) WINO_BT(vr + j, stride, tr + 4 * j, 1);
            }
        }
    }
}

/* y = (bias + A^T M A) + res for each tile of the rows ti0 .. ti0+nr-1 (M[xi, o, n], rows ld apart; b,
 * res may be NULL)
 * (A^T rows: 1 1 1 1 1 0 | 0 1 -1 2 -2 0 | 0 1 1 4 4 0 | 0 1 -1 8 -8 1), WINO_VT tiles of a row at a
 * time: the 36 loads per tile become contiguous runs across tiles and the arithmetic vectorises
 * across them (the same operations in the same order per output, so the bytes do not change). */
#define WINO_VT 16
GC_CLONES static void wino4_output(float *y, const float *b, const float *res, const float *M, int64_t Cout, int64_t H,
                                   int64_t W, int64_t tw, int64_t ti0, int64_t nr, int64_t ld) {
    int64_t nt = nr * tw, stride = Cout * ld;
#pragma omp parallel for schedule(static) if (36 * Cout * nt > GC_WINO_PAR_FLOATS)
    for (int64_t o = 0; o < Cout; o++) {
        float *yo = y + o * H * W;
        const float bo = b ? b[o] : 0.0f;
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            const float *m = M + o * ld + (ti - ti0) * tw;
            const int64_t ny = GC_MIN(4, H - 4 * ti);
            for (int64_t j0 = 0; j0 < tw; j0 += WINO_VT) {
                const int64_t nj = GC_MIN(WINO_VT, tw - j0);
                float s[4][6][WINO_VT], out[4][4 * WINO_VT];
                for (int k = 0; k < 6; k++) { /* A^T m down the columns */
                    const float *mk = m + k * stride + j0;
                    for (int64_t j = 0; j < nj; j++) {
                        const float m0 = mk[j], m1 = mk[6 * stride + j], m2 = mk[12 * stride + j],
                                    m3 = mk[18 * stride + j], m4 = mk[24 * stride + j], m5 = mk[30 * stride + j];
                        const float p = m1 + m2, q = m1 - m2, r = m3 + m4, u = m3 - m4;
                        s[0][k][j] = m0 + p + r;
                        s[1][k][j] = q + 2.0f * u;
                        s[2][k][j] = p + 4.0f * r;
                        s[3][k][j] = q + 8.0f * u + m5;
                    }
                }
                for (int a = 0; a < 4; a++) /* then along the rows, into 4 output pixels per tile */
                    for (int64_t j = 0; j < nj; j++) {
                        const float p = s[a][1][j] + s[a][2][j], q = s[a][1][j] - s[a][2][j],
                                    r = s[a][3][j] + s[a][4][j], u = s[a][3][j] - s[a][4][j];
                        out[a][4 * j] = s[a][0][j] + p + r;
                        out[a][4 * j + 1] = q + 2.0f * u;
                        out[a][4 * j + 2] = p + 4.0f * r;
                        out[a][4 * j + 3] = q + 8.0f * u + s[a][5][j];
                    }
                const int64_t nx = GC_MIN(4 * nj, W - 4 * j0);
                for (int64_t a = 0; a < ny; a++) {
                    const int64_t off = (4 * ti + a) * W + 4 * j0;
                    float *yr = yo + off;
                    if (res) {
                        const float *rr = res + o * H * W + off;
                        for (int64_t i = 0; i < nx; i++) yr[i] = (bo + out[a][i]) + rr[i];
                    } else {
                        for (int64_t i = 0; i < nx; i++) yr[i] = bo + out[a][i];
                    }
                }
            }
        }
    }
}

/* ---- bands ---------------------------------------------------------------------------------- */

/* A band of an F(m x m, 3x3) conv: tile rows ti0 .. ti0+nr-1 of nb maps x[nb, Cin, H, W] (several
 * maps: whole ones, their tiles side by side so each GEMM reads U[xi] once for all of them), output
 * channels o0 .. o0+ob-1 (U: their transformed filters, [nx, ob, Cin]). buf: V, M and the
 * input-transform rows; have_v: V already holds this band's transform. tiled: GEMMs spread over the
 * threads in fixed tiles, else on this thread. */
static gc_status wino_band(int m, float *y, const float *b, const float *res, const float *x, const float *U,
                           int64_t nb, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t o0, int64_t ob,
                           int64_t ti0, int64_t nr, bool have_v, bool tiled, float *buf) {
    const int nx = (m + 2) * (m + 2);
    const int64_t tw = (W + m - 1) / m, T = nr * tw, n = nb * T, xs = Cin * H * W, ys = Cout * H * W, os = o0 * H * W;
    float *V = buf, *M = V + nx * Cin * n, *scratch = M + nx * ob * n;
    for (int64_t i = 0; i < nb && !have_v; i++)
        (m == 4 ? wino4_input : wino2_input)(V + i * T, x + i * xs, Cin, H, W, tw, ti0, nr, n, scratch);
    /* V[xi, c, n] and M[xi, o, n]: each GEMM reads and writes one contiguous block (ld = n). The
     * channel-major [c][xi][n] layout, where a tile's nx values lie in one block but each GEMM reads
     * its rows nx * n apart, was slower (2 threads, channel-major -> this): four 64^2 x 320-channel
     * maps one by one 47-48 -> 35-36 ms, one 256^2 x 256 map 72-73 -> 68-70 ms, batch bands of four
     * 32^2 x 1280 maps 147-151 -> 127-132 ms, of four 16^2 2560 -> 1280 115-120 -> 100 ms. The
     * bytes of single maps did not change; batch bands at 32^2 and 16^2 moved by up to 6e-6 of the
     * output scale (only the GEMMs' leading dimensions differ, so oneDNN's rounding moved), and stay
     * the same for every thread count. */
    for (int xi = 0; xi < nx; xi++)
        GC_TRY((tiled ? gc_sgemm_tiled : gc_sgemm)(false, false, ob, n, Cin, 1.0f, U + (int64_t)xi * ob * Cin, Cin,
                                                   V + (int64_t)xi * Cin * n, n, 0.0f, M + (int64_t)xi * ob * n, n));
    for (int64_t i = 0; i < nb; i++)
        (m == 4 ? wino4_output : wino2_output)(y + i * ys + os, b ? b + o0 : NULL, res ? res + i * ys + os : NULL,
                                               M + i * T, ob, H, W, tw, ti0, nr, n);
    return GC_OK;
}

gc_status gc_winograd3x3(gc_arena *scratch, int m, int64_t B, float *y, const float *x, const float *w, const float *b,
                         const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout) {
    const int nx = (m + 2) * (m + 2);
    const int64_t th = (H + m - 1) / m, tw = (W + m - 1) / m, T = th * tw, xs = Cin * H * W, ys = Cout * H * W;
    /* whole tile rows per band, 256..1024 tiles within GC_WINO_BAND_FLOATS, and 4 bands where the map
     * allows. Never from the thread count: the GEMM width must not change with it, or the bytes would. */
    int64_t most = GC_MIN(GC_WINO_BAND_TILES, GC_WINO_BAND_FLOATS / (nx * (Cin + Cout)));
    int64_t rows = GC_MAX(1, GC_MIN(most / tw, GC_MAX((th + 3) / 4, (GC_WINO_MIN_TILES + tw - 1) / tw)));
    int64_t nbands = (th + rows - 1) / rows;
    rows = (th + nbands - 1) / nbands; /* equal bands: 64^2 at F(4x4) with 512 channels is 2 x 8 rows, not 14 + 2 */
    /* a batch of maps under 64x64 that are one band each: bands of whole maps, up to
     * GC_WINO_BAND_TILES tiles within GC_WINO_BATCH_FLOATS, and the filters in equal blocks of output
     * channels within GC_WINO_U_FLOATS (all of a 2560 -> 1280 conv's would take 210 MB at F(2x2)).
     * A 64x64 map is 256 F(4x4) tiles, wide enough alone: four 320-channel maps took 44 ms as one
     * 1024-tile band, 27-30 ms one by one. */
    const int64_t per_band = B > 1 && nbands == 1 && H * W < 4096
        ? GC_MAX(1, GC_MIN(B, GC_MIN(GC_WINO_BAND_TILES, GC_WINO_BATCH_FLOATS / (nx * (Cin + Cout))) / T)) : 1;
    int64_t ob = Cout;
    if (per_band > 1 && nx * Cout * Cin > GC_WINO_U_FLOATS) {
        const int64_t nblk = (nx * Cout * Cin + GC_WINO_U_FLOATS - 1) / GC_WINO_U_FLOATS;
        ob = GC_MIN(Cout, ((Cout + nblk - 1) / nblk + 15) / 16 * 16);
    }
    int64_t band = per_band * rows * tw, Wp = m * tw + 2;
    const bool par = per_band == 1 && nbands >= GC_CONV_PAR_BANDS;
    const int nthr = omp_get_max_threads(), nt = par ? (int)GC_MIN((int64_t)nthr, nbands) : 1;
    /* per band in flight: V, M and the rows of the input transform (one set per channel-loop thread) */
    int64_t per = nx * (Cin + ob) * band + 2 * (m + 2) * Wp * (par ? 1 : nthr);
    size_t mark = gc_arena_mark(scratch);
    float *U = gc_arena_floats(scratch, nx * ob * Cin);
    float *buf = U ? gc_arena_floats(scratch, nt * per) : NULL;
    if (!buf) {
        gc_arena_rewind(scratch, mark);
        return gc_error_context(GC_ERR_NOMEM, "conv2d Winograd buffers");
    }
    void (*filter)(float *, const float *, int64_t, int64_t) = m == 4 ? wino4_filter : wino2_filter;
    gc_status st = GC_OK;
    if (per_band > 1) {
        const bool one_group = per_band >= B; /* V is then transformed once for all blocks */
        for (int64_t o0 = 0; o0 < Cout && st == GC_OK; o0 += ob) {
            const int64_t nob = GC_MIN(ob, Cout - o0);
            filter(U, w + o0 * Cin * 9, nob, Cin);
            for (int64_t i = 0; i < B && st == GC_OK; i += per_band)
                st = wino_band(m, y + i * ys, b, res ? res + i * ys : NULL, x + i * xs, U, GC_MIN(per_band, B - i), Cin,
                               H, W, Cout, o0, nob, 0, th, one_group && o0 > 0, true, buf);
        }
    } else {
        filter(U, w, Cout, Cin);
        for (int64_t i = 0; i < B && st == GC_OK; i++) {
            float *yi = y + i * ys;
            const float *xi = x + i * xs, *ri = res ? res + i * ys : NULL;
            if (par) {
                int64_t failed = nbands;
#pragma omp parallel for schedule(static) num_threads(nt) reduction(min : failed)
                for (int64_t bi = 0; bi < nbands; bi++)
                    if (wino_band(m, yi, b, ri, xi, U, 1, Cin, H, W, Cout, 0, Cout, bi * rows,
                                  GC_MIN(rows, th - bi * rows), false, false,
                                  buf + (int64_t)omp_get_thread_num() * per) != GC_OK)
                        failed = GC_MIN(failed, bi);
                /* a worker's message is its thread's: redo the failing band here to report it */
                if (failed < nbands)
                    st = wino_band(m, yi, b, ri, xi, U, 1, Cin, H, W, Cout, 0, Cout, failed * rows,
                                   GC_MIN(rows, th - failed * rows), false, false, buf);
            } else {
                for (int64_t bi = 0; bi < nbands && st == GC_OK; bi++)
                    st = wino_band(m, yi, b, ri, xi, U, 1, Cin, H, W, Cout, 0, Cout, bi * rows,
                                   GC_MIN(rows, th - bi * rows), false, true, buf);
            }
        }
    }
    gc_arena_rewind(scratch, mark);
    return st;
}
