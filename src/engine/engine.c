#include "engine/engine.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/wire.h"

#define LOG_MODULE "engine"

#define ACCEPTED_HOST_FORMS "unix:///path/to/socket or tcp://host:port"
#define MAX_PATH_LEN        8192

struct im_engine {
    im_engine_address_t address;
    char *address_text; /* the DOCKER_HOST value, or the default, for messages */
    char *host_header;  /* the Host header of every request */
    bool tls;
    im_tls_creds_t *tls_creds; /* the certificates below; NULL without TLS */
    char *ca_file;
    char *cert_file;
    char *key_file;
    char pinned_version[IM_ENGINE_VERSION_SIZE]; /* empty: negotiate */

    pthread_mutex_t lock; /* guards every field below */
    im_wire_conn_t *idle[IM_ENGINE_POOL_SIZE];
    size_t idle_count;
    bool negotiated;
    bool reachable; /* the last state logged, so that an outage is logged once */
    char api_version[IM_ENGINE_VERSION_SIZE];
    json_t *version_info;

    pthread_mutex_t negotiate_lock; /* lets one thread at a time send GET /version */
    atomic_uint_fast64_t requests;  /* requests and streams started, for self-metrics */
};

/* ---- DOCKER_HOST parsing ---------------------------------------------------------------- */

static bool is_hostname_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static bool is_ipv6_char(char c)
{
    return isxdigit((unsigned char)c) || c == ':' || c == '.';
}

static int invalid_host(const char *value, const char *reason, char *err, size_t errlen)
{
    snprintf(err, errlen, "invalid DOCKER_HOST \"%s\": %s; expected %s", value, reason,
             ACCEPTED_HOST_FORMS);
    return IM_EINVAL;
}

static int parse_unix_host(const char *value, const char *path, im_engine_address_t *out, char *err,
                           size_t errlen)
{
    size_t len = strlen(path);

    if (path[0] != '/') {
        return invalid_host(value, "the socket path must be absolute", err, errlen);
    }
    if (len >= sizeof(out->socket_path)) {
        return invalid_host(value, "the socket path is longer than 107 bytes", err, errlen);
    }
    for (size_t i = 0; i < len; i++) {
        if (iscntrl((unsigned char)path[i])) {
            return invalid_host(value, "the socket path contains a control character", err, errlen);
        }
    }
    out->is_unix = true;
    memcpy(out->socket_path, path, len + 1);
    return IM_OK;
}

static int parse_port(const char *value, const char *text, im_engine_address_t *out, char *err,
                      size_t errlen)
{
    int64_t port = 0;
    size_t len = strlen(text);

    // A single trailing slash ("tcp://host:2375/") is accepted, but no other path.
    char digits[8] = "";
    if (len > 0 && text[len - 1] == '/') {
        len--;
    }
    if (len == 0 || len >= sizeof(digits)) {
        return invalid_host(value, "the port must be a number from 1 to 65535", err, errlen);
    }
    memcpy(digits, text, len);
    digits[len] = '\0';
    if (!im_parse_int64(digits, 1, 65535, &port)) {
        return invalid_host(value, "the port must be a number from 1 to 65535", err, errlen);
    }
    out->port = (int)port;
    return IM_OK;
}

static int parse_tcp_host(const char *value, const char *rest, bool tls, im_engine_address_t *out,
                          char *err, size_t errlen)
{
    const char *host_start = rest;
    const char *host_end = NULL;
    const char *after = NULL;

    if (rest[0] == '[') {
        // A bracketed IPv6 literal: tcp://[::1]:2375
        host_start = rest + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end == host_start) {
            return invalid_host(value, "the IPv6 address has no closing bracket", err, errlen);
        }
        for (const char *p = host_start; p < host_end; p++) {
            if (!is_ipv6_char(*p)) {
                return invalid_host(value, "the IPv6 address is malformed", err, errlen);
            }
        }
        after = host_end + 1;
    } else {
        host_end = host_start;
        while (*host_end && is_hostname_char(*host_end)) {
            host_end++;
        }
        if (host_end == host_start) {
            return invalid_host(value, "the host is missing", err, errlen);
        }
        after = host_end;
    }

    size_t host_len = (size_t)(host_end - host_start);
    if (host_len >= sizeof(out->host)) {
        return invalid_host(value, "the host name is too long", err, errlen);
    }
    memcpy(out->host, host_start, host_len);
    out->host[host_len] = '\0';
    out->is_unix = false;
    out->port = tls ? 2376 : 2375;

    if (after[0] == '\0' || strcmp(after, "/") == 0) {
        return IM_OK;
    }
    if (after[0] != ':') {
        return invalid_host(value, "unexpected text after the host", err, errlen);
    }
    return parse_port(value, after + 1, out, err, errlen);
}

