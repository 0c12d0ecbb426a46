/* Internal to tensor/attention.c: one (head, query block) of attention, per instruction set. The
 * portable kernel runs tile SGEMMs on head-major K and V copies; the AVX-512 kernel
 * (attention_avx512.c, built with AVX-512 flags, run when gc_cpu_level() >= 4) keeps K^T and V in
 * the panel layouts its register tiles read, so nothing is packed again per query block. */
#ifndef GC_ATTENTION_KERNELS_H
#define GC_ATTENTION_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "geocorr.h"
#include "tensor/relpos.h"

/* AVX-512 blocking: query rows per job, keys per softmax step, keys per K^T panel. */
enum { GC_ATT512_BQ = 96, GC_ATT512_BK = 128, GC_ATT512_KP = 32 };

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

/* AVX-512 layouts: K^T in panels of GC_ATT512_KP keys, kp[h][panel][hd][KP] (keys past Tk zero);
 * V as vp[h][key][hdp] with hdp = hd rounded up to 16 and keys up to a panel multiple (zero pad). */
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
