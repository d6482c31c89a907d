/* Request accessors and response builders for handlers. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/log.h"
#include "http/http-internal.h"

im_app_t *im_req_app(im_request_t *req)
{
    return req->server->app;
}

const im_route_t *const *im_req_route_tables(im_request_t *req)
{
    return req->server->route_tables;
}

const char *im_req_method(im_request_t *req)
{
    return req->method;
}

const char *im_req_path(im_request_t *req)
{
    return req->path;
}

const char *im_req_param(im_request_t *req, const char *name)
{
    for (int i = 0; i < req->param_count; i++) {
        if (strcmp(req->params[i].name, name) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const char *im_req_query(im_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *im_req_header(im_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *im_req_body(im_request_t *req, size_t *len)
{
    if (len) {
        *len = req->body.len;
    }
    return req->body.data ? req->body.data : "";
}

const char *im_req_client_ip(im_request_t *req)
{
    return req->client_ip;
}

const char *im_req_user_agent(im_request_t *req)
{
    const char *ua = im_req_header(req, "User-Agent");
    return ua ? ua : "";
}

const char *im_req_id(im_request_t *req)
{
    return req->id;
}

const im_principal_t *im_req_principal(im_request_t *req)
{
    return req->authenticated ? &req->principal : NULL;
}

bool im_req_etag_matches(im_request_t *req, const char *etag)
{
    const char *header = im_req_header(req, "If-None-Match");
    if (!header) {
        return false;
    }
    return strcmp(header, "*") == 0 || strstr(header, etag) != NULL;
}

bool im_req_has_role(im_request_t *req, im_role_t min_role)
{
    return req->authenticated && req->principal.role >= min_role;
}

json_t *im_req_json_object(im_request_t *req)
{
    if (req->json) {
        return req->json;
    }
    char err[512];
    json_t *value = NULL;
    if (im_json_parse_object(req->body.data, req->body.len,
                             req->server->app->config->max_json_depth, &value, err,
                             sizeof(err)) != IM_OK) {
        im_resp_error(req, 400, "%s", err);
        return NULL;
    }
    req->json = value;
    return value;
}

bool im_req_query_int(im_request_t *req, const char *name, int64_t min, int64_t max,
                      int64_t fallback, int64_t *out)
{
    const char *text = im_req_query(req, name);
    if (!text) {
        *out = fallback;
        return true;
    }
    if (!im_parse_int64(text, min, max, out)) {
        im_resp_invalid(req, "query", name, "must be an integer from %lld to %lld", (long long)min,
                        (long long)max);
        return false;
    }
    return true;
}

bool im_req_query_bool(im_request_t *req, const char *name, bool fallback, bool *out)
{
    const char *text = im_req_query(req, name);
    if (!text) {
        *out = fallback;
        return true;
    }
    if (!im_parse_bool(text, out)) {
        im_resp_invalid(req, "query", name, "must be true or false");
        return false;
    }
    return true;
}

typedef struct {
    const char *name;
    void (*fn)(void *ctx, const char *value);
    void *ctx;
} query_visit_t;

static enum MHD_Result visit_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    query_visit_t *visit = cls;

    if (key && strcmp(key, visit->name) == 0) {
        visit->fn(visit->ctx, value ? value : "");
    }
    return MHD_YES;
}

void im_req_query_each(im_request_t *req, const char *name,
                       void (*fn)(void *ctx, const char *value), void *ctx)
{
    query_visit_t visit = {.name = name, .fn = fn, .ctx = ctx};

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, visit_query, &visit);
}

static void set_response(im_request_t *req, unsigned status, struct MHD_Response *resp,
                         size_t bytes)
{
    if (req->response) {
        im_log_error("http", "request %s: a second response (%u) replaced the first (%u)", req->id,
                     status, req->status);
        MHD_destroy_response(req->response);
    }
    req->response = resp;
    req->status = status;
    req->response_bytes = bytes;
    if (req->close_connection) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
}

void im_resp_bytes(im_request_t *req, unsigned status, const char *content_type, const void *data,
                   size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
    if (content_type) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    set_response(req, status, resp, len);
}

void im_resp_json(im_request_t *req, unsigned status, json_t *body)
{
    /* 15 significant digits print a rounded 9.44 as 9.44, not 9.4399999999999995. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (!text) {
        im_log_error("http", "request %s: cannot serialise the JSON response", req->id);
        text = strdup("{\"detail\":\"internal error: response serialisation failed\"}");
        status = 500;
    }
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    set_response(req, status, resp, len);
}

void im_resp_empty(im_request_t *req, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    set_response(req, status, resp, 0);
}

void im_resp_error(im_request_t *req, unsigned status, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (status == 401) {
        im_resp_header(req, "WWW-Authenticate", "Bearer");
    }
    im_resp_json(req, status, json_pack("{s:s}", "detail", message));
}

void im_resp_invalid(im_request_t *req, const char *where, const char *field, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    json_t *detail = json_pack("[{s:[s,s], s:s, s:s}]", "loc", where, field, "msg", message, "type",
                               "value_error");
    im_resp_json(req, 422, json_pack("{s:o}", "detail", detail));
}

void im_resp_from_rc(im_request_t *req, int rc, const char *message)
{
    static const struct {
        int rc;
        unsigned status;
        const char *fallback;
    } map[] = {
        {IM_ENOTFOUND, 404, "Not found"},
        {IM_ECONFLICT, 409, "Conflict"},
        {IM_EINVAL, 400, "Invalid request"},
        {IM_EUNAVAILABLE, 503, "Service unavailable"},
        {IM_EUPSTREAM, 502, "The container engine returned an error"},
        {IM_EDENIED, 401, "Not authenticated"},
        {IM_EFORBIDDEN, 403, "Forbidden"},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(map); i++) {
        if (map[i].rc == rc) {
            const char *text = message && *message ? message : map[i].fallback;
            // The access log line has the status only, so the message of a failing engine or
            // store goes to the log as well.
            if (map[i].status >= 500) {
                im_log_warn("http", "request %s: %u: %s", req->id, map[i].status, text);
            }
            im_resp_error(req, map[i].status, "%s", text);
            return;
        }
    }
    im_log_error("http", "request %s: internal error %d: %s", req->id, rc, message ? message : "");
    im_resp_error(req, 500, "internal error");
}

void im_resp_header(im_request_t *req, const char *name, const char *value)
{
    if (req->header_count == IM_HTTP_MAX_HEADERS) {
        im_log_error("http", "request %s: more than %d extra headers, dropping %s", req->id,
                     IM_HTTP_MAX_HEADERS, name);
        return;
    }
    req->headers[req->header_count].name = im_strdup(name);
    req->headers[req->header_count].value = im_strdup(value);
    req->header_count++;
}
