/* geocorr's data files (flip tables, geometry-aware groups, the SD noise, the AP-10K crowd list): found
 * one way, in $GEOCORR_DATA_DIR, then the source tree's data/ (a build used in place), then the
 * installed <prefix>/share/geocorr. */
#include <stdlib.h>

#include "base/base.h"

char *gc_data_path(const char *name) {
    const char *env = getenv("GEOCORR_DATA_DIR");
    const char *dirs[] = {env, GEOCORR_DATA_DIR, GEOCORR_INSTALL_DATA_DIR};
    for (size_t i = 0; i < GC_COUNTOF(dirs); i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        char *p = gc_strfmt("%s/%s", dirs[i], name);
        if (!p || gc_file_exists(p)) return p;
        free(p);
    }
    gc_errorf(GC_ERR_MISSING, "data file %s not found in $GEOCORR_DATA_DIR (%s), %s or %s (set GEOCORR_DATA_DIR to "
              "geocorr's data folder)", name, env && *env ? env : "unset", GEOCORR_DATA_DIR, GEOCORR_INSTALL_DATA_DIR);
    return NULL;
}
