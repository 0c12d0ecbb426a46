/* The DDPM forward-noising of GeoAware-SC's SD branch: LDM's "linear" beta schedule (betas on a
 * sqrt scale, diffusers' "scaled_linear"), q_sample at a fixed timestep, and ODISE's shared seed-42
 * noise (a PyTorch CPU RNG output shipped as a data file: no C port of torch's generator). */
#ifndef GC_SD_SCHEDULE_H
#define GC_SD_SCHEDULE_H

#include "base/base.h"

typedef struct {
    int64_t T;               /* number of training timesteps (1000) */
    double *betas;           /* [T] */
    double *alphas_cumprod;  /* [T] prod_{i<=t} (1 - beta_i), float64 as LDM computes it */
} sd_schedule;

/* betas = torch.linspace(sqrt(start), sqrt(end), T, float64)**2 (torch's two-sided linspace). */
gc_status sd_schedule_init(sd_schedule *s, double linear_start, double linear_end, int64_t T);
void sd_schedule_free(sd_schedule *s);

/* z_t = f32(sqrt(acp[t])) * z0 + f32(sqrt(1 - acp[t])) * noise over n floats (ODISE q_sample). */
gc_status sd_q_sample(const sd_schedule *s, int64_t t, const float *z0, const float *noise, int64_t n, float *z_t);

/* ODISE's shared noise [4, 64, 64] = torch.randn(1,4,64,64, generator=manual_seed(42)), read from
 * $GEOCORR_SD_NOISE (a file), else sd_noise_seed42.safetensors in $GEOCORR_DATA_DIR, the source
 * tree's data/ or the install's share/geocorr. Caller frees with gc_free. */
#define SD_NOISE_C 4
#define SD_NOISE_HW 64
gc_status sd_noise_load(float **out);
/* The shared noise bicubic-resized (A = -0.75, align_corners False, no antialias) to [4, h, w]. */
gc_status sd_noise_resized(int64_t h, int64_t w, float *out);

#endif
