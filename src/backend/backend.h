/* The backend seam (in the spirit of ggml's ggml_backend_i): the heavy ops a model forward pass
 * needs, called through one op table per backend, and the memory those ops work on. The CPU
 * backend (backend_cpu.c) binds the src/tensor functions; a GPU backend (src/cuda/, later) fills
 * the same table with device kernels and device memory. Models hold `const gc_backend_i *be` and
 * a gc_arena on be's memory and call every op below through be; they never allocate inside a
 * forward pass.
 *
 * Signatures are those of src/tensor (same argument order, same shapes); ops that need work space
 * take it from `scratch` and give it back before returning. The src/tensor functions themselves
 * stay callable directly (CPU code such as the training backward passes uses them).
 *
 * Not yet behind the table (a device backend adds them with its memory): moving inputs, outputs and
 * taps between host and backend memory, and the light glue loops of the models (token assembly,
 * position-table adds, copies for concatenation, FreeU's channel scaling). */
#ifndef GC_BACKEND_H
#define GC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/arena.h"
#include "tensor/activation.h" /* gc_act */
#include "tensor/im2col.h"     /* gc_pad2d */


typedef struct gc_backend_i {
    const char *name;
    /* The kernels this backend runs on this machine (library, instruction set), for
     * `geocorr --version --verbose` and every bench result. */
    const char *(*kernels)(void);

    /* Memory the ops read and write (arena blocks). alloc: NULL + message on failure. */
    void *(*alloc)(size_t nbytes);
    void (*free)(void *p);

    /* C[M,N] = alpha op(A) op(B) + beta C, row-major (tensor/linear.h). */
    gc_status (*matmul)(float *C, const float *A, const float *B, int64_t M, int64_t K, int64_t N, bool trans_a,
                        bool trans_b, float alpha, float beta);
    /* y[N,O] = x[N,K] W[O,K]^T + b (b may be NULL); linear_act then y = act(y), fused where the
     * backend can (the CPU tiles activate while in cache). */
    gc_status (*linear)(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O);
    gc_status (*linear_act)(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t K, int64_t O,
                            gc_act act);
    /* Multi-head attention over strided q/k/v rows (tensor/attention.h). */
    gc_status (*attention)(gc_arena *scratch, float *out, int64_t ldo, const float *q, int64_t ldq, const float *k,
                           int64_t ldk, const float *v, int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads,
                           int64_t hd, float scale, bool causal);
    /* y[B, Cout, Ho, Wo] = (conv(x[B, Cin, H, W]) + b) + res, k x k kernel (tensor/conv2d.h; b, res
     * may be NULL). */
    gc_status (*conv2d)(gc_arena *scratch, int64_t B, float *y, const float *x, const float *w, const float *b,
                        const float *res, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t stride, gc_pad2d pad);
    /* Norms (tensor/layernorm.h, tensor/groupnorm.h); y may equal x. */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps);
    void (*groupnorm)(float *y, const float *x, const float *w, const float *b, int64_t C, int64_t HW, int64_t G,
                      float eps, bool silu);
    /* Element-wise chains: x = op(x) in place; y[N, D] = x[:, :D] * gelu(x[:, D:]) (GEGLU);
     * x[T, D] += gamma[D] * y[T, D] (gamma NULL: 1; residual connections, LayerScale);
     * x[R, C] += b[C] (per_row false: a bias per column of token rows) or += b[R] (per_row true: a
     * bias per channel of a channel-first map). */
    void (*unary)(gc_act op, float *x, int64_t n);
    void (*geglu)(float *y, const float *x, int64_t N, int64_t D);
    void (*add_scaled)(float *x, const float *y, const float *gamma, int64_t T, int64_t D);
    void (*add_bias)(float *x, const float *b, int64_t R, int64_t C, bool per_row);
    /* Resampling: y[C, 2H, 2W] nearest; FreeU's low-frequency filter of x[C, H, W] in place
     * (tensor/upsample.h, tensor/fourier.h). */
    void (*upsample2x)(float *y, const float *x, int64_t C, int64_t H, int64_t W);
    gc_status (*lowfreq_scale)(float *x, int64_t C, int64_t H, int64_t W, float s);
} gc_backend_i;

/* The CPU backend (the only one so far). */
const gc_backend_i *gc_backend_cpu(void);

/* What a model runs on: a backend and the model's scratch arena on that backend's memory. A forward
 * pass takes the arena with gc_arena_acquire(&ex->arena, &local) and gives it back with
 * gc_arena_release (a concurrent pass on the same model gets a private arena). Models that always
 * run one after another (the feature pipeline) share one, so the memory held between passes is the
 * largest model's, not the sum. */
typedef struct {
    const gc_backend_i *be;
    gc_arena arena;
    atomic_int refs;
} gc_exec;

/* One reference; NULL (message set) when out of memory. gc_exec_free drops a reference (NULL: no-op). */
gc_exec *gc_exec_new(const gc_backend_i *be);
void gc_exec_free(gc_exec *ex);
/* Make *slot (a model's context) a new reference to `shared`, dropping the one it held. */
void gc_exec_share(gc_exec **slot, gc_exec *shared);

#endif