int im_engine_parse_host(const char *docker_host, bool tls, im_engine_address_t *out, char *err,
                         size_t errlen)
{
    const char *value = (docker_host && docker_host[0]) ? docker_host : IM_ENGINE_DEFAULT_HOST;

    memset(out, 0, sizeof(*out));
    if (im_str_starts_with(value, "unix://")) {
        return parse_unix_host(value, value + strlen("unix://"), out, err, errlen);
    }
    if (im_str_starts_with(value, "tcp://")) {
        return parse_tcp_host(value, value + strlen("tcp://"), tls, out, err, errlen);
    }
    if (im_str_starts_with(value, "ssh://") || im_str_starts_with(value, "npipe://") ||
        im_str_starts_with(value, "fd://")) {
        return invalid_host(value, "this scheme is not supported", err, errlen);
    }
    return invalid_host(value, "unknown scheme", err, errlen);
}

/* ---- versions ---------------------------------------------------------------------------- */

static bool parse_version(const char *text, long *major, long *minor)
{
    char *end = NULL;

    if (!text || !isdigit((unsigned char)text[0])) {
        return false;
    }
    errno = 0;
    *major = strtol(text, &end, 10);
    if (errno || *end != '.' || !isdigit((unsigned char)end[1])) {
        return false;
    }
    *minor = strtol(end + 1, &end, 10);
    if (errno || *end != '\0' || *major > 99 || *minor > 999) {
        return false;
    }
    return true;
}

int im_engine_version_compare(const char *a, const char *b)
{
    long a_major = 0;
    long a_minor = 0;
    long b_major = 0;
    long b_minor = 0;
    bool a_ok = parse_version(a, &a_major, &a_minor);
    bool b_ok = parse_version(b, &b_major, &b_minor);

    if (!a_ok || !b_ok) {
        return (int)a_ok - (int)b_ok;
    }
    if (a_major != b_major) {
        return a_major < b_major ? -1 : 1;
    }
    if (a_minor != b_minor) {
        return a_minor < b_minor ? -1 : 1;
    }
    return 0;
}

/* ---- open and close ---------------------------------------------------------------------- */

static int find_tls_file(const char *dir, const char *name, char **out, char *err, size_t errlen)
{
    char *path = im_asprintf("%s/%s", dir, name);

    if (access(path, R_OK) != 0) {
        snprintf(err, errlen,
                 "DOCKER_TLS_VERIFY is set but %s cannot be read (%s); set DOCKER_CERT_PATH to "
                 "the folder with ca.pem, cert.pem and key.pem",
                 path, strerror(errno));
        free(path);
        return IM_EINVAL;
    }
    *out = path;
    return IM_OK;
}

static int setup_tls(struct im_engine *e, const char *cert_path, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *dir = NULL;

    if (cert_path && cert_path[0]) {
        dir = im_strdup(cert_path);
    } else {
        const char *home = getenv("HOME");
        if (!home || !home[0]) {
            snprintf(err, errlen,
                     "DOCKER_TLS_VERIFY is set but DOCKER_CERT_PATH is empty and HOME is not "
                     "set; set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem");
            rc = IM_EINVAL;
            goto out;
        }
        dir = im_asprintf("%s/.docker", home);
    }

    rc = find_tls_file(dir, "ca.pem", &e->ca_file, err, errlen);
    if (rc) {
        goto out;
    }
    rc = find_tls_file(dir, "cert.pem", &e->cert_file, err, errlen);
    if (rc) {
        goto out;
    }
    rc = find_tls_file(dir, "key.pem", &e->key_file, err, errlen);
    if (rc) {
        goto out;
    }
    // Loading the certificates here reports an unusable file at startup, not at the first
    // request.
    rc = im_tls_creds_new(e->ca_file, e->cert_file, e->key_file, &e->tls_creds, err, errlen);
    if (rc) {
        goto out;
    }
    e->tls = true;

out:
    free(dir);
    return rc;
}

