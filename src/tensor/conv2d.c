#include <omp.h>
#include <string.h>

#include "tensor/conv2d.h"
#include "tensor/activation.h"
#include "tensor/im2col.h"
#include "tensor/linear.h"
#include "tensor/winograd.h"

/* Bands of about GC_CONV_BAND_COLS output positions: a K x 2048 column block stays in the 4 MB L2 for
 * the SD-1.5 VAE (K = 1152) and runs the SGEMM near peak (~100 GFLOP/s per core here), while one
 * 32 MB block for the whole band ran at ~60. GC_CONV_BAND_FLOATS caps the block for large K. */
#define GC_CONV_BAND_COLS 2048
#define GC_CONV_BAND_FLOATS (8 << 20)
/* 3x3 stride-2 convs from this many outputs run as phase GEMMs (the VAE's downsamples) */
#define GC_CONV_S2_MIN 4096
#define GC_CONV_S2_ACC (256 << 10)

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

/* Output rows [r0, r1) of an im2col + GEMM conv; col holds K x (r1 - r0) * Wo floats. */
static gc_status im2col_band(float *y, const float *x, const float *w, int64_t Cin, int64_t H, int64_t W,
                             int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad, int64_t Wo, int64_t HWo, int64_t r0,
                             int64_t r1, bool tiled, float *col) {
    int64_t K = Cin * k * k, n = (r1 - r0) * Wo;
    gc_im2col_band(col, n, x, Cin, H, W, k, stride, pad, Wo, r0, r1);
    return (tiled ? gc_sgemm_tiled : gc_sgemm)(false, false, Cout, n, K, 1.0f, w, K, col, n, 1.0f, y + r0 * Wo, HWo);
}

/* Output rows per im2col band (at least 1, at most Ho). */
static int64_t band_rows(int64_t K, int64_t Ho, int64_t Wo) {
    int64_t band = GC_MIN((GC_CONV_BAND_COLS + Wo - 1) / Wo, GC_CONV_BAND_FLOATS / (K * Wo));
    return GC_MAX(1, GC_MIN(band, Ho));
}

static gc_status conv_gemm(gc_arena *scratch, float *y, const float *x, const float *w, const float *b, int64_t Cin,
                           int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad);
static gc_status conv_gemm_batch(gc_arena *scratch, int64_t B, float *y, const float *x, const float *w,
                                 const float *b, const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                                 int64_t k, int64_t stride, gc_pad2d pad);
static gc_status conv_s2_phases(gc_arena *scratch, float *y, const float *x, const float *w, const float *b,
                                int64_t Cin, int64_t H, int64_t W, int64_t Cout, gc_pad2d pad);

