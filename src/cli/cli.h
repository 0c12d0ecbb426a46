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

/* Every value of a repeatable option ("--box-tgt A --box-tgt B"), in order: up to max into out; returns
 * how many were given (NULL entries: an occurrence without its value). */
int gc_arg_strs(gc_args *a, const char *name, const char **out, int max);

/* The progress display of long commands (progress.c), on stderr: on a terminal a bar redrawn in place
 * with the rate and the time left; otherwise a plain line at each tenth of the work and at least once a
 * minute; nothing when off (--no-progress). Rates count from `base` units done at 0 seconds. */
typedef struct {
    const char *label, *unit; /* "extract", "file" (plural: + "s") */
    bool on, tty;
    int64_t base;             /* units done when this run started (a resumed training run) */
    int64_t done, total;
    double seconds;           /* since this run started */
    char extra[96];           /* appended to the line (train: the loss) */
    bool started, open;       /* something was drawn; a terminal bar waits for its line end */
    int tenth;                /* the tenth of the last plain line */
    double last;              /* seconds at the last line / redraw */
} gc_progress;

void gc_progress_init(gc_progress *p, const char *label, const char *unit, bool on);
/* done of total after `seconds`; extra (may be NULL) is appended to the line. */
void gc_progress_update(gc_progress *p, int64_t done, int64_t total, double seconds, const char *extra);
/* A message line that does not break the bar (it is redrawn below the message). */
void gc_progress_note(gc_progress *p, const char *text);
/* The final state, once, ending the bar's line. */
void gc_progress_end(gc_progress *p);

#endif
