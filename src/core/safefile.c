/* Reading files only inside allowed root folders. */
#include "core/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

/* Returns the part of resolved below root (both real paths), or NULL when resolved is not
 * root itself or inside it. The result never starts with '/'. */
static const char *path_below_root(const char *resolved, const char *root)
{
    size_t len = strlen(root);
    if (strcmp(root, "/") == 0) {
        return resolved + 1;
    }
    if (strncmp(resolved, root, len) != 0) {
        return NULL;
    }
    if (resolved[len] == '\0') {
        return resolved + len;
    }
    return resolved[len] == '/' ? resolved + len + 1 : NULL;
}

/* Opens relative (a real path below root_fd, no "." or ".." left) one component at a time
 * with O_NOFOLLOW, so that no symlink is followed on the way. Returns the descriptor of the
 * last component or -1 with errno set. */
static int open_beneath(int root_fd, const char *relative)
{
    char copy[PATH_MAX];
    im_strlcpy(copy, relative, sizeof(copy));
    int dir_fd = dup(root_fd);
    char *save = NULL;
    char *component = strtok_r(copy, "/", &save);
    while (dir_fd >= 0 && component) {
        char *next = strtok_r(NULL, "/", &save);
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
        /* O_NONBLOCK keeps a FIFO from blocking the open; fstat rejects it next. */
        flags |= next ? O_DIRECTORY : O_NONBLOCK;
        int fd = openat(dir_fd, component, flags);
        int saved = errno;
        close(dir_fd);
        errno = saved;
        dir_fd = fd;
        component = next;
    }
    return dir_fd;
}

int im_safefile_open(const char *const *roots, size_t root_count, const char *path, int *fd_out,
                     char *err, size_t errlen)
{
    char resolved[PATH_MAX], root[PATH_MAX];
    int rc = IM_EFORBIDDEN;
    int root_fd = -1, fd = -1;
    const char *relative = NULL;
    *fd_out = -1;
    if (!path || !*path || root_count == 0) {
        snprintf(err, errlen, "invalid file request: empty path or no allowed folder");
        return IM_EINVAL;
    }
    if (!realpath(path, resolved)) {
        rc = errno == ENOENT || errno == ENOTDIR ? IM_ENOTFOUND : IM_EFORBIDDEN;
        snprintf(err, errlen, "cannot resolve \"%s\": %s", path, strerror(errno));
        return rc;
    }
    for (size_t i = 0; i < root_count && !relative; i++) {
        if (roots[i] && realpath(roots[i], root)) {
            relative = path_below_root(resolved, root);
        }
    }
    if (!relative) {
        snprintf(err, errlen, "\"%s\" resolves to %s, which is outside the allowed folders", path,
                 resolved);
        goto out;
    }
    if (*relative == '\0') {
        snprintf(err, errlen, "\"%s\" is an allowed folder, not a file", path);
        goto out;
    }
    root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fd = root_fd >= 0 ? open_beneath(root_fd, relative) : -1;
    if (fd < 0) {
        rc = errno == ENOENT ? IM_ENOTFOUND : IM_EFORBIDDEN;
        snprintf(err, errlen, "cannot open \"%s\" (%s): %s", path, resolved, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "\"%s\" (%s) is not a regular file", path, resolved);
        goto out;
    }
    /* Reads from a regular file do not block; clearing O_NONBLOCK keeps callers' reads plain. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *fd_out = fd;
    fd = -1;
    rc = IM_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (root_fd >= 0) {
        close(root_fd);
    }
    return rc;
}

int im_safefile_read(const char *const *roots, size_t root_count, const char *path,
                     size_t max_bytes, char **data, size_t *len, char *err, size_t errlen)
{
    int fd = -1;
    im_buf_t buf;
    im_buf_init(&buf);
    *data = NULL;
    *len = 0;
    int rc = im_safefile_open(roots, root_count, path, &fd, err, errlen);
    if (rc != IM_OK) {
        return rc;
    }
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
            rc = IM_ERR;
            goto out;
        }
        if (n == 0) {
            break;
        }
        if (buf.len + (size_t)n > max_bytes) {
            snprintf(err, errlen, "\"%s\" is larger than %zu bytes", path, max_bytes);
            rc = IM_EINVAL;
            goto out;
        }
        im_buf_append(&buf, chunk, (size_t)n);
    }
    im_buf_append(&buf, "", 0);
    *data = im_buf_detach(&buf, len);
out:
    im_buf_release(&buf);
    close(fd);
    return rc;
}
