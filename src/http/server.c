/* The HTTP server: libmicrohttpd with its internal epoll thread pool, a route table, and
 * the middleware every request passes through (size limit, client address, authentication,
 * role check, security headers, access log). */
#include "http/http-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "auth/auth.h"
#include "core/log.h"
#include "core/util.h"
#include "http/forwarded.h"
#include "http/stream.h"
#include "http/websocket.h"

#define MAX_URL_LENGTH   4096
#define MAX_HEADER_COUNT 100
/* Request headers (names, values and 4 bytes of ": " and CRLF per header) above this get
 * a 431 from InfraMon, with every security header. */
#define MAX_HEADER_BYTES (32 * 1024)
/* libmicrohttpd's memory per connection, which stores the request line and headers as they
 * are read. A request that does not fit gets libmicrohttpd's own bare 431 or 414 before
 * on_request runs, so this must stay well above MAX_URL_LENGTH + MAX_HEADER_BYTES. The
 * room between them lets InfraMon reject most oversized requests itself. With
 * MAX_CONNECTIONS open, the pools take at most 96 MiB. */
#define CONNECTION_MEMORY  (96 * 1024)
#define CONNECTION_TIMEOUT 60
#define MAX_CONNECTIONS    1024

static const char *role_names[] = {"public", "viewer", "operator", "admin"};

const char *im_role_name(im_role_t role)
{
    return role >= IM_ROLE_PUBLIC && role <= IM_ROLE_ADMIN ? role_names[role] : "unknown";
}

bool im_role_parse(const char *name, im_role_t *out)
{
    for (im_role_t r = IM_ROLE_VIEWER; r <= IM_ROLE_ADMIN; r++) {
        if (name && strcmp(name, role_names[r]) == 0) {
            *out = r;
            return true;
        }
    }
    return false;
}

/* Every response, errors and static files included, carries these. */
static void add_security_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-XSS-Protection", "1; mode=block");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Permissions-Policy",
                            "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self' "
                            "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                            "form-action 'self'");
    /* Static files set their own cache lifetime (src/http/static.c). */
    if (!MHD_get_response_header(resp, "Cache-Control")) {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
}

/* True when the client reached us over HTTPS: TLS on this socket, or a trusted proxy whose
 * X-Forwarded-Proto (its right-most value, the one the nearest proxy set) is https. */
static bool request_is_https(im_request_t *req)
{
    if (MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)) {
        return true;
    }
    if (!req->via_trusted_proxy) {
        return false;
    }
    const char *proto =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
    if (!proto) {
        return false;
    }
    const char *last = strrchr(proto, ',');
    last = last ? last + 1 : proto;
    while (*last == ' ' || *last == '\t') {
        last++;
    }
    size_t len = strcspn(last, " \t");
    bool only_spaces_after = last[len + strspn(last + len, " \t")] == '\0';
    return len == 5 && strncasecmp(last, "https", 5) == 0 && only_spaces_after;
}

/* Resolves the client address: the socket peer, unless the peer is a trusted proxy, in
 * which case the right-most address of X-Forwarded-For that is not a trusted proxy. */
static void resolve_client_ip(im_request_t *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    unsigned char peer[16];
    memset(peer, 0, sizeof(peer));
    im_strlcpy(req->client_ip, "unknown", sizeof(req->client_ip));
    if (!info || !info->client_addr) {
        return;
    }
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, req->client_ip, sizeof(req->client_ip));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, req->client_ip, sizeof(req->client_ip));
        if (im_str_starts_with(req->client_ip, "::ffff:") && strchr(req->client_ip, '.')) {
            memmove(req->client_ip, req->client_ip + 7, strlen(req->client_ip + 7) + 1);
        }
    }
    const im_config_t *config = req->server->app->config;
    if (config->trusted_proxy_count == 0 || !im_ip_parse(req->client_ip, peer) ||
        !im_config_is_trusted_proxy(config, peer)) {
        return;
    }
    req->via_trusted_proxy = true;
    const char *xff = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-For");
    im_http_forwarded_client(config, xff, req->client_ip, sizeof(req->client_ip));
}

