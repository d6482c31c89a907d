#ifndef IM_HTTP_HTTP_H
#define IM_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct im_app;

/* Roles in increasing order of power. A route's minimum role is checked before its handler. */
typedef enum {
    IM_ROLE_PUBLIC = 0, /* no token needed */
    IM_ROLE_VIEWER = 1,
    IM_ROLE_OPERATOR = 2,
    IM_ROLE_ADMIN = 3,
} im_role_t;

const char *im_role_name(im_role_t role);
/* Parses "viewer|operator|admin"; false for anything else. */
bool im_role_parse(const char *name, im_role_t *out);

/* The authenticated caller of a request, filled by the auth middleware. */
typedef struct {
    int64_t user_id;
    char username[64];
    im_role_t role;
    char session_id[48]; /* the login session (refresh-token family) the token belongs to */
    char token_id[48];   /* the access token's jti */
} im_principal_t;

typedef struct im_request im_request_t;
typedef void (*im_handler_fn)(im_request_t *req);

/* One route: method, path pattern with {name} segments (relative to the server root, so API
 * routes start with /api/v1), the minimum role, and the handler. The pattern "*" matches any
 * path that no other route's pattern matches (the web UI's files). */
typedef struct {
    const char *method;
    const char *pattern;
    im_role_t min_role;
    im_handler_fn handler;
    const char *summary; /* one line for the OpenAPI document; may be NULL */
} im_route_t;

/* Returns the server's NULL-terminated list of route tables (for the OpenAPI document). */
const im_route_t *const *im_req_route_tables(im_request_t *req);

/* Request accessors. Strings stay valid until the response has been sent. */
struct im_app *im_req_app(im_request_t *req);
const char *im_req_method(im_request_t *req);
const char *im_req_path(im_request_t *req);
/* Returns the URL-decoded value of a {name} path segment, or NULL. */
const char *im_req_param(im_request_t *req, const char *name);
/* Returns the decoded query value of name, or NULL when absent. */
const char *im_req_query(im_request_t *req, const char *name);
const char *im_req_header(im_request_t *req, const char *name);
const char *im_req_body(im_request_t *req, size_t *len);
const char *im_req_client_ip(im_request_t *req);
const char *im_req_user_agent(im_request_t *req);
const char *im_req_id(im_request_t *req);
/* Returns the caller, or NULL on a public route without a token. */
const im_principal_t *im_req_principal(im_request_t *req);
/* Returns true when the caller's role is at least min_role. */
bool im_req_has_role(im_request_t *req, im_role_t min_role);

/* Returns the deepest nesting of arrays and objects in data, counting only brackets outside
 * strings. It reads any bytes, valid JSON or not. */
int im_json_nesting_depth(const char *data, size_t len);
/* Parses data as a JSON object into *out (a new reference), rejecting an empty body, a
 * nesting deeper than max_depth (checked before parsing), invalid JSON, duplicate keys and
 * non-objects. Returns IM_OK, or IM_EINVAL with the reason in err. */
int im_json_parse_object(const char *data, size_t len, int max_depth, json_t **out, char *err,
                         size_t errlen);

/* Parses the body as a JSON object (duplicate keys rejected, nesting capped by
 * MAX_JSON_DEPTH). On failure it sends a 400 or
 * 422 naming the problem and returns NULL; the caller just returns. The reference is
 * borrowed: the request owns it. */
json_t *im_req_json_object(im_request_t *req);

/* Query helpers: each sends a 422 naming the parameter and returns false on an invalid
 * value; an absent parameter yields the default. */
bool im_req_query_int(im_request_t *req, const char *name, int64_t min, int64_t max,
                      int64_t fallback, int64_t *out);
bool im_req_query_bool(im_request_t *req, const char *name, bool fallback, bool *out);
/* Calls fn with each decoded value of a query parameter that may repeat (?a=1&a=2), in
 * order. */
void im_req_query_each(im_request_t *req, const char *name,
                       void (*fn)(void *ctx, const char *value), void *ctx);

/* Returns true when the request's If-None-Match is "*" or contains etag (a quoted entity tag,
 * so a substring match cannot hit another tag), so a 304 can be sent instead of the body. */
bool im_req_etag_matches(im_request_t *req, const char *etag);

/* Responses: call exactly one of these per request. */
void im_resp_json(im_request_t *req, unsigned status, json_t *body /* reference stolen */);
void im_resp_bytes(im_request_t *req, unsigned status, const char *content_type, const void *data,
                   size_t len);
void im_resp_empty(im_request_t *req, unsigned status);
/* Sends {"detail": message}. 401 adds WWW-Authenticate: Bearer. */
void im_resp_error(im_request_t *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends 422 with detail [{loc: [where, field], msg, type: "value_error"}]; where is
 * "body", "query" or "path". */
void im_resp_invalid(im_request_t *req, const char *where, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps an IM_E* status code to 404/409/400/503/502/500 with message as detail. */
void im_resp_from_rc(im_request_t *req, int rc, const char *message);
/* Adds a header to the response about to be sent (call before im_resp_*). */
void im_resp_header(im_request_t *req, const char *name, const char *value);

/* Looks up name in an application/x-www-form-urlencoded body and URL-decodes its value
 * into a malloc'd string. Returns NULL when absent or malformed. */
char *im_form_value(const char *body, size_t len, const char *name);

/* The HTTP server. */
typedef struct im_http_server im_http_server_t;

/* Starts listening on host:port with the given route tables (NULL-terminated list of
 * arrays, each ending with a route whose method is NULL). */
int im_http_start(struct im_app *app, const im_route_t *const *route_tables, im_http_server_t **out,
                  char *err, size_t errlen);
/* Stops accepting, waits for in-flight requests, and frees the server. */
void im_http_stop(im_http_server_t *server);

#endif
