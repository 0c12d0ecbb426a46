#include "cli/cli.h"
static gc_status run(gc_args *a) { return gc_errorf(GC_ERR_UNSUPPORTED, "features: not built yet"); }
const gc_command gc_cmd_features = {"features", "compute the feature maps of one image", run};
