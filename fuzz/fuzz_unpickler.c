/* libFuzzer target: the restricted pickle VM on raw bytes (the input's last byte picks zip-style or
 * legacy 6-field persistent ids), then every tensor view it accepted is re-checked against its
 * storage's claimed size. Seeds: fuzz/corpus/unpickler (tools/make_ckpt_corpus.py). */
#include <stdint.h>
#include <stdlib.h>

#include "io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    bool legacy = data[size - 1] & 1;
    gc_pickle pk;
    gc_pickle_init(&pk, "fuzz", 1u << 24);
    gc_pk_value *root;
    uint64_t pos = 0, used;
    /* pickles in a row, as the legacy stream has them */
    for (int k = 0; k < 5 && pos < size - 1 && gc_pickle_run(&pk, data + pos, size - 1 - pos, legacy, &root, &used) == GC_OK;
         k++) {
        if (used == 0 || used > size - 1 - pos) abort();
        pos += used;
    }
    for (int64_t i = 0; i < pk.ntensors; i++) {
        const gc_pk_tensor *t = &pk.tensors[i];
        int64_t last = t->offset;
        for (int d = 0; d < t->ndim; d++) last += (t->size[d] - 1) * t->stride[d];
        if (t->numel > 0 && last >= pk.storages[t->storage].numel) abort(); /* the VM's bound check failed */
    }
    gc_pickle_free(&pk);
    return 0;
}
