/* Multi-head scaled dot-product attention that never holds more than a tile of the score matrix:
 * queries are processed in blocks with an online (running max / running sum) softmax over key
 * blocks, so memory is O(tile) whatever the token count (DINOv2 at 840² has 3,601 tokens; SD
 * self-attention 4,096). */
#ifndef GC_ATTENTION_H
#define GC_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/arena.h"
#include "geocorr.h"
#include "tensor/relpos.h"

/* For each head h (0..heads-1) and query t:
 *   out[t, h*hd + j] = sum_s softmax_s(scale * q[t, h*hd:..] · k[s, h*hd:..]) v[s, h*hd + j]
 * q is Tq rows with row stride ldq (floats), k and v are Tk rows with strides ldk, ldv, out has
 * row stride ldo. This reads fused qkv buffers in place (q = qkv, k = qkv + D, v = qkv + 2D,
 * ld = 3D). causal: query t sees keys s <= t only (CLIP text encoder). Scratch is O(threads x tile);
 * fails only if that cannot be allocated (GC_ERR_NOMEM) or Tk <= 0. */
gc_status gc_attention(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                       const float *v, int64_t ldv, int64_t Tq, int64_t Tk, int64_t heads, int64_t hd,
                       float scale, bool causal);
/* The same with its work space (the K/V copy and per-thread tiles) taken from `scratch`. */
gc_status gc_attention_scratch(gc_arena *scratch, float *out, int64_t ldo, const float *q, int64_t ldq,
                               const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t Tq, int64_t Tk,
                               int64_t heads, int64_t hd, float scale, bool causal);
/* The same self-attention (T queries and keys on one grid) with the decomposed relative position
 * term of tensor/relpos.h added to every score (SAM's image encoder); memory stays O(threads x tile). */
gc_status gc_attention_relpos(float *out, int64_t ldo, const float *q, int64_t ldq, const float *k, int64_t ldk,
                              const float *v, int64_t ldv, int64_t T, int64_t heads, int64_t hd, float scale,
                              const gc_relpos *rp);
/* The attention kernel in use on this CPU, e.g. "tiled SGEMM + online softmax". */
const char *gc_attention_kernel(void);

#endif
