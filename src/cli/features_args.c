/* The model-path options shared by `geocorr features` and `geocorr trace pipeline` (TRACE.md §7). */
#include "cli/cli.h"

gc_status gc_cli_features_config(gc_args *a, gc_features_config *cfg) {
    *cfg = (gc_features_config){
        .models_dir = gc_arg_str(a, "--models", NULL),
        .dinov2 = gc_arg_str(a, "--dinov2", NULL),
        .sd = gc_arg_str(a, "--sd", NULL),
        .sd_config = gc_arg_str(a, "--sd-config", NULL),
        .clip_vision = gc_arg_str(a, "--clip-vision", NULL),
        .text_encoder = gc_arg_str(a, "--text-encoder", NULL),
        .captioner = gc_arg_str(a, "--captioner", NULL),
        .dino_only = gc_arg_flag(a, "--dino-only"),
    };
    /* `features --dinov2 P` alone (no models folder, no SD-branch path): the DINOv2 features only. */
    if (!cfg->models_dir && !cfg->sd && !cfg->clip_vision && !cfg->text_encoder && !cfg->captioner && cfg->dinov2)
        cfg->dino_only = 1;
    return GC_OK;
}
