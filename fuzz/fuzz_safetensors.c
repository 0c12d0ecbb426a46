/* libFuzzer target: the safetensors header parser and the f32 view of every tensor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_weights *w = NULL;
    if (gc_safetensors_parse("fuzz", data, size, &w) != GC_OK) return 0;
    gc_fuzz_touch_tensors(w);
    gc_weights_free(w);
    return 0;
}
