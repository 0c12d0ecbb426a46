/* Element-wise activations, in place over n floats. */
#ifndef GC_ACTIVATION_H
#define GC_ACTIVATION_H

#include <stdbool.h>
#include <stdint.h>

/* The activations a GEMM tile can apply to its own output (gc_linear_act) or a pass over a tensor. */
typedef enum { GC_ACT_NONE, GC_ACT_GELU_ERF, GC_ACT_QUICK_GELU, GC_ACT_SILU } gc_act;

/* x = act(x) over n floats in place (GC_ACT_NONE: nothing). */
void gc_act_apply(gc_act act, float *x, int64_t n);
/* The same on rows x cols floats, rows ld apart, on the calling thread (inside a parallel tile). */
void gc_act_rows(gc_act act, float *x, int64_t rows, int64_t cols, int64_t ld);

void gc_gelu_erf(float *x, int64_t n);   /* x * 0.5 * (1 + erf(x / sqrt(2)))  (nn.GELU(); erf as torch's CPU kernel) */
void gc_quick_gelu(float *x, int64_t n); /* x * sigmoid(1.702 x)                (CLIP) */
void gc_silu(float *x, int64_t n);       /* x * sigmoid(x) */
void gc_relu(float *x, int64_t n);
/* x[T,D] += gamma[D] * y[T,D]; gamma NULL: x += y (residual connections, LayerScale). */
void gc_add_scaled(float *x, const float *y, const float *gamma, int64_t T, int64_t D);
/* x[R,C] += b[C] (per_row false) or x[R,C] += b[R] (per_row true). */
void gc_add_bias(float *x, const float *b, int64_t R, int64_t C, bool per_row);
/* Row softmax of x[N,C] in place, max-subtracted. */
void gc_softmax_rows(float *x, int64_t N, int64_t C);

#endif