static int check_pinned_version(const char *pin, char *err, size_t errlen)
{
    long major = 0;
    long minor = 0;

    if (!parse_version(pin, &major, &minor) || strlen(pin) >= IM_ENGINE_VERSION_SIZE) {
        snprintf(err, errlen,
                 "invalid DOCKER_API_VERSION \"%s\": expected MAJOR.MINOR such as 1.41", pin);
        return IM_EINVAL;
    }
    if (im_engine_version_compare(pin, IM_ENGINE_API_MIN) < 0 ||
        im_engine_version_compare(pin, IM_ENGINE_API_MAX) > 0) {
        snprintf(err, errlen, "invalid DOCKER_API_VERSION \"%s\": InfraMon supports %s to %s", pin,
                 IM_ENGINE_API_MIN, IM_ENGINE_API_MAX);
        return IM_EINVAL;
    }
    return IM_OK;
}

static char *make_host_header(const struct im_engine *e)
{
    if (e->address.is_unix) {
        // A unix socket has no host name; the engine ignores the Host value there.
        return im_strdup("localhost");
    }
    if (strchr(e->address.host, ':')) {
        return im_asprintf("[%s]:%d", e->address.host, e->address.port);
    }
    return im_asprintf("%s:%d", e->address.host, e->address.port);
}

int im_engine_open(const im_engine_options_t *opts, struct im_engine **out, char *err,
                   size_t errlen)
{
    int rc = IM_OK;
    struct im_engine *e = im_calloc(1, sizeof(*e));

    *out = NULL;
    rc = im_engine_parse_host(opts->docker_host, opts->tls_verify, &e->address, err, errlen);
    if (rc) {
        goto out;
    }
    e->address_text = im_strdup(opts->docker_host && opts->docker_host[0] ? opts->docker_host
                                                                          : IM_ENGINE_DEFAULT_HOST);

    // TLS applies only to tcp connections, because a unix socket is local.
    if (opts->tls_verify && !e->address.is_unix) {
        rc = setup_tls(e, opts->cert_path, err, errlen);
        if (rc) {
            goto out;
        }
    }

    if (opts->api_version && opts->api_version[0]) {
        rc = check_pinned_version(opts->api_version, err, errlen);
        if (rc) {
            goto out;
        }
        im_strlcpy(e->pinned_version, opts->api_version, sizeof(e->pinned_version));
    }

    e->host_header = make_host_header(e);
    e->reachable = true;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->negotiate_lock, NULL);
    *out = e;
    e = NULL; // the caller owns it now

out:
    if (e) {
        im_tls_creds_free(e->tls_creds);
        free(e->address_text);
        free(e->ca_file);
        free(e->cert_file);
        free(e->key_file);
        free(e);
    }
    return rc;
}

void im_engine_close(struct im_engine *e)
{
    if (!e) {
        return;
    }
    for (size_t i = 0; i < e->idle_count; i++) {
        im_wire_close(e->idle[i]);
    }
    im_tls_creds_free(e->tls_creds);
    json_decref(e->version_info);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->negotiate_lock);
    free(e->address_text);
    free(e->host_header);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    free(e);
}

const char *im_engine_address(const struct im_engine *e)
{
    return e->address_text;
}

/* ---- replies ----------------------------------------------------------------------------- */

void im_engine_reply_init(im_engine_reply_t *reply)
{
    reply->status = 0;
    im_buf_init(&reply->body);
}

void im_engine_reply_release(im_engine_reply_t *reply)
{
    im_buf_release(&reply->body);
    reply->status = 0;
}

json_t *im_engine_reply_json(const im_engine_reply_t *reply)
{
    if (!reply->body.data || reply->body.len == 0) {
        return NULL;
    }
    return json_loadb(reply->body.data, reply->body.len, JSON_REJECT_DUPLICATES, NULL);
}

