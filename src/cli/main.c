/* geocorr: one binary, one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const gc_command *const k_commands[] = {
    &gc_cmd_features,
    &gc_cmd_match,
    &gc_cmd_serve,
    &gc_cmd_mask,
    &gc_cmd_trace,
    &gc_cmd_synth_weights,
    &gc_cmd_convert,
    &gc_cmd_inspect,
    &gc_cmd_eval,
    &gc_cmd_extract,
    &gc_cmd_train,
    &gc_cmd_ap10k_build,
    &gc_cmd_pose_test,
};

static void usage(FILE *f) {
    fprintf(f, "geocorr %s — geometry-aware semantic correspondence\n\nusage: geocorr COMMAND [options]\n\n",
            gc_version());
    for (size_t i = 0; i < GC_COUNTOF(k_commands); i++)
        fprintf(f, "  %-14s %s\n", k_commands[i]->name, k_commands[i]->summary);
    fprintf(f, "\nCommon options: --threads N (or GEOCORR_THREADS). Run `geocorr COMMAND --help` for more.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("geocorr %s\n", gc_version());
        if (argc > 2 && strcmp(argv[2], "--verbose") == 0)
            printf("kernels: %s\nthreads: %d (GEOCORR_THREADS or --threads; default all cores)\n", gc_kernels(),
                   gc_get_threads());
        return 0;
    }
    for (size_t i = 0; i < GC_COUNTOF(k_commands); i++) {
        if (strcmp(argv[1], k_commands[i]->name) != 0) continue;
        gc_args a;
        if (gc_args_init(&a, argc - 2, argv + 2, k_commands[i]->name) != GC_OK) return 1;
        gc_status s = gc_cli_threads(&a);
        if (s == GC_OK) s = k_commands[i]->run(&a);
        gc_args_free(&a);
        if (s != GC_OK) {
            fprintf(stderr, "geocorr %s: %s\n", argv[1], gc_last_error());
            return s == GC_ERR_ARG ? 2 : 1;
        }
        return 0;
    }
    fprintf(stderr, "geocorr: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
