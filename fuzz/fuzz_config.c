/* libFuzzer target: config.json reading (cJSON plus geocorr's typed lookups, and SAM's config
 * checked against the sizes of the tiny fixture model). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/config.h"
#include "models/sam.h"

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
        gc_sam_hparams hp = {.img_size = 256, .patch = 16, .grid = 16, .dim = 64, .depth = 4, .heads = 2, .mlp = 256,
                             .out_chans = 32, .window = {7, 16, 7, 16}, .abs_pos = true, .rel_pos = true,
                             .qkv_bias = true, .dec_depth = 2, .dec_mlp = 64, .dec_internal = 16,
                             .n_mask_tokens = 4, .iou_depth = 3, .iou_hidden = 64, .up_chans = {8, 4}};
        gc_sam_hparams_config(&hp, j, path);
        cJSON_Delete(j);
    }
    unlink(path);
    return 0;
}