static void request_free(im_request_t *req)
{
    if (!req) {
        return;
    }
    im_buf_release(&req->body);
    json_decref(req->json);
    for (int i = 0; i < req->header_count; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    free(req);
}

/* Queues the response a handler prepared, with the security and extra headers. */
static enum MHD_Result queue_response(im_request_t *req)
{
    if (!req->response) {
        im_log_error("http", "request %s: handler for %s %s sent no response", req->id, req->method,
                     req->path);
        im_resp_error(req, 500, "internal error: no response was produced");
    }
    add_security_headers(req->response);
    if (request_is_https(req)) {
        MHD_add_response_header(req->response, "Strict-Transport-Security",
                                "max-age=31536000; includeSubDomains");
    }
    for (int i = 0; i < req->header_count; i++) {
        MHD_add_response_header(req->response, req->headers[i].name, req->headers[i].value);
    }
    MHD_add_response_header(req->response, "X-Request-ID", req->id);
    if (req->rate_limited) {
        char value[32];
        snprintf(value, sizeof(value), "%d", req->rate_limit.limit);
        MHD_add_response_header(req->response, "X-RateLimit-Limit", value);
        snprintf(value, sizeof(value), "%d", req->rate_limit.remaining);
        MHD_add_response_header(req->response, "X-RateLimit-Remaining", value);
        snprintf(value, sizeof(value), "%d", req->rate_limit.reset_seconds);
        MHD_add_response_header(req->response, "X-RateLimit-Reset", value);
    }
    if (req->cors_origin) {
        MHD_add_response_header(req->response, "Access-Control-Allow-Origin", req->cors_origin);
        MHD_add_response_header(req->response, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(req->response, "Access-Control-Expose-Headers",
                                "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, "
                                "X-RateLimit-Reset, Retry-After");
    }
    MHD_add_response_header(req->response, "Vary", "Origin");
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, req->response);
    MHD_destroy_response(req->response);
    req->response = NULL;
    req->responded = true;
    return ret;
}

static bool segment_match(const char *pattern, size_t plen, const char *path, size_t len)
{
    return plen == len && memcmp(pattern, path, len) == 0;
}

/* Matches path against pattern, capturing {name} segments; false when it does not match. */
static bool route_match(const char *pattern, const char *path, im_request_t *req)
{
    req->param_count = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/') {
            return false;
        }
        p++;
        s++;
        const char *pend = strchrnul(p, '/');
        const char *send = strchrnul(s, '/');
        if (*p == '{') {
            if (send == s || req->param_count == IM_HTTP_MAX_PARAMS) {
                return false;
            }
            size_t name_len = (size_t)(pend - p - 2);
            size_t value_len = (size_t)(send - s);
            if (name_len >= sizeof(req->params[0].name) ||
                value_len >= sizeof(req->params[0].value)) {
                return false;
            }
            memcpy(req->params[req->param_count].name, p + 1, name_len);
            req->params[req->param_count].name[name_len] = '\0';
            memcpy(req->params[req->param_count].value, s, value_len);
            req->params[req->param_count].value[value_len] = '\0';
            req->param_count++;
        } else if (!segment_match(p, (size_t)(pend - p), s, (size_t)(send - s))) {
            return false;
        }
        p = pend;
        s = send;
    }
    return *p == '\0' && *s == '\0';
}

/* Returns true when a route registered for route_method serves method. HEAD is served by
 * the GET route, and libmicrohttpd sends the reply's headers without its body. */
static bool method_served(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Appends method to the comma-separated list allow unless it is there already. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t len = strlen(method);
    for (const char *at = strstr(allow, method); at; at = strstr(at + 1, method)) {
        bool word_start = at == allow || at[-1] == ' ';
        if (word_start && (at[len] == ',' || at[len] == '\0')) {
            return;
        }
    }
    size_t used = strlen(allow);
    snprintf(allow + used, size - used, "%s%s", used ? ", " : "", method);
}

/* Finds the route for the request. When none serves its method but a route's path
 * matches, allow gets the methods the path accepts (empty when the path is unknown). */
