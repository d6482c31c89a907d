/* Serves the web UI: the embedded asset table, or the WEB_DIR folder for UI development.
 * Hashed files under /assets/ are cacheable for a year; index.html is revalidated on every
 * load with its ETag, so a new build reaches browsers at once. Any other GET path that is
 * not under /api/ gets index.html, because the UI routes in the browser. */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "core/log.h"
#include "core/safefile.h"
#include "http/http-internal.h"

#define CACHE_IMMUTABLE  "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"
/* WEB_DIR files are read whole into memory; a UI bundle is far below this. */
#define WEB_DIR_FILE_MAX (32L * 1024 * 1024)

typedef struct {
    const char *ext;
    const char *type;
} content_type_t;

static const content_type_t content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
};

static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/')) {
        for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
            if (strcmp(dot, content_types[i].ext) == 0) {
                return content_types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* Hands a prepared response to the request, as the im_resp_* helpers do. */
static void set_response(im_request_t *req, unsigned status, struct MHD_Response *resp,
                         size_t bytes)
{
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    req->response = resp;
    req->status = status;
    req->response_bytes = bytes;
    if (req->close_connection) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
}

/* True when the client accepts gzip: the token appears and is not given q=0. */
static bool accepts_gzip(im_request_t *req)
{
    const char *header = im_req_header(req, "Accept-Encoding");
    const char *gzip = header ? strstr(header, "gzip") : NULL;
    if (!gzip) {
        return false;
    }
    const char *params = gzip + 4;
    while (*params == ' ') {
        params++;
    }
    return !(strncmp(params, ";q=0", 4) == 0 &&
             strspn(params + 4, ".0") == strcspn(params + 4, ", "));
}

static void send_not_modified(im_request_t *req, const char *etag, const char *cache)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", cache);
    set_response(req, 304, resp, 0);
}

static void send_asset(im_request_t *req, const im_web_asset_t *asset)
{
    const char *cache = asset->immutable ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
    if (im_req_etag_matches(req, asset->etag)) {
        send_not_modified(req, asset->etag, cache);
        return;
    }

    bool gzip = asset->gzip && accepts_gzip(req);
    const unsigned char *data = gzip ? asset->gzip : asset->data;
    size_t size = gzip ? asset->gzip_size : asset->size;
    /* The table is static data that outlives every response. */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(size, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, asset->content_type);
    MHD_add_response_header(resp, "ETag", asset->etag);
    MHD_add_response_header(resp, "Cache-Control", cache);
    if (asset->gzip) {
        MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    }
    if (gzip) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    set_response(req, 200, resp, size);
}

static const im_web_asset_t *find_asset(const char *path)
{
    for (size_t i = 0; i < im_web_asset_count; i++) {
        if (strcmp(im_web_assets[i].path, path) == 0) {
            return &im_web_assets[i];
        }
    }
    return NULL;
}

/* ---- WEB_DIR --------------------------------------------------------------------------- */

/* True when a path has no "." or ".." segment and no backslash, so that joining it to the
 * root cannot climb out (libmicrohttpd has already decoded percent escapes). */
static bool path_is_safe(const char *path)
{
    if (path[0] != '/' || strchr(path, '\\')) {
        return false;
    }
    const char *seg = path + 1;
    while (*seg) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) {
            return false;
        }
        seg += len;
        if (*seg == '/') {
            seg++;
        }
    }
    return true;
}

/* Reads root + path into a malloc'd buffer through the file helper, which refuses a path
 * whose real location, symlinks included, lies outside root. Returns IM_ENOTFOUND when the
 * file is missing, is not a regular file, or resolves outside root. */
static int read_web_file(const char *root, const char *path, char **data, size_t *size,
                         struct stat *st)
{
    char joined[PATH_MAX];
    char err[PATH_MAX + 128];
    const char *roots[] = {root};
    int fd = -1;
    int rc = IM_ENOTFOUND;
    *data = NULL;

