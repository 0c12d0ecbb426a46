/* libFuzzer target: the whole checkpoint load (zip directory, CRC, pickle, storage binding, views,
 * flattening; or the legacy stream) from a buffer, then the float32 view of every tensor. Seeds:
 * fuzz/corpus/torch_zip (tools/make_ckpt_corpus.py); the fixture files under fixtures/ckpt can be
 * added at run time as a second corpus folder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/torch_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_weights *w = NULL;
    /* a private copy so that reads past the input are caught exactly */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (gc_torch_ckpt_parse("fuzz", buf, size, &w) == GC_OK) {
        gc_fuzz_touch_tensors(w);
        gc_weights_free(w);
    }
    free(buf);
    return 0;
}
