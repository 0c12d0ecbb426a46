/* `geocorr serve`: parses the options and runs the server of src/serve (docs/serve.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve.h"

static const char k_usage[] =
    "usage: geocorr serve (--models DIR | --dinov2 PATH [--sd ...]) [--dino-only] [--postproc P]\n"
    "         [--images DIR] [--host 127.0.0.1] [--port 8080] [--cache DIR] [--max-upload-mb 20] [--memory-mb 2048]\n\n"
    "A local web page: pick or upload two images, click points on the first, see their matches on the second\n"
    "(the JSON of `geocorr match`) and the heat map of the last one. Models as `geocorr features` takes them\n"
    "(docs/models.md; --dinov2 alone: the DINO descriptor); --postproc adds the supervised descriptor as a\n"
    "toggle. --images lists the JPEG / PNG files under DIR (recursive). Features are computed once per image\n"
    "content and kept in memory (--memory-mb, least recently used dropped) and, with --cache DIR, on disk in\n"
    "the folder of `geocorr match --cache` (each command reads what the other computed). Binds to loopback;\n"
    "another --host prints a warning. --port 0 takes any free port; the URL is printed when the server is\n"
    "ready. Stops on SIGINT / SIGTERM.\n";

static gc_status run(gc_args *a) {
    if (a->argc >= 1 && !strcmp(a->argv[0], "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    gc_serve_config c = {0};
    GC_TRY(gc_cli_features_config(a, &c.models));
    c.postproc = gc_arg_str(a, "--postproc", NULL);
    c.images_dir = gc_arg_str(a, "--images", NULL);
    c.host = gc_arg_str(a, "--host", "127.0.0.1");
    c.cache_dir = gc_arg_str(a, "--cache", NULL);
    int64_t port;
    GC_TRY(gc_arg_int(a, "--port", 8080, &port));
    GC_TRY(gc_arg_int(a, "--max-upload-mb", 20, &c.max_upload_mb));
    GC_TRY(gc_arg_int(a, "--memory-mb", 2048, &c.memory_mb));
    GC_TRY(gc_args_finish(a));
    if (!c.host) return gc_errorf(GC_ERR_ARG, "serve: --host needs a value");
    if (!c.models.models_dir && !c.models.dinov2)
        return gc_errorf(GC_ERR_ARG, "serve: no models: give --models DIR or --dinov2 PATH (geocorr serve --help)");
    if (port < 0 || port > 65535) return gc_errorf(GC_ERR_ARG, "serve: --port %lld: expected 0 to 65535", (long long)port);
    c.port = (int)port;
    return gc_serve_run(&c);
}

const gc_command gc_cmd_serve = {"serve", "a local web page: click a point, see its match (HTTP + JSON API)", run};