static const im_route_t *find_route(im_request_t *req, char *allow, size_t allow_size)
{
    allow[0] = '\0';
    for (const im_route_t *const *table = req->server->route_tables; *table; table++) {
        for (const im_route_t *r = *table; r->method; r++) {
            if (strcmp(r->pattern, "*") == 0 || !route_match(r->pattern, req->path, req)) {
                continue;
            }
            if (method_served(r->method, req->method)) {
                return r;
            }
            allow_add(allow, allow_size, r->method);
            if (strcmp(r->method, "GET") == 0) {
                allow_add(allow, allow_size, "HEAD");
            }
        }
    }
    if (allow[0]) {
        return NULL;
    }
    /* A "*" route (the web UI's files) takes what no other route's path matches. */
    req->param_count = 0;
    for (const im_route_t *const *table = req->server->route_tables; *table; table++) {
        for (const im_route_t *r = *table; r->method; r++) {
            if (strcmp(r->pattern, "*") == 0 && method_served(r->method, req->method)) {
                return r;
            }
        }
    }
    return NULL;
}

/* Authenticates the bearer token, if any, into req->principal. Returns false (and sends
 * 401) when a token was presented but is not valid, or when the route needs one. */
static bool authenticate(im_request_t *req, im_role_t min_role)
{
    const char *header = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
    if (!header) {
        if (min_role == IM_ROLE_PUBLIC) {
            return true;
        }
        im_resp_error(req, 401, "Not authenticated");
        return false;
    }
    if (strncasecmp(header, "Bearer ", 7) != 0 || header[7] == '\0') {
        im_resp_error(req, 401, "Authorization header must be: Bearer <access token>");
        return false;
    }
    char reason[128] = "";
    int rc = im_auth_verify_access(req->server->app->auth, header + 7, &req->principal, reason,
                                   sizeof(reason));
    if (rc == IM_EUNAVAILABLE) {
        im_resp_error(req, 503, "database unavailable: %s", reason);
        return false;
    }
    if (rc != IM_OK) {
        im_log_info("auth", "request %s from %s: token rejected: %s", req->id, req->client_ip,
                    reason);
        im_resp_error(req, 401, "Could not validate credentials");
        return false;
    }
    req->authenticated = true;
    return true;
}

static void dispatch(im_request_t *req)
{
    char allow[64];
    const im_route_t *route = find_route(req, allow, sizeof(allow));
    if (!route) {
        if (allow[0]) {
            im_resp_header(req, "Allow", allow);
            im_resp_error(req, 405, "method %s is not allowed on %s", req->method, req->path);
        } else {
            im_resp_error(req, 404, "Not found");
        }
        return;
    }
    if (!authenticate(req, route->min_role)) {
        return;
    }
    if (route->min_role > IM_ROLE_PUBLIC && req->principal.role < route->min_role) {
        im_resp_error(req, 403, "this action requires the %s role; you have %s",
                      im_role_name(route->min_role), im_role_name(req->principal.role));
        im_client_t client = {req->client_ip, im_req_user_agent(req)};
        im_auth_note_forbidden(req->server->app->auth, &req->principal, &client);
        return;
    }
    route->handler(req);
}

static bool path_is_printable(const char *url)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

typedef struct {
    int count;
    size_t bytes;
} header_totals_t;

/* Counts headers, or query arguments, and their bytes; used with MHD_get_connection_values. */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    header_totals_t *totals = cls;
    totals->count++;
    totals->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Liveness probes are never rate limited, so an orchestrator cannot trip the limit. */
/* The web UI's files are exempt too: they are served from memory with long cache lifetimes,
 * and counting them would let one page load spend a large part of a client's budget. */
static bool rate_limit_exempt(const char *method, const char *path)
{
    if (strcmp(path, "/health") == 0 || strcmp(path, "/api/v1/health") == 0) {
        return true;
    }
    bool read_only = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    return read_only && !im_str_starts_with(path, "/api/") && strcmp(path, "/ready") != 0 &&
           strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0;
}

/* Counts the request against its client's window; false (with a 429 prepared) when over. */
static bool check_rate_limit(im_request_t *req)
{
    unsigned char addr[16];
    if (rate_limit_exempt(req->method, req->path) || !im_ip_parse(req->client_ip, addr)) {
        return true;
    }
    im_ip_client_prefix(addr);
    im_ratelimit_hit(req->server->limiter, addr, im_monotonic_ms(), &req->rate_limit);
    req->rate_limited = true;
    if (req->rate_limit.allowed) {
        return true;
    }
    char retry[16];
    snprintf(retry, sizeof(retry), "%d", req->rate_limit.retry_after_seconds);
    im_resp_header(req, "Retry-After", retry);
    const im_config_t *config = req->server->app->config;
    im_resp_error(req, 429, "Too many requests: the limit is %d per %d seconds; retry in %s s",
                  config->rate_limit_max_requests, config->rate_limit_window_seconds, retry);
    return false;
}

