#include <omp.h>
#include <string.h>

#include "tensor/conv2d.h"
#include "tensor/im2col.h"
#include "tensor/linear.h"

/* Convolutions run over bands of output rows. With at least GC_CONV_PAR_BANDS bands, bands run in
 * parallel (one thread each, serial GEMMs); with fewer (small maps: the UNet's 32x32 and 16x16
 * levels are one band), bands run one after another and each GEMM is spread over the threads in
 * fixed tiles, so no map size caps the thread count. The mode depends on the shape alone. */
#define GC_CONV_PAR_BANDS 8

/* Bands of about GC_CONV_BAND_COLS output positions: a K x 2048 column block stays in the 4 MB L2 for
 * the SD-1.5 VAE (K = 1152) and runs OpenBLAS near peak (~100 GFLOP/s per core here), while one
 * 32 MB block for the whole band ran at ~60. GC_CONV_BAND_FLOATS caps the block for large K. */
#define GC_CONV_BAND_COLS 2048
#define GC_CONV_BAND_FLOATS (8 << 20)

int64_t gc_conv2d_out(int64_t n, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
    return (n + pad_lo + pad_hi - k) / stride + 1;
}

static void fill_bias(float *y, const float *b, int64_t Cout, int64_t n) {
    for (int64_t o = 0; o < Cout; o++) {
        float v = b ? b[o] : 0.0f;
        float *row = y + o * n;
        for (int64_t i = 0; i < n; i++) row[i] = v;
    }
}

/* Winograd F(2x2, 3x3) for the stride-1, pad-1 3x3 convs that dominate SD (2.25x fewer
 * multiplications than im2col + GEMM): per 2x2 output tile, V = B^T d B of its 4x4 input patch,
 * U = G g G^T of each filter, 16 GEMMs M[xi] = U[xi] . V[xi] (Cout x Cin x tiles), Y = A^T M A.
 * Tiles are processed in bands of whole tile rows. */
#define GC_WINO_BAND_TILES 1024
#define GC_WINO_MIN_TILES 256 /* narrower GEMMs (N < 256) lose more than the extra band gains */