gc_status gc_conv2d_scratch(gc_arena *scratch, int64_t B, float *y, const float *x, const float *w, const float *b,
                            const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k,
                            int64_t stride, gc_pad2d pad) {
    const int64_t Ho = gc_conv2d_out(H, k, stride, pad.top, pad.bottom), Wo = gc_conv2d_out(W, k, stride, pad.left, pad.right);
    const int64_t HWo = Ho * Wo, xs = Cin * H * W, ys = Cout * HWo, K = Cin * k * k;
    /* Winograd pays off once the GEMMs have some width (not on one 16x16 or 8x8 map); F(4x4) from 64x64
     * up (1.15-1.35x F(2x2) from 128x128; at 64x64, 1 and 2 threads: UNet 320 channels 1.5x, 256
     * channels 1.6x, 640 -> 320 1.25x, VAE 512 channels 1.1x / 1.0x), F(2x2) below. A batch widens
     * each GEMM B-fold (bands of whole maps). 2 threads, 4 maps, against the convs of one map at a
     * time: at 32x32, F(4x4) 1.5-1.7x from 640 input channels (1280 -> 1280: 211 -> 127 ms), F(2x2)
     * 1.35x at 320; at 16x16, F(2x2) 1.3-1.6x (2560 -> 1280: 164 -> 101 ms); at 8x8 it loses to the
     * batched im2col below. It writes the bias (and adds the residual) with the output; the GEMM
     * paths accumulate onto it. */
    if (k == 3 && stride == 1 && pad.top == 1 && pad.left == 1 && pad.bottom == 1 && pad.right == 1 && Cin >= 32 &&
        (HWo >= 1024 || (B * HWo >= 1024 && HWo >= 256))) {
        const int m = HWo >= 4096 || (B * HWo >= 4096 && Cin >= 512) ? 4 : 2;
        return gc_winograd3x3(scratch, m, B, y, x, w, b, res, Cin, H, W, Cout);
    }
    /* maps of at most half a GEMM's GC_CONV_BATCH_COLS columns go several to a GEMM */
    if (B > 1 && 2 * HWo <= GC_CONV_BATCH_COLS && band_rows(K, Ho, Wo) == Ho) {
        const int64_t nb = GC_CONV_BATCH_COLS / HWo;
        for (int64_t i = 0; i < B; i += nb)
            GC_TRY(conv_gemm_batch(scratch, GC_MIN(nb, B - i), y + i * ys, x + i * xs, w, b, res ? res + i * ys : NULL,
                                   Cin, H, W, Cout, k, stride, pad));
        return GC_OK;
    }
    for (int64_t i = 0; i < B; i++) {
        GC_TRY(k == 3 && stride == 2 && HWo >= GC_CONV_S2_MIN
                   ? conv_s2_phases(scratch, y + i * ys, x + i * xs, w, b, Cin, H, W, Cout, pad)
                   : conv_gemm(scratch, y + i * ys, x + i * xs, w, b, Cin, H, W, Cout, k, stride, pad));
        if (res) gc_add_scaled(y + i * ys, res + i * ys, NULL, 1, ys);
    }
    return GC_OK;
}

