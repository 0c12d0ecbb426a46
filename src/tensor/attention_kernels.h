/* Internal to tensor/attention.c: one (head, query block) of attention, per instruction set. The
 * portable kernel runs tile SGEMMs on head-major K and V copies; the AVX-512 kernel
 * (attention_avx512.c, built with AVX-512 flags, run when gc_cpu_level() >= 4) keeps K and V in
 * the key-row layouts its register tiles broadcast from, so nothing is packed again per query block. */
#ifndef GC_ATTENTION_KERNELS_H
#define GC_ATTENTION_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "geocorr.h"
#include "tensor/relpos.h"

/* AVX-512 blocking: queries per job (a multiple of 16: one vector lane per query), keys per softmax
 * step, keys of a score tile (the key padding of the packed K and V). */
enum { GC_ATT512_BQ = 144, GC_ATT512_BK = 64, GC_ATT512_KR = 8 };

typedef struct {
    float *out;
    int64_t ldo;
    const float *q;
    int64_t ldq;
    const float *k, *v; /* packed K and V of every head (layout of the kernel) */
    int64_t Tk, hd;
    float scale;
    bool causal;
    const gc_relpos *rp; /* relative position term (self-attention on a grid) or NULL */
} gc_att_args;

/* AVX-512 layouts: K and V of head h as key rows kp[h][key][hd], vp[h][key][hd], keys padded with
 * zero rows up to a multiple of GC_ATT512_KR. */
int64_t gc_att512_kfloats(int64_t Tk, int64_t hd); /* per head */
int64_t gc_att512_vfloats(int64_t Tk, int64_t hd);
/* Pack head h of k[Tk, ldk] / v[Tk, ldv] (columns h*hd ..). */
void gc_att512_pack(float *kp, float *vp, const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t Tk,
                    int64_t hd, int64_t h);
/* Scratch floats of one thread (besides the relative position projections). */
int64_t gc_att512_scratch(int64_t hd);
/* Rows t0 .. t0+nq-1 (nq <= GC_ATT512_BQ) of head h; P: the block's relative position projections
 * (BQ x (lh + lw), used when a->rp). Fails only when the projection GEMM does. */
gc_status gc_att512_block(const gc_att_args *a, int64_t h, int64_t t0, int64_t nq, float *P, float *scratch);

#endif
