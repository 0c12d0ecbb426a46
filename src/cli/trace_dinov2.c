#include "cli/cli.h"
static gc_status run(gc_args *a) { return gc_errorf(GC_ERR_UNSUPPORTED, "trace dinov2: not built yet"); }
const gc_command gc_trace_dinov2 = {"dinov2", "DINOv2 ViT: every block, final norm, GeoAware descriptor", run};