    if (snprintf(joined, sizeof(joined), "%s%s", root, path) >= (int)sizeof(joined)) {
        return IM_ENOTFOUND;
    }
    int open_rc = im_safefile_open(roots, 1, joined, &fd, err, sizeof(err));
    if (open_rc != IM_OK) {
        if (open_rc == IM_EFORBIDDEN) {
            im_log_warn("http", "WEB_DIR: not serving \"%s\": %s", path, err);
        }
        return IM_ENOTFOUND;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        goto out;
    }
    if (st->st_size > WEB_DIR_FILE_MAX) {
        im_log_error("http", "WEB_DIR: \"%s\" is %lld bytes, more than the %ld served", path,
                     (long long)st->st_size, WEB_DIR_FILE_MAX);
        rc = IM_ERR;
        goto out;
    }
    *data = im_malloc((size_t)st->st_size + 1);
    ssize_t got = read(fd, *data, (size_t)st->st_size);
    if (got != st->st_size) {
        im_log_error("http", "WEB_DIR: reading \"%s\" failed: %s", path,
                     got < 0 ? strerror(errno) : "short read");
        free(*data);
        *data = NULL;
        rc = IM_ERR;
        goto out;
    }
    *size = (size_t)got;
    rc = IM_OK;
out:
    close(fd);
    return rc;
}

/* Serves path from WEB_DIR. Returns IM_ENOTFOUND when there is no such file. Everything is
 * revalidated (no-cache): the folder changes while a developer works. */
static int send_web_dir_file(im_request_t *req, const char *root, const char *path)
{
    char *data = NULL;
    size_t size = 0;
    struct stat st;
    int rc = read_web_file(root, path, &data, &size, &st);
    if (rc != IM_OK) {
        return rc;
    }
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec);
    if (im_req_etag_matches(req, etag)) {
        free(data);
        send_not_modified(req, etag, CACHE_REVALIDATE);
        return IM_OK;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(path));
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", CACHE_REVALIDATE);
    set_response(req, 200, resp, size);
    return IM_OK;
}

/* ---- handlers -------------------------------------------------------------------------- */

static const char *web_dir(im_request_t *req)
{
    const char *dir = im_req_app(req)->config->web_dir;
    return dir[0] ? dir : NULL;
}

void im_http_static_index(im_request_t *req)
{
    const char *dir = web_dir(req);
    if (dir) {
        if (send_web_dir_file(req, dir, "/index.html") != IM_OK) {
            im_resp_error(req, 500,
                          "WEB_DIR=%s has no readable index.html: run `npm run build` "
                          "in web/ or point WEB_DIR at a built folder",
                          dir);
        }
        return;
    }
    const im_web_asset_t *index = find_asset("/index.html");
    if (!index) {
        im_resp_error(req, 500, "this binary was built without index.html");
        return;
    }
    send_asset(req, index);
}

static void serve_static(im_request_t *req)
{
    const char *path = im_req_path(req);
    /* Files live under /assets/ or at the top (/favicon.ico); deeper paths such as
     * /containers/web.1 are UI pages even with a dot in them. */
    bool is_file =
        strncmp(path, "/assets/", 8) == 0 || (!strchr(path + 1, '/') && strchr(path, '.') != NULL);

    /* Unknown API paths stay JSON errors, as the router gives for any other method. */
    if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0) {
        im_resp_error(req, 404, "Not found");
        return;
    }
    if (!path_is_safe(path)) {
        im_resp_error(req, 404, "Not found");
        return;
    }

    const char *dir = web_dir(req);
    if (dir) {
        int rc = send_web_dir_file(req, dir, path);
        if (rc == IM_OK) {
            return;
        }
        if (rc != IM_ENOTFOUND) {
            im_resp_error(req, 500, "cannot read %s from WEB_DIR; the server log says why", path);
            return;
        }
    } else {
        const im_web_asset_t *asset = find_asset(path);
        if (asset) {
            send_asset(req, asset);
            return;
        }
    }
    /* A missing script or image must not come back as HTML, which the browser would try to
     * run or draw; page URLs (no file extension) get the app. */
    if (is_file) {
        im_resp_error(req, 404, "Not found");
        return;
    }
    im_http_static_index(req);
}

const im_route_t im_http_static_routes[] = {
    {.method = "GET", .pattern = "*", .min_role = IM_ROLE_PUBLIC, .handler = serve_static},
    {.method = "HEAD", .pattern = "*", .min_role = IM_ROLE_PUBLIC, .handler = serve_static},
    {.method = NULL, .pattern = NULL, .min_role = IM_ROLE_PUBLIC, .handler = NULL},
};
