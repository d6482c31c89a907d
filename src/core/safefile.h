#ifndef IM_CORE_SAFEFILE_H
#define IM_CORE_SAFEFILE_H

#include <stddef.h>

/* The single helper for reading a file named by configuration or by a request. A file is
 * read only when its real path, with every symlink and ".." resolved, lies inside one of
 * the allowed root folders. */

/* Opens path read-only and returns the descriptor in *fd_out. The path is resolved with
 * realpath(3) and must name a regular file at or below one of roots[0..root_count-1]
 * (each root is resolved too). The open then walks the resolved path from the root
 * descriptor with O_NOFOLLOW on every component, so a symlink swapped in after the check
 * fails the open. Returns IM_OK or an error with the reason and the path in err:
 * IM_ENOTFOUND when the path does not exist, IM_EFORBIDDEN when it lies outside every
 * root or is not a regular file, IM_EINVAL for an empty path or root list. */
int im_safefile_open(const char *const *roots, size_t root_count, const char *path, int *fd_out,
                     char *err, size_t errlen);

/* Reads the whole file at path (checked as by im_safefile_open) into a malloc'd,
 * NUL-terminated buffer in *data with its length in *len. A file larger than max_bytes
 * fails with IM_EINVAL. */
int im_safefile_read(const char *const *roots, size_t root_count, const char *path,
                     size_t max_bytes, char **data, size_t *len, char *err, size_t errlen);

#endif
