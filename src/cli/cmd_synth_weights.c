/* `geocorr synth-weights --manifest M.json [--naming ldm|diffusers] --out W.safetensors`: builds the
 * fixtures' generated weights (real-shaped models for tests and benchmarks) as a safetensors file. */
#include <string.h>

#include "cli/cli.h"
#include "io/prng_weights.h"
#include "io/safetensors.h"

static gc_status run(gc_args *a) {
    const char *manifest, *out;
    GC_TRY(gc_arg_req(a, "--manifest", &manifest));
    GC_TRY(gc_arg_req(a, "--out", &out));
    const char *naming = gc_arg_str(a, "--naming", NULL);
    GC_TRY(gc_args_finish(a));
    gc_weights *w;
    GC_TRY(gc_prng_weights_from_manifest(manifest, naming, &w));
    gc_status s = gc_weights_save(w, out);
    gc_weights_free(w);
    return s;
}

const gc_command gc_cmd_synth_weights = {"synth-weights",
                                         "write the fixtures' generated weights of a manifest to safetensors",
                                         run};
