/* Hand-written AVX-512 pieces of the Winograd convolutions (winograd_avx512.c, compiled for AVX-512;
 * winograd.c calls them only when gc_cpu_level() >= 4). */
#ifndef GC_WINOGRAD_KERNELS_H
#define GC_WINOGRAD_KERNELS_H

#include <stdint.h>

/* F(4x4,3x3) input transform along one row of B^T d, 16 tiles at a time: for tiles j < the returned
 * count (tw rounded down to 16), vr[k * stride + j] = (row B)[k] of the row's six inputs tr[4j .. 4j+5],
 * k < 6; tr holds 4 tw + 2 floats. The same operations in the same order as winograd.c's WINO_BT, so
 * the bytes are those of the scalar loop, which does the remaining tiles. */
int64_t gc_wino4_bt_row_avx512(float *vr, int64_t stride, const float *tr, int64_t tw);

#endif
