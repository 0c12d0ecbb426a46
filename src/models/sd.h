/* The SD-1.5 branch as one object: weights opened from a diffusers folder or a single-file LDM
 * checkpoint (layout detected), the UNet, the VAE encoder, the noise schedule and the scale factor.
 * Implements the public gc_sd_* API of geocorr.h; the trace commands use the parts directly. */
#ifndef GC_SD_H
#define GC_SD_H

#include "models/sd_schedule.h"
#include "models/sd_unet.h"
#include "models/sd_vae.h"

struct gc_sd {
    gc_weights *wu, *wv;  /* UNet and VAE weights (the same set for a single file; owned) */
    sd_source su, sv;     /* prefixes and naming of each */
    sd_unet unet;
    sd_vae vae;
    sd_schedule sched;
    float scale_factor;   /* latent scale (0.18215) */
    gc_exec *ex;          /* backend + scratch arena of both networks (owned) */
};

/* Build from an already open weight set (tests: manifest-generated weights). Takes ownership of w;
 * layout detected from the names. ldm_config may be NULL. */
gc_status sd_load_weights(gc_weights *w, const char *ldm_config, gc_sd **out);

/* Only the noise schedule of the model at `path` (configs, no weights read). */
gc_status sd_schedule_for(const char *path, const char *ldm_config, sd_schedule *s);

#endif