GC_CLONES static void wino_filter(float *U, const float *w, int64_t Cout, int64_t Cin) {
#pragma omp parallel for schedule(static) if (Cout * Cin > 4096)
    for (int64_t oc = 0; oc < Cout * Cin; oc++) {
        const float *g = w + oc * 9;
        float t[4][3], u[4][4];
        for (int j = 0; j < 3; j++) { /* G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            u[i][0] = t[i][0];
            u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            u[i][3] = t[i][2];
        }
        for (int xi = 0; xi < 16; xi++) U[(int64_t)xi * Cout * Cin + oc] = u[xi / 4][xi % 4];
    }
}

/* V[xi, c, n] for the tile rows ti0 .. ti0+nr-1 (n = (ti - ti0) * tw + tj). rows: scratch of
 * 8 * (2*tw + 2) floats per thread of the channel loop (one when called inside a parallel band). */
GC_CLONES static void wino_input(float *V, const float *x, int64_t Cin, int64_t H, int64_t W, int64_t tw, int64_t ti0,
                       int64_t nr, float *rows) {
    int64_t Wp = 2 * tw + 2, nt = nr * tw, stride = Cin * nt;
#pragma omp parallel for schedule(static) if (Cin * nt > 65536)
    for (int64_t c = 0; c < Cin; c++) {
        float *d = rows + (int64_t)omp_get_thread_num() * 8 * Wp, *t = d + 4 * Wp; /* 4 padded input rows, then
                                                                                  * B^T down the columns */
        const float *xc = x + c * H * W;
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            for (int r = 0; r < 4; r++) {
                int64_t iy = 2 * ti - 1 + r;
                float *dr = d + r * Wp;
                dr[0] = 0.0f;
                for (int64_t i = W + 1; i < Wp; i++) dr[i] = 0.0f;
                if (iy >= 0 && iy < H) memcpy(dr + 1, xc + iy * W, (size_t)W * sizeof(float));
                else memset(dr + 1, 0, (size_t)W * sizeof(float));
            }
            for (int64_t i = 0; i < Wp; i++) {
                float d0 = d[i], d1 = d[Wp + i], d2 = d[2 * Wp + i], d3 = d[3 * Wp + i];
                t[i] = d0 - d2;
                t[Wp + i] = d1 + d2;
                t[2 * Wp + i] = d2 - d1;
                t[3 * Wp + i] = d1 - d3;
            }
            float *v = V + c * nt + (ti - ti0) * tw;
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

/* y (bias already there) += A^T M A for each tile of the rows ti0 .. ti0+nr-1. */
GC_CLONES static void wino_output(float *y, const float *M, int64_t Cout, int64_t H, int64_t W, int64_t tw, int64_t ti0,
                        int64_t nr) {
    int64_t nt = nr * tw, stride = Cout * nt, full = W / 2; /* tiles whose 2 columns both exist */
#pragma omp parallel for schedule(static) if (Cout * nt > 65536)
    for (int64_t o = 0; o < Cout; o++) {
        float *yo = y + o * H * W;
        for (int64_t ti = ti0; ti < ti0 + nr; ti++) {
            const float *m = M + o * nt + (ti - ti0) * tw;
            float *y0 = yo + 2 * ti * W, *y1 = 2 * ti + 1 < H ? y0 + W : NULL;
            for (int64_t j = 0; j < tw; j++) {
                float s0[4], s1[4]; /* A^T m: rows m0 + m1 + m2 and m1 - m2 - m3 */
                for (int q = 0; q < 4; q++) {
                    float m0 = m[q * stride + j], m1 = m[(4 + q) * stride + j], m2 = m[(8 + q) * stride + j],
                          m3 = m[(12 + q) * stride + j];
                    s0[q] = m0 + m1 + m2;
                    s1[q] = m1 - m2 - m3;
                }
                y0[2 * j] += s0[0] + s0[1] + s0[2];
                if (y1) y1[2 * j] += s1[0] + s1[1] + s1[2];
                if (j < full) {
                    y0[2 * j + 1] += s0[1] - s0[2] - s0[3];
                    if (y1) y1[2 * j + 1] += s1[1] - s1[2] - s1[3];
                }
            }
        }
    }
}

/* Band bi of the Winograd conv: tile rows bi*rows .. (at most `rows` of them). buf: V, M and the
 * input-transform rows. tiled: GEMMs spread over the threads in fixed tiles, else on this thread. */
static gc_status wino_band(float *y, const float *x, const float *U, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                           int64_t rows, int64_t bi, bool tiled, float *buf) {
    int64_t th = (H + 1) / 2, tw = (W + 1) / 2, band = rows * tw;
    int64_t ti0 = bi * rows, nr = GC_MIN(rows, th - ti0), n = nr * tw;
    float *V = buf, *M = V + 16 * Cin * band, *scratch = M + 16 * Cout * band;
    wino_input(V, x, Cin, H, W, tw, ti0, nr, scratch);
    for (int xi = 0; xi < 16; xi++)
        GC_TRY((tiled ? gc_sgemm_tiled : gc_sgemm)(false, false, Cout, n, Cin, 1.0f, U + (int64_t)xi * Cout * Cin, Cin,
                                                   V + (int64_t)xi * Cin * n, n, 0.0f, M + (int64_t)xi * Cout * n, n));
    wino_output(y, M, Cout, H, W, tw, ti0, nr);
    return GC_OK;
}

static gc_status conv3x3_winograd(gc_arena *scratch, float *y, const float *x, const float *w, int64_t Cin, int64_t H,
                                  int64_t W, int64_t Cout) {
    int64_t th = (H + 1) / 2, tw = (W + 1) / 2;
    /* whole tile rows per band, 256..1024 tiles, and 4 bands where the map allows. Never from the
     * thread count: the GEMM width must not change with it, or the bytes would. */
    int64_t rows = GC_MAX(1, GC_MIN(GC_WINO_BAND_TILES / tw, GC_MAX((th + 3) / 4, (GC_WINO_MIN_TILES + tw - 1) / tw)));
    int64_t nbands = (th + rows - 1) / rows, band = rows * tw, Wp = 2 * tw + 2;
    const bool par = nbands >= GC_CONV_PAR_BANDS;
    const int nthr = omp_get_max_threads(), nt = par ? (int)GC_MIN((int64_t)nthr, nbands) : 1;
    /* per band in flight: V, M and the rows of the input transform (one set per channel-loop thread) */
    int64_t per = 16 * (Cin + Cout) * band + 8 * Wp * (par ? 1 : nthr);
    size_t mark = gc_arena_mark(scratch);
    float *U = gc_arena_floats(scratch, 16 * Cout * Cin);
    float *buf = U ? gc_arena_floats(scratch, nt * per) : NULL;
    if (!buf) {
        gc_arena_rewind(scratch, mark);
        return gc_error_context(GC_ERR_NOMEM, "conv2d Winograd buffers");
    }
    wino_filter(U, w, Cout, Cin);
    gc_status st = GC_OK;
    if (par) {
        int64_t failed = nbands;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t bi = 0; bi < nbands; bi++)
            if (wino_band(y, x, U, Cin, H, W, Cout, rows, bi, false, buf + (int64_t)omp_get_thread_num() * per) != GC_OK) {
#pragma omp critical(gc_conv_failed)
                failed = GC_MIN(failed, bi);
            }
        /* a worker's message is its thread's: redo the failing band here to report it */
        if (failed < nbands) st = wino_band(y, x, U, Cin, H, W, Cout, rows, failed, false, buf);
    } else {
        for (int64_t bi = 0; bi < nbands && st == GC_OK; bi++) st = wino_band(y, x, U, Cin, H, W, Cout, rows, bi, true, buf);
    }
    gc_arena_rewind(scratch, mark);
    return st;
}

/* Output rows [r0, r1) of an im2col + GEMM conv; col holds K x (r1 - r0) * Wo floats. */
static gc_status im2col_band(float *y, const float *x, const float *w, int64_t Cin, int64_t H, int64_t W,
                             int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad, int64_t Wo, int64_t HWo, int64_t r0,
                             int64_t r1, bool tiled, float *col) {
    int64_t K = Cin * k * k, n = (r1 - r0) * Wo;
    gc_im2col_band(col, x, Cin, H, W, k, stride, pad, Wo, r0, r1);
    return (tiled ? gc_sgemm_tiled : gc_sgemm)(false, false, Cout, n, K, 1.0f, w, K, col, n, 1.0f, y + r0 * Wo, HWo);
}

gc_status gc_conv2d_scratch(gc_arena *scratch, float *y, const float *x, const float *w, const float *b, int64_t Cin,
                            int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad) {
    int64_t Ho = gc_conv2d_out(H, k, stride, pad.top, pad.bottom);
    int64_t Wo = gc_conv2d_out(W, k, stride, pad.left, pad.right);
    int64_t HWo = Ho * Wo, K = Cin * k * k;
    fill_bias(y, b, Cout, HWo);
    if (k == 1 && stride == 1 && !pad.top && !pad.left && !pad.bottom && !pad.right)
        return gc_matmul(y, w, x, Cout, Cin, HWo, false, false, 1.0f, 1.0f);
    /* Winograd pays off once the GEMMs have some width (not on the UNet's 8x8 maps) */
    if (k == 3 && stride == 1 && pad.top == 1 && pad.left == 1 && pad.bottom == 1 && pad.right == 1 && Cin >= 32 &&
        HWo >= 1024)
        return conv3x3_winograd(scratch, y, x, w, Cin, H, W, Cout);
    int64_t band = GC_MIN((GC_CONV_BAND_COLS + Wo - 1) / Wo, GC_CONV_BAND_FLOATS / (K * Wo));
    band = GC_MAX(1, GC_MIN(band, Ho));
    int64_t nbands = (Ho + band - 1) / band;
    const bool par = nbands >= GC_CONV_PAR_BANDS;
    const int nt = par ? (int)GC_MIN((int64_t)omp_get_max_threads(), nbands) : 1;
    size_t mark = gc_arena_mark(scratch);
    float *col = gc_arena_floats(scratch, nt * K * band * Wo);
    if (!col) return gc_error_context(GC_ERR_NOMEM, "conv2d column buffer");
    gc_status st = GC_OK;
    if (par) {
        int64_t failed = nbands;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t bi = 0; bi < nbands; bi++)
            if (im2col_band(y, x, w, Cin, H, W, Cout, k, stride, pad, Wo, HWo, bi * band, GC_MIN(Ho, bi * band + band),
                            false, col + (int64_t)omp_get_thread_num() * K * band * Wo) != GC_OK) {
#pragma omp critical(gc_conv_failed)
                failed = GC_MIN(failed, bi);
            }
        if (failed < nbands)
            st = im2col_band(y, x, w, Cin, H, W, Cout, k, stride, pad, Wo, HWo, failed * band,
                             GC_MIN(Ho, failed * band + band), false, col);
    } else {
        for (int64_t r0 = 0; r0 < Ho && st == GC_OK; r0 += band)
            st = im2col_band(y, x, w, Cin, H, W, Cout, k, stride, pad, Wo, HWo, r0, GC_MIN(Ho, r0 + band), true, col);
    }
    gc_arena_rewind(scratch, mark);
    return st;
}

gc_status gc_conv2d(float *y, const float *x, const float *w, const float *b, int64_t Cin, int64_t H, int64_t W,
                    int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad) {
    gc_arena a;
    gc_arena_init(&a, gc_alloc, gc_free);
    gc_status st = gc_conv2d_scratch(&a, y, x, w, b, Cin, H, W, Cout, k, stride, pad);
    gc_arena_free(&a);
    return st;
}
