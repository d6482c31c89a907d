/* The web UI's static files: the copy embedded at build time (cmake/embed_web.cmake
 * generates the asset table from web/dist), or the folder named by WEB_DIR. */
#ifndef IM_HTTP_STATIC_H
#define IM_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* One embedded file. Generated code fills the table; nothing else writes it. */
typedef struct {
    const char *path;         /* URL path, such as "/index.html" */
    const char *content_type; /* with a charset for text types */
    const char *etag;         /* quoted strong ETag: the first 16 hex digits of SHA-256 */
    const unsigned char *data;
    size_t size;
    const unsigned char *gzip; /* gzip of data, or NULL when that is not smaller */
    size_t gzip_size;
    bool immutable; /* a content-hashed name under /assets/: cacheable for a year */
} im_web_asset_t;

extern const im_web_asset_t im_web_assets[];
extern const size_t im_web_asset_count;

/* Routes that serve the UI: GET and HEAD on any path that no other route matches. The
 * table must come last in the server's route tables. Paths under /api/ get a JSON 404. */
extern const im_route_t im_http_static_routes[];

/* Sends index.html with `Cache-Control: no-cache` and its ETag (304 on If-None-Match). */
void im_http_static_index(im_request_t *req);

#endif
