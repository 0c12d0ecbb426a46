/* The GeoAware-SC training losses (REFERENCE.md §5.2-5.3, utils_losses.calculate_loss) on unit
 * token descriptors S, T [side*side, P] over a side x side grid (60x60), with their gradients.
 *
 * Sparse: the CLIP loss over the n keypoint cells, logits = exp(logit_scale) Fs Ft^T, mean of the
 * row and column cross-entropies. Dense: P = softmax_t((S_i . T_t - max)/beta) for each keypoint
 * source cell i, expected target coordinates through the LEARNABLE grids g_x, g_y (linspace(-1, 1)
 * initially) mapped to cells, flow = expectation - source cell, loss = mean Euclidean error against
 * the (jittered) ground-truth flow. Every gradient is scaled by grad_scale and ACCUMULATED. */
#ifndef GC_TRAIN_LOSS_H
#define GC_TRAIN_LOSS_H

#include <stdint.h>

#include "base/base.h"
#include "match/match.h"


/* Sparse CLIP loss. dS, dT: [HW, P] accumulators (may be NULL together: loss only). */
gc_status gc_loss_clip(const float *S, const float *T, int64_t P, int64_t n, const int64_t *is, const int64_t *it,
                       float logit_scale, float grad_scale, float *dS, float *dT, float *dlogit_scale,
                       float *loss);

/* Dense soft-argmax EPE loss. gt [n,2] target flow (cells). flow [n,2] (optional) receives the
 * predicted flow at the keypoint cells. dS, dT [HW,P], dg[2*side] (g_x then g_y) accumulators, NULL
 * for the loss alone. */
gc_status gc_loss_dense(const float *S, const float *T, int64_t P, int64_t side, int64_t n, const int64_t *is,
                        const float *gt, const float *g, float beta, float grad_scale, float *dS, float *dT,
                        float *dg, float *flow, float *loss);

/* Predicted flow of every source cell: flow[side*side, 2] (dx, dy) (the reference's corr_map_net output). */
gc_status gc_flow_map(const float *S, const float *T, int64_t P, int64_t side, const float *g, float beta,
                      float *flow);

#endif
