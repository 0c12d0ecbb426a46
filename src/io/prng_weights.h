/* The fixtures' weight generator (fixture README, "Weight generator"): every parameter is
 * offset + scale * (2u - 1) with u from a splitmix64 stream keyed by the tensor's name. Lets tests
 * and benchmarks build real-shaped models (ViT-B, SD-1.5) that match the reference bit for bit
 * without shipping gigabytes of weights. */
#ifndef GC_PRNG_WEIGHTS_H
#define GC_PRNG_WEIGHTS_H

#include "io/weights.h"

void gc_prng_fill(const char *name, uint64_t seed, double offset, double scale, float *out, int64_t n);

/* Build a weight set from a manifest. Supported layouts:
 *  - {"seed": S, "tensors"|"params": [{"name", "shape", "offset", "scale"[, "seed"]} or
 *     {"name", "shape", "init_value"}, ...]}
 *  - {"seed_unet": S, "seed_vae": S, "unet": [{"ldm", "diffusers", "shape", "offset", "scale"}],
 *     "vae": [...]} (SD files); `naming` picks "ldm" (prefixed model.diffusion_model. /
 *     first_stage_model. as in a single-file checkpoint) or "diffusers" (prefixed unet. / vae.).
 * `naming` is ignored for the first layout (pass NULL). */
gc_status gc_prng_weights_from_manifest(const char *manifest_path, const char *naming, gc_weights **out);

#endif