/* Echoes an allowed Origin and responds to a CORS preflight. Returns false when a response
 * was prepared. */
static bool apply_cors(im_request_t *req)
{
    const im_config_t *config = req->server->app->config;
    const char *origin = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Origin");
    if (origin) {
        for (int i = 0; i < config->cors_origin_count; i++) {
            if (strcmp(config->cors_origins[i], origin) == 0 ||
                strcmp(config->cors_origins[i], "*") == 0) {
                req->cors_origin =
                    config->cors_origins[i][0] == '*' ? "*" : config->cors_origins[i];
                break;
            }
        }
    }
    if (strcmp(req->method, "OPTIONS") != 0) {
        return true;
    }
    if (!req->cors_origin) {
        im_resp_error(req, 403, "origin not allowed: add it to CORS_ORIGINS");
        return false;
    }
    im_resp_header(req, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
    im_resp_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    im_resp_header(req, "Access-Control-Max-Age", "600");
    im_resp_empty(req, 204);
    return false;
}

/* First call for a request: set up the context and reject what can be rejected before
 * any body byte is read. Returns false when a response was prepared. */
static bool begin_request(im_request_t *req, const char *url, const char *method)
{
    im_strlcpy(req->method, method, sizeof(req->method));
    im_strlcpy(req->path, strlen(url) < sizeof(req->path) ? url : "/", sizeof(req->path));
    resolve_client_ip(req);
    if (strlen(url) > MAX_URL_LENGTH) {
        im_resp_error(req, 414, "URL longer than %d bytes", MAX_URL_LENGTH);
        return false;
    }
    if (strlen(url) >= sizeof(req->path)) {
        im_resp_error(req, 414, "URL path longer than %zu bytes", sizeof(req->path) - 1);
        return false;
    }
    if (!path_is_printable(url)) {
        im_strlcpy(req->path, "/(invalid)", sizeof(req->path));
        im_resp_error(req, 400, "URL contains control characters");
        return false;
    }
    if (!check_rate_limit(req) || !apply_cors(req)) {
        return false;
    }
    /* libmicrohttpd passes the path alone as url, so the query string is measured from its
     * decoded arguments: names, values and 2 bytes of "=" and "&" each. */
    header_totals_t query = {0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, count_header, &query);
    if (query.bytes - 2 * (size_t)query.count > MAX_URL_LENGTH) {
        im_resp_error(req, 414, "query string longer than %d bytes", MAX_URL_LENGTH);
        return false;
    }
    header_totals_t headers = {0};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &headers);
    if (headers.count > MAX_HEADER_COUNT) {
        im_resp_error(req, 431, "more than %d request headers", MAX_HEADER_COUNT);
        return false;
    }
    if (headers.bytes > MAX_HEADER_BYTES) {
        im_resp_error(req, 431, "request headers larger than %d bytes", MAX_HEADER_BYTES);
        req->close_connection = true;
        return false;
    }
    const char *length =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t declared = 0;
    int64_t limit = req->server->app->config->max_request_size;
    if (length && (!im_parse_int64(length, 0, INT64_MAX, &declared) || declared > limit)) {
        im_resp_error(req, 413, "request body larger than MAX_REQUEST_SIZE (%lld bytes)",
                      (long long)limit);
        req->close_connection = true;
        return false;
    }
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    im_http_server_t *server = cls;
    im_request_t *req = *con_cls;
    if (!req) {
        req = im_calloc(1, sizeof(*req));
        req->server = server;
        req->conn = conn;
        req->started_ms = im_monotonic_ms();
        snprintf(req->id, sizeof(req->id), "%lx-%lx", (unsigned long)getpid() & 0xffff,
                 (unsigned long)atomic_fetch_add(&server->next_request_id, 1));
        im_buf_init(&req->body);
        atomic_fetch_add(&server->in_flight, 1);
        *con_cls = req;
        if (!begin_request(req, url, method)) {
            return queue_response(req);
        }
        /* Queueing on the first call makes MHD close the connection: wait for the next. */
        return MHD_YES;
    }
    if (req->responded) {
        *upload_data_size = 0; /* discard the rest of a rejected body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        int64_t limit = server->app->config->max_request_size;
        if ((int64_t)(req->body.len + *upload_data_size) > limit) {
            /* A chunked body cannot get a 413 mid-stream, so the connection is closed. */
            im_log_warn("http",
                        "request %s from %s: chunked body passed MAX_REQUEST_SIZE "
                        "(%lld bytes), closing the connection",
                        req->id, req->client_ip, (long long)limit);
            req->status = 413;
            return MHD_NO;
        }
        im_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    dispatch(req);
    return queue_response(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    im_http_server_t *server = cls;
    im_request_t *req = *con_cls;
    if (!req) {
        return;
    }
    im_access_entry_t entry = {
        .request_id = req->id,
        .client_ip = req->client_ip,
        .user = req->authenticated ? req->principal.username : NULL,
        .method = req->method,
        .path = req->path,
        .status = req->status,
        .bytes = req->response_bytes,
        .duration_ms = (double)(im_monotonic_ms() - req->started_ms),
        .user_agent = NULL,
    };
    im_log_access(&entry);
    im_ws_request_done(req);
    request_free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&server->in_flight, 1);
}

