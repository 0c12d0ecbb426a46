/* libFuzzer target: config.json reading (cJSON plus geocorr's typed lookups). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/gc_fuzz_config_%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    cJSON *j = NULL;
    if (gc_json_load(path, &j) == GC_OK) {
        int64_t i;
        double d;
        bool b;
        gc_json_int(j, path, "hidden_size", 0, &i);
        gc_json_double(j, path, "x_refharness.interpolate_offset", 0, &d);
        gc_json_bool(j, path, "x_refharness.interpolate_antialias", false, &b);
        cJSON_Delete(j);
    }
    unlink(path);
    return 0;
}
