/* libFuzzer target: the raw-preserving JSON reader (io/json_raw.c) and the AP-10K builder's reading
 * of a release. The input is parsed and every node is read through the accessors; then it becomes the
 * release's train annotation file (test and val hold empty lists, data/ two small files) and
 * `ap10k-build` runs into a temporary folder, which is removed again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/ap10k_build.h"
#include "io/fs_tree.h"
#include "io/json_raw.h"
#include "fuzz_util.h"

static char g_dir[256];

static void put(const char *rel, const void *buf, size_t n) { gc_fuzz_put(g_dir, rel, buf, n); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/gc_fuzz_coco_%d", (int)getpid());
        char p[512];
        const char *dirs[] = {"", "/raw", "/raw/annotations", "/raw/data"};
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) snprintf(p, sizeof p, "%s%s", g_dir, dirs[i]), mkdir(p, 0700);
        static const char empty[] = "{\"images\": [], \"annotations\": [], \"categories\": []}";
        put("raw/annotations/ap10k-test-split1.json", empty, sizeof empty - 1);
        put("raw/annotations/ap10k-val-split1.json", empty, sizeof empty - 1);
        put("raw/data/000000000002.jpg", "a", 1), put("raw/data/000000000003.jpg", "b", 1);
    }
    gc_jr_doc d;
    if (gc_jr_parse(&d, (const char *)data, size, "input") == GC_OK) {
        for (int64_t i = 0; i < d.n; i++) {
            const gc_jr_node *n = &d.nodes[i];
            int64_t v;
            if (n->type == GC_JR_STRING) free(gc_jr_str(&d, i, 0));
            if (n->klen) free(gc_jr_str(&d, i, 1));
            if (n->type == GC_JR_NUMBER) (void)gc_jr_num(&d, i), (void)gc_jr_int64(&d, i, &v);
            if (n->type == GC_JR_OBJECT) (void)gc_jr_get(&d, i, "id");
        }
        gc_jr_free(&d);
    }
    put("raw/annotations/ap10k-train-split1.json", data, size);
    char raw[300], out[300];
    snprintf(raw, sizeof raw, "%s/raw", g_dir);
    snprintf(out, sizeof out, "%s/out", g_dir);
    gc_ap10k_build_opts o = {.raw = raw, .out = out};
    gc_ap10k_build_counts c;
    if (gc_ap10k_build(&o, &c) == GC_OK) gc_remove_tree(out);
    return 0;
}