/* Decodes %XX escapes in the URL and query values as libmicrohttpd does, except that %00
 * becomes DEL (0x7f): a decoded NUL would silently cut "/a%00/b" down to "/a", while DEL
 * is rejected as a control character (400) for the path and by validation for values. */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *text)
{
    for (char *p = strstr(text, "%00"); p; p = strstr(p + 3, "%00")) {
        memcpy(p, "%7F", 3);
    }
    return MHD_http_unescape(text);
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char message[512];
    vsnprintf(message, sizeof(message), fmt, ap);
    size_t len = strlen(message);
    while (len && message[len - 1] == '\n') {
        message[--len] = '\0';
    }
    im_log_debug("http", "libmicrohttpd: %s", message);
}

int im_http_start(im_app_t *app, const im_route_t *const *route_tables, im_http_server_t **out,
                  char *err, size_t errlen)
{
    const im_config_t *config = app->config;
    im_http_server_t *server = im_calloc(1, sizeof(*server));
    server->app = app;
    server->route_tables = route_tables;
    /* 16384 clients take about 1 MiB; beyond that the least recently seen are evicted. */
    server->limiter =
        im_ratelimit_new(config->rate_limit_max_requests, config->rate_limit_window_seconds, 16384);

    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, config->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)config->port);
    } else if (inet_pton(AF_INET6, config->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)config->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "invalid HOST=\"%s\": expected an IPv4 or IPv6 address",
                 config->host);
        im_ratelimit_free(server->limiter);
        free(server);
        return IM_EINVAL;
    }
    int threads = im_config_http_threads(config);
    if (im_ws_hub_start(&server->ws_hub, err, errlen) != IM_OK) {
        im_ratelimit_free(server->limiter);
        free(server);
        return IM_ERR;
    }
    server->streams = im_http_streams_new();
    /* libmicrohttpd wants the logger first, so that it also reports problems with the
     * options after it. */
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)config->port, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, server, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)MAX_CONNECTIONS, MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
        MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, errlen,
                 "cannot listen on %s:%d: port in use or address not available (set PORT or HOST)",
                 config->host, config->port);
        im_ws_hub_stop(server->ws_hub);
        im_http_streams_free(server->streams);
        im_ratelimit_free(server->limiter);
        free(server);
        return IM_ERR;
    }
    *out = server;
    return IM_OK;
}

void im_http_stop(im_http_server_t *server)
{
    if (!server) {
        return;
    }
    /* Stop accepting, then give in-flight requests up to 10 s to finish. */
    MHD_quiesce_daemon(server->daemon);
    /* Streams and WebSocket sessions would keep requests open: end them first. */
    im_http_streams_shutdown(server->streams, 5000);
    im_ws_hub_stop(server->ws_hub);
    for (int i = 0; i < 100 && atomic_load(&server->in_flight) > 0; i++) {
        usleep(100 * 1000);
    }
    long left = atomic_load(&server->in_flight);
    if (left > 0) {
        im_log_warn("http", "%ld requests still open after 10 s, closing them", left);
    }
    MHD_stop_daemon(server->daemon);
    im_http_streams_free(server->streams);
    im_ratelimit_free(server->limiter);
    free(server);
}
