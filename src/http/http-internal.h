#ifndef IM_HTTP_INTERNAL_H
#define IM_HTTP_INTERNAL_H

#include <stdatomic.h>

#include <microhttpd.h>

#include "core/util.h"
#include "http/http.h"
#include "http/ratelimit.h"

#define IM_HTTP_MAX_PARAMS  4
#define IM_HTTP_MAX_HEADERS 16

typedef struct {
    char name[32];
    char value[256];
} im_path_param_t;

typedef struct {
    char *name;
    char *value;
} im_header_t;

struct im_app;

/* The server: the libmicrohttpd daemon and what its callbacks share. */
struct im_http_server {
    struct MHD_Daemon *daemon;
    struct im_app *app;
    const im_route_t *const *route_tables;
    im_ratelimit_t *limiter;
    atomic_long in_flight;
    atomic_ulong next_request_id;
    struct im_http_streams *streams; /* open streaming responses (http/stream.h) */
    struct im_ws_hub *ws_hub;        /* the WebSocket thread (http/websocket.h) */
};

/* Per-request state, allocated on the first access-handler call and freed when libmicrohttpd
 * reports the request completed. */
struct im_request {
    struct im_http_server *server;
    struct MHD_Connection *conn;
    char id[32];
    char method[16];
    char path[1024];
    char client_ip[64];
    bool via_trusted_proxy;
    int64_t started_ms;
    im_buf_t body;
    json_t *json;
    im_path_param_t params[IM_HTTP_MAX_PARAMS];
    int param_count;
    im_principal_t principal;
    bool authenticated;
    /* The response being prepared by a handler, and its extra headers. */
    struct MHD_Response *response;
    unsigned status;
    uint64_t response_bytes;
    im_header_t headers[IM_HTTP_MAX_HEADERS];
    int header_count;
    bool responded;
    bool rate_limited; /* rate_limit holds the counts to report */
    im_ratelimit_result_t rate_limit;
    const char *cors_origin; /* the allowed Origin to echo, or NULL */
    bool close_connection;
    /* The session that a 101 reply from im_ws_respond starts, until the request completes. */
    struct im_ws_upgrade *ws_upgrade;
};

#endif