static void copy_trimmed(const char *text, size_t len, char *out, size_t outlen)
{
    while (len > 0 && isspace((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    if (outlen == 0) {
        return;
    }
    if (len >= outlen) {
        len = outlen - 1;
    }
    memcpy(out, text, len);
    out[len] = '\0';
}

void im_engine_reply_message(const im_engine_reply_t *reply, char *out, size_t outlen)
{
    json_t *root = im_engine_reply_json(reply);
    const char *message = json_string_value(json_object_get(root, "message"));

    if (outlen > 0) {
        out[0] = '\0';
    }
    if (message) {
        copy_trimmed(message, strlen(message), out, outlen);
    } else if (!root && reply->body.data) {
        // Some errors, such as a rejected API version, come as plain text.
        copy_trimmed(reply->body.data, reply->body.len, out, outlen);
    }
    json_decref(root);
}

int im_engine_reply_rc(const im_engine_reply_t *reply, char *err, size_t errlen)
{
    int rc = IM_EUPSTREAM;
    long status = reply->status;

    if (status >= 200 && status < 300) {
        return IM_OK;
    }
    if (status == 304 || status == 409) {
        rc = IM_ECONFLICT;
    } else if (status == 404) {
        rc = IM_ENOTFOUND;
    } else if (status >= 400 && status < 500) {
        rc = IM_EINVAL;
    }

    im_engine_reply_message(reply, err, errlen);
    if (errlen > 0 && err[0] == '\0') {
        snprintf(err, errlen, "the engine returned HTTP %ld", status);
    }
    return rc;
}

/* ---- the connection pool ----------------------------------------------------------------- */

/* Takes an idle pooled connection that is still open, or NULL when there is none. */
static im_wire_conn_t *take_idle_connection(struct im_engine *e)
{
    im_wire_conn_t *conn = NULL;

    for (;;) {
        pthread_mutex_lock(&e->lock);
        conn = e->idle_count > 0 ? e->idle[--e->idle_count] : NULL;
        pthread_mutex_unlock(&e->lock);
        if (!conn || im_wire_is_idle_open(conn)) {
            return conn;
        }
        im_wire_close(conn); // the engine closed it while it was idle
    }
}

/* Puts a connection that can carry another request back into the pool, or closes it. */
static void release_connection(struct im_engine *e, im_wire_conn_t *conn, bool reusable)
{
    if (reusable) {
        pthread_mutex_lock(&e->lock);
        if (e->idle_count < IM_ENGINE_POOL_SIZE) {
            e->idle[e->idle_count++] = conn;
            conn = NULL; // the pool owns it now
        }
        pthread_mutex_unlock(&e->lock);
    }
    im_wire_close(conn);
}

/* Forgets the negotiated version and drops pooled connections after the engine could not be
 * reached, so that the next request starts afresh against whatever engine listens then. */
static void mark_unreachable(struct im_engine *e, const char *message)
{
    im_wire_conn_t *dropped[IM_ENGINE_POOL_SIZE];
    size_t dropped_count = 0;
    bool was_reachable = false;

    pthread_mutex_lock(&e->lock);
    e->negotiated = false;
    dropped_count = e->idle_count;
    memcpy(dropped, e->idle, dropped_count * sizeof(dropped[0]));
    e->idle_count = 0;
    was_reachable = e->reachable;
    e->reachable = false;
    pthread_mutex_unlock(&e->lock);

    for (size_t i = 0; i < dropped_count; i++) {
        im_wire_close(dropped[i]);
    }
    if (was_reachable) {
        im_log_warn(LOG_MODULE, "engine unreachable: %s", message);
    }
}

static void mark_reachable(struct im_engine *e)
{
    bool was_reachable = false;

    pthread_mutex_lock(&e->lock);
    was_reachable = e->reachable;
    e->reachable = true;
    pthread_mutex_unlock(&e->lock);

    if (!was_reachable) {
        im_log_info(LOG_MODULE, "engine at %s is reachable again", e->address_text);
    }
}

/* ---- connecting -------------------------------------------------------------------------- */

/* Opens a new connection to the engine. On failure err names the socket or address and the
 * reason, and the result is IM_EUNAVAILABLE. */
static int connect_engine(struct im_engine *e, im_wire_conn_t **out, char *err, size_t errlen)
{
    char reason[256] = "";
    im_wire_target_t target = {
        .socket_path = e->address.is_unix ? e->address.socket_path : NULL,
        .host = e->address.host,
        .port = e->address.port,
        .tls = e->tls_creds,
    };

    int rc = im_wire_connect(&target, IM_ENGINE_CONNECT_TIMEOUT_MS, out, reason, sizeof(reason));
    if (rc == IM_OK) {
        return IM_OK;
    }
    if (rc == IM_EDENIED) {
        snprintf(err, errlen,
                 "TLS connection to the engine at %s failed: %s; check the certificates in "
                 "DOCKER_CERT_PATH",
                 e->address_text, reason);
    } else if (e->address.is_unix) {
        snprintf(err, errlen,
                 "failed to connect to the engine at unix socket %s: %s; start the engine or set "
                 "DOCKER_HOST to its address (%s)",
                 e->address.socket_path, reason, ACCEPTED_HOST_FORMS);
    } else {
        snprintf(err, errlen,
                 "failed to connect to the engine at %s (%s port %d): %s; start the engine or "
                 "set DOCKER_HOST to its address (%s)",
                 e->address_text, e->address.host, e->address.port, reason, ACCEPTED_HOST_FORMS);
    }
    return IM_EUNAVAILABLE;
}

/* ---- one HTTP exchange ------------------------------------------------------------------- */

typedef struct {
    im_engine_reply_t *reply;
    bool too_large;
} body_sink_t;

static int store_status(void *ctx, const im_wire_head_t *head)
{
    body_sink_t *sink = ctx;

    sink->reply->status = head->status;
    return 0;
}

static int store_body(void *ctx, const char *data, size_t len)
{
    body_sink_t *sink = ctx;

    if (sink->reply->body.len + len > IM_ENGINE_MAX_BODY) {
        sink->too_large = true;
        return 1;
    }
    im_buf_append(&sink->reply->body, data, len);
    return 0;
}

/* Turns a failed exchange into IM_EUNAVAILABLE (the engine dropped the connection) or
 * IM_EUPSTREAM (it was reached but failed), with a message in err. */
static int describe_exchange_failure(struct im_engine *e, im_wire_outcome_t outcome,
                                     const char *method, const char *path, long timeout_ms,
                                     const char *reason, char *err, size_t errlen)
{
    switch (outcome) {
    case IM_WIRE_TIMEOUT:
        snprintf(err, errlen, "the engine at %s did not answer %s %s within %ld ms: timed out",
                 e->address_text, method, path, timeout_ms);
        return IM_EUPSTREAM;
    case IM_WIRE_CLOSED_UNANSWERED:
    case IM_WIRE_CLOSED:
        // The reason states that the engine closed the connection, and when.
        snprintf(err, errlen, "request %s %s to the engine at %s failed: %s", method, path,
                 e->address_text, reason);
        return IM_EUNAVAILABLE;
    default:
        snprintf(err, errlen, "request %s %s to the engine at %s failed: %s", method, path,
                 e->address_text, reason);
        return IM_EUPSTREAM;
    }
}

/* Sends one request for url_path (already versioned or deliberately unversioned).
 * When a pooled connection fails before any byte of the reply, the request is sent once
 * more on a new connection. The engine had closed the idle connection, so it never read
 * the request. */
static int transfer(struct im_engine *e, const char *method, const char *url_path,
                    const char *json_body, long timeout_ms, im_engine_reply_t *reply, char *err,
                    size_t errlen)
{
    int rc = IM_OK;
    char reason[256] = "";
    body_sink_t sink = {.reply = reply, .too_large = false};
    im_wire_handler_t handler = {.on_head = store_status, .on_body = store_body, .ctx = &sink};
    im_wire_request_t request = {
        .method = method, .target = url_path, .host_header = e->host_header, .json_body = json_body};
    im_wire_options_t options = {.deadline_ms = im_monotonic_ms() + timeout_ms};
    im_wire_outcome_t outcome = IM_WIRE_CLOSED_UNANSWERED;
    bool reusable = false;

    atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed);
    for (int attempt = 0; attempt < 2 && outcome == IM_WIRE_CLOSED_UNANSWERED; attempt++) {
        im_wire_conn_t *conn = attempt == 0 ? take_idle_connection(e) : NULL;
        bool pooled = conn != NULL;
        if (!conn) {
            rc = connect_engine(e, &conn, err, errlen);
            if (rc) {
                mark_unreachable(e, err);
                return rc;
            }
        }
        im_buf_reset(&reply->body);
        reply->status = 0;
        outcome = im_wire_exchange(conn, &request, &handler, &options, &reusable, reason,
                                   sizeof(reason));
        release_connection(e, conn, outcome == IM_WIRE_OK && reusable);
        if (!pooled) {
            break; // a fresh connection that failed is not tried again
        }
    }

    if (outcome == IM_WIRE_OK) {
        mark_reachable(e);
        return IM_OK;
    }
    if (sink.too_large) {
        snprintf(err, errlen, "the engine's reply to %s %s is larger than %zu MiB", method,
                 url_path, IM_ENGINE_MAX_BODY / (1024 * 1024));
        return IM_EUPSTREAM;
    }
    rc = describe_exchange_failure(e, outcome, method, url_path, timeout_ms, reason, err, errlen);
    if (rc == IM_EUNAVAILABLE) {
        mark_unreachable(e, err);
    }
    return rc;
}

/* ---- negotiation ------------------------------------------------------------------------- */

static const char *engine_product_name(json_t *version)
{
    json_t *component = NULL;
    size_t index = 0;

    json_array_foreach(json_object_get(version, "Components"), index, component)
    {
        const char *name = json_string_value(json_object_get(component, "Name"));
        if (name && strstr(name, "Podman")) {
            return "Podman Engine";
        }
    }
    const char *platform =
        json_string_value(json_object_get(json_object_get(version, "Platform"), "Name"));
    if (platform && platform[0]) {
        return platform;
    }
    return "Docker Engine";
}

static json_t *summarize_version(json_t *version, const char *api_version)
{
    json_t *info = json_object();

    json_object_set_new(info, "name", json_string(engine_product_name(version)));
    json_object_set(info, "version", json_object_get(version, "Version"));
    json_object_set_new(info, "api_version", json_string(api_version));
    json_object_set(info, "min_api_version", json_object_get(version, "MinAPIVersion"));
    json_object_set(info, "os", json_object_get(version, "Os"));
    json_object_set(info, "arch", json_object_get(version, "Arch"));
    json_object_set(info, "kernel_version", json_object_get(version, "KernelVersion"));

    // json_object_set with a NULL value fails, so absent fields are added as null here.
    const char *keys[] = {"version", "min_api_version", "os", "arch", "kernel_version"};
    for (size_t i = 0; i < IM_ARRAY_LEN(keys); i++) {
        if (!json_object_get(info, keys[i])) {
            json_object_set_new(info, keys[i], json_null());
        }
    }
    return info;
}

/* Picks the version to speak from the engine's range. */
static int choose_version(struct im_engine *e, const char *engine_max, const char *engine_min,
                          char chosen[IM_ENGINE_VERSION_SIZE], char *err, size_t errlen)
{
    if (e->pinned_version[0]) {
        im_strlcpy(chosen, e->pinned_version, IM_ENGINE_VERSION_SIZE);
        return IM_OK;
    }

    const char *pick = engine_max;
    if (im_engine_version_compare(pick, IM_ENGINE_API_MAX) > 0) {
        pick = IM_ENGINE_API_MAX;
    }
    if (engine_min && im_engine_version_compare(pick, engine_min) < 0) {
        // NOTE: an engine whose minimum is newer than IM_ENGINE_API_MAX gets its minimum,
        // a version InfraMon was not written against.
        im_log_warn(LOG_MODULE, "the engine at %s requires API %s or newer, beyond %s",
                    e->address_text, engine_min, IM_ENGINE_API_MAX);
        pick = engine_min;
    }
    if (im_engine_version_compare(pick, IM_ENGINE_API_MIN) < 0) {
        snprintf(err, errlen,
                 "the engine at %s speaks API %s, older than %s, the oldest InfraMon supports",
                 e->address_text, engine_max, IM_ENGINE_API_MIN);
        return IM_EUPSTREAM;
    }
    im_strlcpy(chosen, pick, IM_ENGINE_VERSION_SIZE);
    return IM_OK;
}

static int negotiate(struct im_engine *e, char *err, size_t errlen)
{
    int rc = IM_OK;
    im_engine_reply_t reply;
    json_t *version = NULL;
    char chosen[IM_ENGINE_VERSION_SIZE] = "";
    long major = 0;
    long minor = 0;

    im_engine_reply_init(&reply);
    rc = transfer(e, "GET", "/version", NULL, IM_ENGINE_DEFAULT_TIMEOUT_MS, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    if (reply.status != 200) {
        char message[256];
        im_engine_reply_message(&reply, message, sizeof(message));
        snprintf(err, errlen, "GET /version on the engine at %s returned HTTP %ld: %s",
                 e->address_text, reply.status, message);
        rc = IM_EUPSTREAM;
        goto out;
    }

    version = im_engine_reply_json(&reply);
    const char *engine_max = json_string_value(json_object_get(version, "ApiVersion"));
    const char *engine_min = json_string_value(json_object_get(version, "MinAPIVersion"));
    if (!parse_version(engine_max, &major, &minor)) {
        snprintf(err, errlen, "GET /version on the engine at %s returned no valid ApiVersion",
                 e->address_text);
        rc = IM_EUPSTREAM;
        goto out;
    }
    if (!parse_version(engine_min, &major, &minor)) {
        engine_min = NULL; // engines before API 1.25 do not report a minimum
    }

    rc = choose_version(e, engine_max, engine_min, chosen, err, errlen);
    if (rc) {
        goto out;
    }

    const char *engine_release = json_string_value(json_object_get(version, "Version"));
    json_t *info = summarize_version(version, chosen);
    pthread_mutex_lock(&e->lock);
    im_strlcpy(e->api_version, chosen, sizeof(e->api_version));
    json_decref(e->version_info);
    e->version_info = info; // the engine owns it now
    e->negotiated = true;
    pthread_mutex_unlock(&e->lock);
    im_log_info(LOG_MODULE, "engine at %s: %s %s, using API %s (engine supports %s)",
                e->address_text, engine_product_name(version),
                engine_release ? engine_release : "(unknown version)", chosen, engine_max);

out:
    json_decref(version);
    im_engine_reply_release(&reply);
    return rc;
}

/* Makes sure a version has been negotiated and copies it into version. */
static int ensure_negotiated(struct im_engine *e, char version[IM_ENGINE_VERSION_SIZE], char *err,
                             size_t errlen)
{
    int rc = IM_OK;
    bool done = false;

    pthread_mutex_lock(&e->lock);
    done = e->negotiated;
    im_strlcpy(version, e->api_version, IM_ENGINE_VERSION_SIZE);
    pthread_mutex_unlock(&e->lock);
    if (done) {
        return IM_OK;
    }

    // Threads that arrive during a negotiation wait for it and then use its result.
    pthread_mutex_lock(&e->negotiate_lock);
    pthread_mutex_lock(&e->lock);
    done = e->negotiated;
    pthread_mutex_unlock(&e->lock);
    if (!done) {
        rc = negotiate(e, err, errlen);
    }
    pthread_mutex_lock(&e->lock);
    im_strlcpy(version, e->api_version, IM_ENGINE_VERSION_SIZE);
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_unlock(&e->negotiate_lock);
    return rc;
}

/* Forgets the negotiated version when it is still the one given. */
static void invalidate_version(struct im_engine *e, const char *version)
{
    pthread_mutex_lock(&e->lock);
    if (strcmp(e->api_version, version) == 0) {
        e->negotiated = false;
    }
    pthread_mutex_unlock(&e->lock);
}

/* True when the engine rejected the request's API version as too new, which happens when a
 * newer engine was replaced by an older one without a connection failure in between. */
static bool is_version_rejection(const im_engine_reply_t *reply)
{
    const char *body = reply->body.data;

    return reply->status == 400 && body && strstr(body, "client version") &&
           strstr(body, "is too new");
}

/* ---- requests ---------------------------------------------------------------------------- */

static bool is_valid_method(const char *method)
{
    const char *methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};

    for (size_t i = 0; method && i < IM_ARRAY_LEN(methods); i++) {
        if (strcmp(method, methods[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_valid_path(const char *path)
{
    size_t len = path ? strlen(path) : 0;

    if (len == 0 || len > MAX_PATH_LEN || path[0] != '/') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

int im_engine_request_timeout(struct im_engine *e, const char *method, const char *path,
                              const char *json_body, long timeout_ms, im_engine_reply_t *reply,
                              char *err, size_t errlen)
{
    int rc = IM_OK;
    char version[IM_ENGINE_VERSION_SIZE] = "";

    if (!is_valid_method(method)) {
        snprintf(err, errlen, "invalid engine request method \"%s\"", method ? method : "");
        return IM_EINVAL;
    }
    if (!is_valid_path(path)) {
        snprintf(err, errlen,
                 "invalid engine request path \"%.200s\": it must start with / and "
                 "be URL-encoded",
                 path ? path : "");
        return IM_EINVAL;
    }
    if (timeout_ms <= 0) {
        timeout_ms = IM_ENGINE_DEFAULT_TIMEOUT_MS;
    }

    for (int attempt = 0; attempt < 2; attempt++) {
        rc = ensure_negotiated(e, version, err, errlen);
        if (rc) {
            break;
        }
        char *versioned = im_asprintf("/v%s%s", version, path);
        rc = transfer(e, method, versioned, json_body, timeout_ms, reply, err, errlen);
        free(versioned);
        if (rc || attempt > 0 || e->pinned_version[0] || !is_version_rejection(reply)) {
            break;
        }
        im_log_warn(LOG_MODULE, "the engine at %s rejected API %s; negotiating again",
                    e->address_text, version);
        invalidate_version(e, version);
    }
    return rc;
}

int im_engine_request(struct im_engine *e, const char *method, const char *path,
                      const char *json_body, im_engine_reply_t *reply, char *err, size_t errlen)
{
    return im_engine_request_timeout(e, method, path, json_body, IM_ENGINE_DEFAULT_TIMEOUT_MS,
                                     reply, err, errlen);
}

int im_engine_get_json(struct im_engine *e, const char *path, json_t **out, char *err,
                       size_t errlen)
{
    int rc = IM_OK;
    im_engine_reply_t reply;

    *out = NULL;
    im_engine_reply_init(&reply);
    rc = im_engine_request(e, "GET", path, NULL, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    rc = im_engine_reply_rc(&reply, err, errlen);
    if (rc) {
        goto out;
    }
    *out = im_engine_reply_json(&reply);
    if (!*out) {
        snprintf(err, errlen, "the engine's reply to GET %.200s is not valid JSON", path);
        rc = IM_EUPSTREAM;
    }

out:
    im_engine_reply_release(&reply);
    return rc;
}

int im_engine_ping(struct im_engine *e, char *err, size_t errlen)
{
    int rc = IM_OK;
    im_engine_reply_t reply;

    im_engine_reply_init(&reply);
    rc = transfer(e, "GET", "/_ping", NULL, IM_ENGINE_DEFAULT_TIMEOUT_MS, &reply, err, errlen);
    if (rc) {
        goto out;
    }
    if (reply.status != 200 || !reply.body.data || strcmp(reply.body.data, "OK") != 0) {
        char message[256];
        im_engine_reply_message(&reply, message, sizeof(message));
        snprintf(err, errlen, "GET /_ping on the engine at %s returned HTTP %ld instead of OK%s%s",
                 e->address_text, reply.status, message[0] ? ": " : "", message);
        rc = IM_EUPSTREAM;
    }

out:
    im_engine_reply_release(&reply);
    return rc;
}

int im_engine_version_json(struct im_engine *e, json_t **out, char *err, size_t errlen)
{
    char version[IM_ENGINE_VERSION_SIZE];
    int rc = ensure_negotiated(e, version, err, errlen);

    *out = NULL;
    if (rc) {
        return rc;
    }
    pthread_mutex_lock(&e->lock);
    *out = json_deep_copy(e->version_info);
    pthread_mutex_unlock(&e->lock);
    if (!*out) {
        snprintf(err, errlen, "no version information from the engine at %s", e->address_text);
        return IM_ERR;
    }
    return IM_OK;
}

int im_engine_api_version(struct im_engine *e, char out[IM_ENGINE_VERSION_SIZE], char *err,
                          size_t errlen)
{
    return ensure_negotiated(e, out, err, errlen);
}

int im_engine_connect_stream(struct im_engine *e, const char *path, struct im_wire_conn **conn,
                             char **target, char *err, size_t errlen)
{
    char version[IM_ENGINE_VERSION_SIZE] = "";

    *conn = NULL;
    *target = NULL;
    atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed);
    if (!is_valid_path(path)) {
        snprintf(err, errlen,
                 "invalid engine request path \"%.200s\": it must start with / and "
                 "be URL-encoded",
                 path ? path : "");
        return IM_EINVAL;
    }
    int rc = ensure_negotiated(e, version, err, errlen);
    if (rc) {
        return rc;
    }
    rc = connect_engine(e, conn, err, errlen);
    if (rc) {
        mark_unreachable(e, err);
        return rc;
    }
    *target = im_asprintf("/v%s%s", version, path);
    return IM_OK;
}

const char *im_engine_host_header(const struct im_engine *e)
{
    return e->host_header;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void im_engine_url_escape(im_buf_t *out, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (is_unreserved(*p)) {
            im_buf_append(out, p, 1);
        } else {
            char encoded[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};
            im_buf_append(out, encoded, sizeof(encoded));
        }
    }
    if (!out->data) {
        im_buf_append(out, "", 0);
    }
}

uint64_t im_engine_request_count(struct im_engine *e)
{
    return (uint64_t)atomic_load_explicit(&e->requests, memory_order_relaxed);
}
