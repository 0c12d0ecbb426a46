/* Where the data files geocorr ships (data/ in the source tree, share/geocorr when installed) are. */
#include <stdlib.h>

#include "base/base.h"

char *gc_data_path(const char *name) {
    /* both environment names are in use by scripts (GEOCORR_DATA_DIR first) */
    const char *dirs[] = {getenv("GEOCORR_DATA_DIR"), getenv("GEOCORR_DATA"), GEOCORR_DATA_DIR, GEOCORR_INSTALL_DATA_DIR};
    for (size_t i = 0; i < GC_COUNTOF(dirs); i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        char *p = gc_strfmt("%s/%s", dirs[i], name);
        if (!p || gc_file_exists(p)) return p;
        free(p);
    }
    gc_errorf(GC_ERR_MISSING, "%s not found in $GEOCORR_DATA_DIR, $GEOCORR_DATA, %s or %s (geocorr's data folder)", name,
              GEOCORR_DATA_DIR, GEOCORR_INSTALL_DATA_DIR);
    return NULL;
}
