/* HuggingFace-style config.json reading and the "weights path" rule of TRACE.md §0: a path is either
 * a weights file, or a folder holding config.json plus exactly one weights file. */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <cjson/cJSON.h>

#include "base/base.h"
#include "io/weights.h"

/* Parse a JSON file (size-capped); the caller owns the result (cJSON_Delete). */
gc_status gc_json_load(const char *path, cJSON **out);

/* Typed lookups with defaults. `path` is a dotted key path ("x_refharness.interpolate_offset").
 * A present key of the wrong type is an error naming the file and key. */
gc_status gc_json_int(const cJSON *root, const char *file, const char *path, int64_t def, int64_t *out);
gc_status gc_json_double(const cJSON *root, const char *file, const char *path, double def, double *out);
gc_status gc_json_bool(const cJSON *root, const char *file, const char *path, bool def, bool *out);
const cJSON *gc_json_get(const cJSON *root, const char *path);

/* Resolve a model path. If `path` is a folder: config_out = <path>/config.json when present (else
 * NULL) and weights_out = the single weights file inside (names tried in order: `preferred`, a
 * NULL-terminated list, then any *.safetensors / *.pth / *.pt / *.ckpt / *.PTH). If `path` is a file:
 * weights_out = path and config_out = NULL. `what` names the model for messages ("DINOv2"), and
 * `hint` says where users get the files. Caller frees both strings. */
gc_status gc_resolve_model_path(const char *path, const char *what, const char *const *preferred,
                                const char *hint, char **config_out, char **weights_out);
/* Open a model given as TRACE.md §0 says (gc_resolve_model_path): *w the weights, *cfg the parsed
 * config.json or NULL, *cfg_path its path or NULL (caller frees both). config, when not NULL, is read
 * instead of the folder's config.json. */
gc_status gc_model_open(const char *path, const char *what, const char *const *preferred, const char *hint,
                        const char *config, gc_weights **w, cJSON **cfg, char **cfg_path);

#endif
