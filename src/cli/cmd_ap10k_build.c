/* `geocorr ap10k-build --raw RAW --out OUT [--crowd-list F] [--quiet]`: the paper's AP-10K
 * correspondence benchmark from the official release (TRACE.md §9, docs/ap10k.md). */
#include <stdio.h>

#include "cli/cli.h"
#include "eval/ap10k_build.h"

static const char k_usage[] =
    "usage: geocorr ap10k-build --raw RAW --out OUT [--crowd-list FILE] [--quiet]\n"
    "  RAW: the official AP-10K release (annotations/ap10k-{train,test,val}-split1.json, data/*.jpg), only read;\n"
    "  OUT: the benchmark folder, normally data/ap-10k (absent or empty; created with its parents);\n"
    "  --crowd-list: image ids left out as multi-animal images (default: the shipped data/ap-10k_is_crowd.txt).\n";

static gc_status run(gc_args *a) {
    if (gc_arg_flag(a, "--help")) {
        fputs(k_usage, stdout);
        return GC_OK;
    }
    gc_ap10k_build_opts o = {0};
    GC_TRY(gc_arg_req(a, "--raw", &o.raw));
    GC_TRY(gc_arg_req(a, "--out", &o.out));
    o.crowd_list = gc_arg_str(a, "--crowd-list", NULL);
    bool quiet = gc_arg_flag(a, "--quiet");
    GC_TRY(gc_args_finish(a));
    o.log = quiet ? NULL : stdout;
    gc_ap10k_build_counts c;
    GC_TRY(gc_ap10k_build(&o, &c));
    printf("%s: %lld image annotations (of %lld unique annotations), %lld images copied, %lld families, %lld species\n", o.out, (long long)c.records, (long long)c.annotations, (long long)c.images, (long long)c.families,
           (long long)c.species);
    printf("  left out of the lists: %lld on the crowd list, %lld with fewer than 3 keypoints; listed: train %lld, "
           "val %lld, test %lld images\n", (long long)c.crowd, (long long)c.few_kps, (long long)c.list[0],
           (long long)c.list[1], (long long)c.list[2]);
    printf("  pairs: intra-species trn %lld / val %lld / test %lld, cross-species val %lld / test %lld, cross-family "
           "val %lld / test %lld\n", (long long)c.pairs[GC_AP_TRN], (long long)c.pairs[GC_AP_VAL],
           (long long)c.pairs[GC_AP_TEST], (long long)c.pairs[GC_AP_VAL_CS], (long long)c.pairs[GC_AP_TEST_CS],
           (long long)c.pairs[GC_AP_VAL_CF], (long long)c.pairs[GC_AP_TEST_CF]);
    printf("  (the paper's counts on the full release: intra-species 260,950 / 8,816 / 20,630, cross-species 4,300 / "
           "9,619, cross-family 4,200 / 6,300;\n   the notebook walks folders in file-system order, geocorr in sorted "
           "order, so the counts on the real release may differ slightly)\n");
    return GC_OK;
}

const gc_command gc_cmd_ap10k_build = {"ap10k-build", "the AP-10K correspondence benchmark from the official release",
                                       run};
