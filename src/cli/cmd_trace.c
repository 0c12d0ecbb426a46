/* `geocorr trace NAME`: the parity interface (spec/TRACE.md). Each entry reads tensors from
 * --inputs, runs one model or stage and writes its intermediates under the fixture key names. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* The registry: add one line per trace entry (defined in trace_<name>.c). */
static const gc_command *const k_traces[] = {
    &gc_trace_dinov2,
    &gc_trace_postproc,
    &gc_trace_train_step,
    &gc_trace_preprocess,
    &gc_trace_sd_vae,
    &gc_trace_sd_noise,
    &gc_trace_sd_unet,
    &gc_trace_match,
    &gc_trace_zeroshot,
    &gc_trace_align,
    &gc_trace_clip_vision,
    &gc_trace_clip_text,
    &gc_trace_captioner,
    &gc_trace_pipeline,
    &gc_trace_sam,
    &gc_trace_pose_test,
};

static gc_status run_trace(gc_args *a) {
    if (a->argc < 1 || strcmp(a->argv[0], "--help") == 0) {
        FILE *f = a->argc < 1 ? stderr : stdout;
        fprintf(f, "usage: geocorr trace NAME [options] [--inputs IN.safetensors] --out OUT.safetensors\n\n");
        for (size_t i = 0; i < GC_COUNTOF(k_traces); i++)
            fprintf(f, "  %-14s %s\n", k_traces[i]->name, k_traces[i]->summary);
        return a->argc < 1 ? gc_errorf(GC_ERR_ARG, "missing trace name") : GC_OK;
    }
    for (size_t i = 0; i < GC_COUNTOF(k_traces); i++) {
        if (strcmp(a->argv[0], k_traces[i]->name) != 0) continue;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "trace %s", k_traces[i]->name);
        gc_args sub;
        GC_TRY(gc_args_init(&sub, a->argc - 1, a->argv + 1, cmd));
        for (int k = 0; k < a->argc; k++) a->used[k] = true;
        gc_status s = k_traces[i]->run(&sub);
        gc_args_free(&sub);
        return s;
    }
    return gc_errorf(GC_ERR_ARG, "unknown trace '%s' (geocorr trace --help lists them)", a->argv[0]);
}

const gc_command gc_cmd_trace = {"trace", "run one model or stage on stored tensors (parity checks)", run_trace};
