/* Folder trees for commands that build a whole tree of files (geocorr ap10k-build): create a
 * folder with its parents, remove a tree, copy a file byte for byte. */
#ifndef GC_IO_FS_TREE_H
#define GC_IO_FS_TREE_H

#include "base/base.h"

/* mkdir -p: every missing folder of dir (mode 0777 & ~umask); an existing folder is fine. */
gc_status gc_mkdir_p(const char *dir);
/* rm -r: remove path and, when it is a folder, everything below it (links are removed, not followed). */
gc_status gc_remove_tree(const char *path);
/* Copy src to the new file dst (which must not exist), byte for byte. */
gc_status gc_copy_file(const char *src, const char *dst);

#endif
