/* The SD parity traces of TRACE.md section B: run one stage on tensors read from a safetensors file
 * and write every intermediate under the fixture key names (without the `t{t}.` prefix). The output
 * file is written atomically at the end, so a failure leaves none. */
#ifndef GC_SD_TRACE_H
#define GC_SD_TRACE_H

#include "base/base.h"

/* IN `image` [1,3,H,W] -> vae.encoder.*, vae.moments, vae.posterior_mean, vae.z0. */
gc_status sd_trace_vae(const char *weights, const char *ldm_config, const char *in, const char *out);
/* IN `z0` [1,4,h,w] -> noise.resized, z_t (only the schedule of `weights` is read). */
gc_status sd_trace_noise(const char *weights, const char *ldm_config, int64_t t, const char *in, const char *out);
/* IN `z_t` [1,4,h,w], `context` [1,n,d], optional `cond_emb` [1,4*mc] -> unet.* (FreeU off) and
 * geoaware.feat{k}, geoaware.out (FreeU on). */
gc_status sd_trace_unet(const char *weights, const char *ldm_config, int64_t t, const char *in, const char *out);

#endif
