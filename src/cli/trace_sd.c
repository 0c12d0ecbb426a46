/* `geocorr trace sd-vae | sd-noise | sd-unet` (TRACE.md section B): argument parsing only. */
#include "cli/cli.h"
#include "models/sd_trace.h"

typedef struct {
    const char *weights, *config, *in, *out;
    int64_t t;
} sd_args;

static gc_status parse(gc_args *a, bool with_t, sd_args *o) {
    GC_TRY(gc_trace_io_args(a, &o->weights, &o->in, &o->out));
    o->config = gc_arg_str(a, "--sd-config", NULL);
    o->t = 0;
    if (with_t) {
        GC_TRY(gc_arg_int(a, "--t", -1, &o->t));
        if (o->t < 0) return gc_errorf(GC_ERR_ARG, "%s: --t T (a timestep >= 0) is required", a->cmd);
    }
    return gc_args_finish(a);
}

static gc_status run_vae(gc_args *a) {
    sd_args o;
    GC_TRY(parse(a, false, &o));
    return sd_trace_vae(o.weights, o.config, o.in, o.out);
}

static gc_status run_noise(gc_args *a) {
    sd_args o;
    GC_TRY(parse(a, true, &o));
    return sd_trace_noise(o.weights, o.config, o.t, o.in, o.out);
}

static gc_status run_unet(gc_args *a) {
    sd_args o;
    GC_TRY(parse(a, true, &o));
    return sd_trace_unet(o.weights, o.config, o.t, o.in, o.out);
}

const gc_command gc_trace_sd_vae = {"sd-vae", "SD VAE encoder: down blocks, mid, moments, posterior mean, z0", run_vae};
const gc_command gc_trace_sd_noise = {"sd-noise", "SD shared seed-42 noise (resized) and q_sample z_t at --t", run_noise};
const gc_command gc_trace_sd_unet = {"sd-unet", "SD UNet at --t: every block, and GeoAware's FreeU decoder taps",
                                     run_unet};
