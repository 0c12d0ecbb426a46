/* Backward pass of the post-processor (src/models/postproc.h): from the gradient of the unit token
 * descriptors to every parameter, through the token normalisation, the mixing softmax, and each
 * bottleneck block (convs as GEMMs, GroupNorm, ReLU, shortcut). The network input gets no gradient
 * (cached features are constants). */
#ifndef GC_POSTPROC_GRAD_H
#define GC_POSTPROC_GRAD_H

#include "models/postproc.h"

/* Accumulate into grads (m's layout) the gradient of a loss whose gradient with respect to c->desc
 * is ddesc[HW, P]. logit_scale / self_logit_scale are left alone (the losses own them). */
gc_status gc_postproc_backward(const gc_postproc *m, const gc_pp_cache *c, const float *ddesc,
                               gc_pp_params *grads);

/* Token normalisation backward alone: dy[P, HW] from ddesc[HW, P] for desc = y_t / (|y_t| + 1e-10). */
void gc_postproc_descriptors_backward(float *dy, const float *ddesc, const float *y, const float *norm, int64_t P,
                                      int64_t HW);

#endif
