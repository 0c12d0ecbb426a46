/* Decomposed relative position term of ViTDet / SAM attention (MViTv2, `add_decomposed_rel_pos`):
 * queries and keys lie on the same nh x nw grid (token t = (t / nw, t % nw)) and the score of query
 * t = (qy, qx) for key s = (ky, kx) gains
 *     q_t · rel_h[qy - ky + nh - 1] + q_t · rel_w[qx - kx + nw - 1]
 * with the UNSCALED query (the tables are shared by every head). gc_attention_relpos evaluates it
 * tile by tile inside the tiled attention, so no Tq x Tk bias is ever stored: per query block it
 * projects the block's queries on the two tables (one small GEMM each, 2n-1 columns) and adds the
 * gathered entries to each score tile. */
#ifndef GC_RELPOS_H
#define GC_RELPOS_H

#include <stdint.h>

#include "geocorr.h"

typedef struct {
    const float *rel_h; /* [2*nh - 1, hd] */
    const float *rel_w; /* [2*nw - 1, hd] */
    int64_t nh, nw;     /* the token grid (Tq = Tk = nh * nw) */
} gc_relpos;

/* Projections of nq query rows of one head (row stride ldq, hd channels):
 * ph[i, r] = q_i · rel_h[r] ([nq, 2nh-1]) and pw[i, r] = q_i · rel_w[r] ([nq, 2nw-1]).
 * A serial SGEMM each (called inside the attention's parallel loop); fails only when one does. */
gc_status gc_relpos_project(float *ph, float *pw, const float *q, int64_t ldq, int64_t nq, int64_t hd,
                            const gc_relpos *rp);

/* S[i, j] = (S[i, j] + ph[i, qy - ky + nh - 1]) + pw[i, qx - kx + nw - 1] for query t0 + i and key
 * s0 + j (i < nq, j < nk), the order of upstream's `attn + rel_h + rel_w`. S[i, j] is S[i * ldi + j * ldj]
 * (query rows: ldj = 1; the AVX-512 kernel's key rows: ldi = 1). */
void gc_relpos_add(float *S, int64_t ldi, int64_t ldj, const float *ph, const float *pw, int64_t t0, int64_t nq,
                   int64_t s0, int64_t nk, const gc_relpos *rp);

#endif
