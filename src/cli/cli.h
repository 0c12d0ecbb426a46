/* The command line: argument parsing helpers, the subcommand table and the trace registry.
 * The CLI only parses arguments and calls the library. */
#ifndef GC_CLI_H
#define GC_CLI_H

#include <stdbool.h>

#include "base/base.h"

typedef struct {
    int argc;
    char **argv;
    bool *used;
    const char *cmd; /* "trace dinov2": for messages */
} gc_args;

gc_status gc_args_init(gc_args *a, int argc, char **argv, const char *cmd);
void gc_args_free(gc_args *a);
/* "--name VALUE" or "--name=VALUE"; returns def when absent. */
const char *gc_arg_str(gc_args *a, const char *name, const char *def);
bool gc_arg_flag(gc_args *a, const char *name);
gc_status gc_arg_int(gc_args *a, const char *name, int64_t def, int64_t *out);
gc_status gc_arg_double(gc_args *a, const char *name, double def, double *out);
/* Required string option: error naming the option when absent. */
gc_status gc_arg_req(gc_args *a, const char *name, const char **out);
/* The three required paths of a model trace (TRACE.md §0): --weights, --inputs, --out. */
gc_status gc_trace_io_args(gc_args *a, const char **weights, const char **inputs, const char **out);
/* Positional arguments: the tokens no option consumed, in order (call after reading options). */
int gc_arg_positionals(gc_args *a, const char **out, int max);
/* Fail on any token nothing consumed ("unknown option --x"). */
gc_status gc_args_finish(gc_args *a);

/* A subcommand or a trace entry. run returns a gc_status; main prints gc_last_error on failure. */
typedef struct {
    const char *name;
    const char *summary;
    gc_status (*run)(gc_args *a);
} gc_command;

/* Subcommands (one file each: cmd_<name>.c) and trace entries (trace_<name>.c). */
extern const gc_command gc_cmd_ap10k_build;
extern const gc_command gc_cmd_convert;
extern const gc_command gc_cmd_eval;
extern const gc_command gc_cmd_extract;
extern const gc_command gc_cmd_features;
extern const gc_command gc_cmd_inspect;
extern const gc_command gc_cmd_mask;
extern const gc_command gc_cmd_match;
extern const gc_command gc_cmd_pose_test;
extern const gc_command gc_cmd_serve;
extern const gc_command gc_cmd_synth_weights;
extern const gc_command gc_cmd_trace;
extern const gc_command gc_cmd_train;
extern const gc_command gc_trace_align;
extern const gc_command gc_trace_captioner;
extern const gc_command gc_trace_clip_text;
extern const gc_command gc_trace_clip_vision;
extern const gc_command gc_trace_dinov2;
extern const gc_command gc_trace_match;
extern const gc_command gc_trace_pipeline;
extern const gc_command gc_trace_pose_test;
extern const gc_command gc_trace_postproc;
extern const gc_command gc_trace_sam;
extern const gc_command gc_trace_preprocess;
extern const gc_command gc_trace_sd_noise;
extern const gc_command gc_trace_sd_unet;
extern const gc_command gc_trace_sd_vae;
extern const gc_command gc_trace_train_step;
extern const gc_command gc_trace_zeroshot;

/* The model-path options of `features` and `trace pipeline`: --models DIR, --dinov2, --sd, --sd-config,
 * --clip-vision, --text-encoder, --captioner, --dino-only (TRACE.md §7). */
gc_status gc_cli_features_config(gc_args *a, gc_features_config *cfg);

/* Shared option: --threads N (falls back to GEOCORR_THREADS). main() applies it once for every
 * command; a second call would find the option consumed and reset the count to the default. */
gc_status gc_cli_threads(gc_args *a);

#endif