/* im2col + GEMM (1x1: one GEMM) onto the bias. */
static gc_status conv_gemm(gc_arena *scratch, float *y, const float *x, const float *w, const float *b, int64_t Cin,
                           int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad) {
    int64_t Ho = gc_conv2d_out(H, k, stride, pad.top, pad.bottom);
    int64_t Wo = gc_conv2d_out(W, k, stride, pad.left, pad.right);
    int64_t HWo = Ho * Wo, K = Cin * k * k;
    fill_bias(y, b, Cout, HWo);
    if (k == 1 && stride == 1 && !pad.top && !pad.left && !pad.bottom && !pad.right)
        return gc_matmul(y, w, x, Cout, Cin, HWo, false, false, 1.0f, 1.0f);
    int64_t band = band_rows(K, Ho, Wo);
    int64_t nbands = (Ho + band - 1) / band;
    const bool par = nbands >= GC_CONV_PAR_BANDS;
    const int nt = par ? (int)GC_MIN((int64_t)omp_get_max_threads(), nbands) : 1;
    size_t mark = gc_arena_mark(scratch);
    float *col = gc_arena_floats(scratch, nt * K * band * Wo);
    if (!col) return gc_error_context(GC_ERR_NOMEM, "conv2d column buffer");
    gc_status st = GC_OK;
    if (par) {
        int64_t failed = nbands;
#pragma omp parallel for schedule(static) num_threads(nt) reduction(min : failed)
        for (int64_t bi = 0; bi < nbands; bi++)
            if (im2col_band(y, x, w, Cin, H, W, Cout, k, stride, pad, Wo, HWo, bi * band, GC_MIN(Ho, bi * band + band),
                            false, col + (int64_t)omp_get_thread_num() * K * band * Wo) != GC_OK)
                failed = GC_MIN(failed, bi);
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

/* B whole maps as one GEMM: acc[Cout, B * HWo] = bias + w . [col_0 | col_1 | ...], then each image's
 * columns go to its output (+ res). The UNet's 8x8 level streams 59-118 MB of weights per conv for
 * 64 output positions per map; four maps in one GEMM take 0.8x the time of four (2 threads). The
 * operations per output value are those of conv_gemm (bias, GEMM onto it, residual). */
static gc_status conv_gemm_batch(gc_arena *scratch, int64_t B, float *y, const float *x, const float *w,
                                 const float *b, const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout,
                                 int64_t k, int64_t stride, gc_pad2d pad) {
    const int64_t Ho = gc_conv2d_out(H, k, stride, pad.top, pad.bottom), Wo = gc_conv2d_out(W, k, stride, pad.left, pad.right);
    const int64_t HWo = Ho * Wo, K = Cin * k * k, n = B * HWo;
    size_t mark = gc_arena_mark(scratch);
    float *col = gc_arena_floats(scratch, K * n), *acc = col ? gc_arena_floats(scratch, Cout * n) : NULL;
    if (!acc) {
        gc_arena_rewind(scratch, mark);
        return gc_error_context(GC_ERR_NOMEM, "conv2d batch column buffer");
    }
    for (int64_t i = 0; i < B; i++) gc_im2col_band(col + i * HWo, n, x + i * Cin * H * W, Cin, H, W, k, stride, pad, Wo, 0, Ho);
    fill_bias(acc, b, Cout, n);
    gc_status st = gc_sgemm_tiled(false, false, Cout, n, K, 1.0f, w, K, col, n, 1.0f, acc, n);
    if (st == GC_OK) {
#pragma omp parallel for schedule(static) if (Cout * n > 65536)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t i = 0; i < B; i++) {
                float *dst = y + (i * Cout + o) * HWo;
                const float *src = acc + o * n + i * HWo, *r = res ? res + (i * Cout + o) * HWo : NULL;
                if (r)
                    for (int64_t j = 0; j < HWo; j++) dst[j] = src[j] + r[j];
                else
                    memcpy(dst, src, (size_t)HWo * sizeof(float));
            }
    }
    gc_arena_rewind(scratch, mark);
    return st;
}

gc_status gc_conv2d(float *y, const float *x, const float *w, const float *b, int64_t Cin, int64_t H, int64_t W,
                    int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad) {
    gc_arena a;
    gc_arena_init(&a, gc_alloc, gc_free);
    gc_status st = gc_conv2d_scratch(&a, 1, y, x, w, b, NULL, Cin, H, W, Cout, k, stride, pad);
    gc_arena_free(&a);
    return st;
}

/* Phase rows r0 .. r0+nr of P_pq (the taps with ky = 2 read one row down) and a zero row for the
 * dropped column's last read: ph[p, q, c] is (nr + 2) x Wp. */
GC_CLONES static void s2_phases(float *ph, const float *x, int64_t Cin, int64_t H, int64_t W, gc_pad2d pad, int64_t Wp,
                                int64_t r0, int64_t nr, int64_t plane) {
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 2; q++) {
            /* columns j whose input 2j + q - left lies inside the row: [jlo, jhi) */
            const int64_t off = q - pad.left, jlo = GC_MIN(Wp, GC_MAX(0, (-off + 1) / 2)),
                          jhi = GC_MAX(jlo, GC_MIN(Wp, (W - off + 1) / 2));
            for (int64_t c = 0; c < Cin; c++) {
                float *dst = ph + ((p * 2 + q) * Cin + c) * plane;
                const float *xc = x + c * H * W;
                for (int64_t a = 0; a < nr + 2; a++) {
                    const int64_t iy = 2 * (r0 + a) + p - pad.top;
                    float *d = dst + a * Wp;
                    if (a == nr + 1 || iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)Wp * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + iy * W + off;
                    for (int64_t j = 0; j < jlo; j++) d[j] = 0.0f;
                    for (int64_t j = jlo; j < jhi; j++) d[j] = xr[2 * j];
                    for (int64_t j = jhi; j < Wp; j++) d[j] = 0.0f;
                }
            }
        }
}

