#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

gc_status gc_args_init(gc_args *a, int argc, char **argv, const char *cmd) {
    a->argc = argc;
    a->argv = argv;
    a->cmd = cmd;
    a->used = calloc((size_t)argc + 1, sizeof(bool));
    return a->used ? GC_OK : gc_errorf(GC_ERR_NOMEM, "out of memory");
}

void gc_args_free(gc_args *a) {
    free(a->used);
    a->used = NULL;
}

static int find_opt(gc_args *a, const char *name, const char **inline_val) {
    size_t ln = strlen(name);
    for (int i = 0; i < a->argc; i++) {
        if (a->used[i]) continue;
        const char *t = a->argv[i];
        if (strcmp(t, name) == 0) {
            *inline_val = NULL;
            return i;
        }
        if (strncmp(t, name, ln) == 0 && t[ln] == '=') {
            *inline_val = t + ln + 1;
            return i;
        }
    }
    return -1;
}

const char *gc_arg_str(gc_args *a, const char *name, const char *def) {
    const char *iv;
    int i = find_opt(a, name, &iv);
    if (i < 0) return def;
    a->used[i] = true;
    if (iv) return iv;
    if (i + 1 >= a->argc) return NULL; /* caller reports: option needs a value */
    a->used[i + 1] = true;
    return a->argv[i + 1];
}

int gc_arg_strs(gc_args *a, const char *name, const char **out, int max) {
    int n = 0;
    for (const char *iv; find_opt(a, name, &iv) >= 0; n++) {
        const char *v = gc_arg_str(a, name, NULL);
        if (n < max) out[n] = v;
    }
    return n;
}

gc_status gc_arg_req(gc_args *a, const char *name, const char **out) {
    const char *v = gc_arg_str(a, name, NULL);
    if (!v) return gc_errorf(GC_ERR_ARG, "%s: option %s VALUE is required", a->cmd, name);
    *out = v;
    return GC_OK;
}

gc_status gc_trace_io_args(gc_args *a, const char **weights, const char **inputs, const char **out) {
    GC_TRY(gc_arg_req(a, "--weights", weights));
    GC_TRY(gc_arg_req(a, "--inputs", inputs));
    return gc_arg_req(a, "--out", out);
}

bool gc_arg_flag(gc_args *a, const char *name) {
    const char *iv;
    int i = find_opt(a, name, &iv);
    if (i < 0 || iv) return false;
    a->used[i] = true;
    return true;
}

gc_status gc_arg_int(gc_args *a, const char *name, int64_t def, int64_t *out) {
    const char *v = gc_arg_str(a, name, NULL);
    *out = def;
    if (!v) {
        const char *iv;
        if (find_opt(a, name, &iv) >= 0 || (a->argc && strcmp(a->argv[a->argc - 1], name) == 0))
            return gc_errorf(GC_ERR_ARG, "%s: option %s needs a value", a->cmd, name);
        return GC_OK;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return gc_errorf(GC_ERR_ARG, "%s: %s '%s' is not an integer", a->cmd, name, v);
    *out = x;
    return GC_OK;
}

gc_status gc_arg_double(gc_args *a, const char *name, double def, double *out) {
    const char *v = gc_arg_str(a, name, NULL);
    *out = def;
    if (!v) return GC_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) return gc_errorf(GC_ERR_ARG, "%s: %s '%s' is not a number", a->cmd, name, v);
    *out = x;
    return GC_OK;
}

int gc_arg_positionals(gc_args *a, const char **out, int max) {
    int n = 0;
    for (int i = 0; i < a->argc; i++) {
        if (a->used[i] || (a->argv[i][0] == '-' && a->argv[i][1] == '-')) continue;
        if (n < max) {
            out[n] = a->argv[i];
            a->used[i] = true;
        }
        n++;
    }
    return n;
}

gc_status gc_args_finish(gc_args *a) {
    for (int i = 0; i < a->argc; i++)
        if (!a->used[i])
            return gc_errorf(GC_ERR_ARG, "%s: unexpected argument '%s' (see geocorr %s --help)", a->cmd,
                             a->argv[i], a->cmd);
    return GC_OK;
}

gc_status gc_cli_threads(gc_args *a) {
    int64_t n;
    GC_TRY(gc_arg_int(a, "--threads", 0, &n));
    if (n < 0 || n > 4096) return gc_errorf(GC_ERR_ARG, "%s: --threads must be between 1 and 4096", a->cmd);
    gc_set_threads((int)n);
    return GC_OK;
}
