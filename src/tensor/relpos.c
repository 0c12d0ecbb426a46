#include "tensor/relpos.h"

#include "base/base.h"
#include "tensor/linear.h"

gc_status gc_relpos_project(float *ph, float *pw, const float *q, int64_t ldq, int64_t nq, int64_t hd,
                            const gc_relpos *rp) {
    const int64_t lh = 2 * rp->nh - 1, lw = 2 * rp->nw - 1;
    GC_TRY(gc_sgemm(false, true, nq, lh, hd, 1.0f, q, ldq, rp->rel_h, hd, 0.0f, ph, lh));
    return gc_sgemm(false, true, nq, lw, hd, 1.0f, q, ldq, rp->rel_w, hd, 0.0f, pw, lw);
}

void gc_relpos_add(float *S, int64_t ldi, int64_t ldj, const float *ph, const float *pw, int64_t t0, int64_t nq,
                   int64_t s0, int64_t nk, const gc_relpos *rp) {
    const int64_t nh = rp->nh, nw = rp->nw, lh = 2 * nh - 1, lw = 2 * nw - 1;
    for (int64_t i = 0; i < nq; i++) {
        const int64_t t = t0 + i, qy = t / nw, qx = t % nw;
        /* rh[-ky] = ph[i, qy - ky + nh - 1], rw[-kx] = pw[i, qx - kx + nw - 1] */
        const float *rh = ph + i * lh + qy + nh - 1, *rw = pw + i * lw + qx + nw - 1;
        float *row = S + i * ldi;
        /* walk the keys of the tile in runs of one grid row (constant ky, consecutive kx) */
        for (int64_t j = 0; j < nk;) {
            const int64_t s = s0 + j, ky = s / nw, kx0 = s % nw;
            const int64_t run = nw - kx0 < nk - j ? nw - kx0 : nk - j;
            const float bh = rh[-ky];
            float *r = row + j * ldj;
            for (int64_t x = 0; x < run; x++) r[x * ldj] = (r[x * ldj] + bh) + rw[-(kx0 + x)];
            j += run;
        }
    }
}