static gc_status s2_band(float *y, const float *x, const float *wt, const float *b, int64_t Cin, int64_t H, int64_t W,
                         int64_t Cout, gc_pad2d pad, int64_t Ho, int64_t Wo, int64_t r0, int64_t r1, bool tiled,
                         float *buf) {
    const int64_t Wp = Wo + 1, nr = r1 - r0, plane = (nr + 2) * Wp, n = nr * Wp;
    float *ph = buf, *acc = ph + 4 * Cin * plane;
    s2_phases(ph, x, Cin, H, W, pad, Wp, r0, nr, plane);
    fill_bias(acc, b, Cout, n);
    for (int tap = 0; tap < 9; tap++) {
        const int ky = tap / 3, kx = tap % 3;
        const float *B = ph + (((ky & 1) * 2 + (kx & 1)) * Cin) * plane + (ky / 2) * Wp + kx / 2;
        GC_TRY((tiled ? gc_sgemm_tiled : gc_sgemm)(false, false, Cout, n, Cin, 1.0f, wt + tap * Cout * Cin, Cin, B,
                                                   plane, 1.0f, acc, n));
    }
    for (int64_t o = 0; o < Cout; o++)
        for (int64_t r = r0; r < r1; r++)
            memcpy(y + (o * Ho + r) * Wo, acc + o * n + (r - r0) * Wp, (size_t)Wo * sizeof(float));
    return GC_OK;
}

/* A 3x3 stride-2 conv without im2col. Output (i, j) reads input (2i + ky - top, 2j + kx - left): tap
 * (ky, kx) reads phase (ky & 1, kx & 1) of the input, P_pq[c, a, b] = x[c, 2a + p - top, 2b + q - left],
 * at (i + ky/2, j + kx/2). With the phases laid out Wo + 1 wide, the tap's operand for a band of
 * output rows is one plain [Cin, rows * (Wo + 1)] matrix at an offset into them, so the conv is nine
 * GEMMs onto the bias (K = Cin each) over phase copies that hold the input once, where im2col wrote
 * it nine times (column Wo of the result is not an output and is dropped). */
static gc_status conv_s2_phases(gc_arena *scratch, float *y, const float *x, const float *w, const float *b,
                                int64_t Cin, int64_t H, int64_t W, int64_t Cout, gc_pad2d pad) {
    const int64_t Ho = gc_conv2d_out(H, 3, 2, pad.top, pad.bottom), Wo = gc_conv2d_out(W, 3, 2, pad.left, pad.right);
    const int64_t band = GC_MAX(1, GC_MIN(Ho, GC_CONV_S2_ACC / (Cout * (Wo + 1)))), nbands = (Ho + band - 1) / band;
    const bool par = nbands >= GC_CONV_PAR_BANDS;
    const int nt = par ? (int)GC_MIN((int64_t)omp_get_max_threads(), nbands) : 1;
    const int64_t per = (4 * Cin * (band + 2) + Cout * band) * (Wo + 1);
    size_t mark = gc_arena_mark(scratch);
    float *wt = gc_arena_floats(scratch, 9 * Cout * Cin), *buf = wt ? gc_arena_floats(scratch, nt * per) : NULL;
    if (!buf) {
        gc_arena_rewind(scratch, mark);
        return gc_error_context(GC_ERR_NOMEM, "conv2d stride-2 phase buffers");
    }
#pragma omp parallel for schedule(static) if (Cout * Cin > 4096)
    for (int64_t o = 0; o < Cout; o++) /* wt[tap, o, c] = w[o, c, tap] */
        for (int64_t c = 0; c < Cin; c++)
            for (int tap = 0; tap < 9; tap++) wt[(tap * Cout + o) * Cin + c] = w[(o * Cin + c) * 9 + tap];
    gc_status st = GC_OK;
    if (par) {
        int64_t failed = nbands;
#pragma omp parallel for schedule(static) num_threads(nt) reduction(min : failed)
        for (int64_t bi = 0; bi < nbands; bi++)
            if (s2_band(y, x, wt, b, Cin, H, W, Cout, pad, Ho, Wo, bi * band, GC_MIN(Ho, bi * band + band), false,
                        buf + (int64_t)omp_get_thread_num() * per) != GC_OK)
                failed = GC_MIN(failed, bi);
        if (failed < nbands)
            st = s2_band(y, x, wt, b, Cin, H, W, Cout, pad, Ho, Wo, failed * band, GC_MIN(Ho, failed * band + band),
                         false, buf);
    } else {
        for (int64_t r0 = 0; r0 < Ho && st == GC_OK; r0 += band)
            st = s2_band(y, x, wt, b, Cin, H, W, Cout, pad, Ho, Wo, r0, GC_MIN(Ho, r0 + band), true, buf);
    }
    gc_arena_rewind(scratch, mark);
    return st;
}
