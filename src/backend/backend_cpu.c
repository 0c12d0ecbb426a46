/* The CPU backend: the op table bound to src/tensor, memory from gc_alloc. */
#include <pthread.h>
#include <stdio.h>

#include "backend/backend.h"
#include "base/base.h"
#include "tensor/activation.h"
#include "tensor/attention.h"
#include "tensor/conv2d.h"
#include "tensor/fourier.h"
#include "tensor/geglu.h"
#include "tensor/groupnorm.h"
#include "tensor/layernorm.h"
#include "tensor/linear.h"
#include "tensor/upsample.h"

static char g_kernels[256];
static void kernels_name(void) {
    snprintf(g_kernels, sizeof g_kernels, "GEMM %s; own loops %s; attention %s", gc_gemm_kernel(),
             gc_cpu_loops_isa(), gc_attention_kernel());
}

static const char *cpu_kernels(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, kernels_name);
    return g_kernels;
}

static const gc_backend_i k_cpu = {
    .name = "cpu",
    .kernels = cpu_kernels,
    .alloc = gc_alloc,
    .free = gc_free,
    .matmul = gc_matmul,
    .linear = gc_linear,
    .linear_act = gc_linear_act,
    .attention = gc_attention_scratch,
    .conv2d = gc_conv2d_scratch,
    .layernorm = gc_layernorm,
    .groupnorm = gc_groupnorm,
    .unary = gc_act_apply,
    .geglu = gc_geglu,
    .add_scaled = gc_add_scaled,
    .add_bias = gc_add_bias,
    .upsample2x = gc_upsample_nearest2x,
    .lowfreq_scale = gc_fourier_lowfreq_scale,
};

const gc_backend_i *gc_backend_cpu(void) { return &k_cpu; }

const char *gc_kernels(void) { return k_cpu.kernels(); }
