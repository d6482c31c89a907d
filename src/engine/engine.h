#ifndef IM_ENGINE_ENGINE_H
#define IM_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util.h"

/*
 * Docker Engine API client over InfraMon's own HTTP/1.1 client (engine/wire.h).
 *
 * One `struct im_engine` serves the whole process. Every function below is thread-safe:
 * requests take a connection from a small mutex-guarded pool, so HTTP threads and the
 * collector can call concurrently, and a connection stays open between requests while the
 * engine's replies allow keep-alive.
 *
 * The API version is negotiated lazily: the first request, and the first one after the
 * engine was unreachable, sends GET /version (unversioned) and picks the lower of the
 * engine's ApiVersion and IM_ENGINE_API_MAX, but never below the engine's MinAPIVersion.
 * A DOCKER_API_VERSION pin replaces the negotiated value.
 */

#define IM_ENGINE_DEFAULT_HOST "unix:///var/run/docker.sock"
/* Newest Engine API version InfraMon speaks, and the oldest it accepts (container prune,
 * used by DELETE /containers, appeared in 1.25). */
#define IM_ENGINE_API_MAX "1.45"
#define IM_ENGINE_API_MIN "1.25"

#define IM_ENGINE_CONNECT_TIMEOUT_MS 3000
#define IM_ENGINE_DEFAULT_TIMEOUT_MS 30000
/* Engine response bodies larger than this are rejected with IM_EUPSTREAM. */
#define IM_ENGINE_MAX_BODY ((size_t)64 * 1024 * 1024)
/* Idle connections kept for reuse; a busier moment opens more and closes the surplus. */
#define IM_ENGINE_POOL_SIZE 8

/* sizeof(struct sockaddr_un.sun_path) on Linux, NUL included. */
#define IM_ENGINE_SOCKET_PATH_SIZE 108
#define IM_ENGINE_HOSTNAME_SIZE    256
#define IM_ENGINE_VERSION_SIZE     16

struct im_engine;

typedef struct {
    const char *docker_host; /* unix:///path or tcp://host[:port]; NULL or "": the default */
    bool tls_verify;         /* DOCKER_TLS_VERIFY: https with the certificates below (tcp only) */
    const char *cert_path;   /* DOCKER_CERT_PATH with ca.pem, cert.pem and key.pem; NULL or
                                "": $HOME/.docker, as the docker CLI reads it */
    const char *api_version; /* DOCKER_API_VERSION pin such as "1.41"; NULL or "": negotiate */
} im_engine_options_t;

/* A parsed DOCKER_HOST. */
typedef struct {
    bool is_unix;
    char socket_path[IM_ENGINE_SOCKET_PATH_SIZE]; /* unix only */
    char host[IM_ENGINE_HOSTNAME_SIZE];           /* tcp only, IPv6 without brackets */
    int port;                                     /* tcp only */
} im_engine_address_t;

/* The engine's reply to one request: the HTTP status and the body (NUL-terminated). */
typedef struct {
    long status;
    im_buf_t body;
} im_engine_reply_t;

/* Parses a DOCKER_HOST value. Accepts unix:///absolute/path (at most 107 bytes) and
 * tcp://host[:port] with a hostname, an IPv4 address or a bracketed IPv6 address. As in the
 * docker CLI, a tcp address without a port gets 2376 when tls is true and 2375 otherwise.
 * NULL or "" means IM_ENGINE_DEFAULT_HOST. Anything else returns IM_EINVAL with a message
 * naming the value and the accepted forms. */
int im_engine_parse_host(const char *docker_host, bool tls, im_engine_address_t *out, char *err,
                         size_t errlen) IM_WARN_UNUSED;

/* Creates a client from the options without connecting yet. Returns IM_EINVAL with a
 * message naming the variable when DOCKER_HOST, DOCKER_API_VERSION or a TLS file is
 * invalid or unreadable. The caller frees the client with im_engine_close(). */
int im_engine_open(const im_engine_options_t *opts, struct im_engine **out, char *err,
                   size_t errlen) IM_WARN_UNUSED;

/* Frees the client and its pooled handles. No request may be in flight. */
void im_engine_close(struct im_engine *e);

/* Returns the configured address as text ("unix:///var/run/docker.sock"). */
const char *im_engine_address(const struct im_engine *e);

/* Returns the number of engine requests and streams started since the client opened,
 * failed ones included. */
uint64_t im_engine_request_count(struct im_engine *e);

void im_engine_reply_init(im_engine_reply_t *reply);
void im_engine_reply_release(im_engine_reply_t *reply);

/* Sends one request with the default timeout (IM_ENGINE_DEFAULT_TIMEOUT_MS).
 * method is GET, HEAD, POST, PUT or DELETE. path is unversioned and already URL-encoded
 * ("/containers/json?all=1"); the negotiated "/v1.NN" prefix is added here. json_body may
 * be NULL; when set it is sent as application/json.
 * Returns IM_OK whenever the engine sent a response, whatever its HTTP status (see
 * reply->status).
 * Returns IM_EUNAVAILABLE when the engine cannot be reached, with a message naming the
 * socket path or address that was tried; IM_EUPSTREAM when it timed out after connecting,
 * sent an oversized body or an unusable /version; IM_EINVAL for a malformed method or path.
 * The reply's previous body is discarded first. */
int im_engine_request(struct im_engine *e, const char *method, const char *path,
                      const char *json_body, im_engine_reply_t *reply, char *err,
                      size_t errlen) IM_WARN_UNUSED;

/* Same as im_engine_request() with a total timeout in milliseconds instead of the default
 * (used by stop and restart, which wait for the container). */
int im_engine_request_timeout(struct im_engine *e, const char *method, const char *path,
                              const char *json_body, long timeout_ms, im_engine_reply_t *reply,
                              char *err, size_t errlen) IM_WARN_UNUSED;

/* Sends GET path and parses a 2xx JSON reply into *out (a new reference). A non-2xx reply
 * is mapped with im_engine_reply_rc(). */
int im_engine_get_json(struct im_engine *e, const char *path, json_t **out, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Maps a reply's HTTP status to a status code: 2xx IM_OK, 304 and 409 IM_ECONFLICT, 404
 * IM_ENOTFOUND, other 4xx IM_EINVAL, anything else IM_EUPSTREAM. Unless the status is 2xx,
 * the engine's message (the "message" field of its JSON error, or the body's text) is
 * copied into err. */
int im_engine_reply_rc(const im_engine_reply_t *reply, char *err, size_t errlen);

/* Copies the engine's error message out of a reply body into out (empty when none). */
void im_engine_reply_message(const im_engine_reply_t *reply, char *out, size_t outlen);

/* Parses the reply body as JSON; returns a new reference or NULL when it is not JSON. */
json_t *im_engine_reply_json(const im_engine_reply_t *reply);

/* Sends GET /_ping. Returns IM_OK when the engine replies "OK", IM_EUNAVAILABLE when it
 * cannot be reached, and IM_EUPSTREAM for any other response. */
int im_engine_ping(struct im_engine *e, char *err, size_t errlen) IM_WARN_UNUSED;

/* Returns {name, version, api_version, min_api_version, os, arch, kernel_version} of the
 * engine (a new reference), negotiating first when needed. api_version is the version
 * InfraMon uses. */
int im_engine_version_json(struct im_engine *e, json_t **out, char *err,
                           size_t errlen) IM_WARN_UNUSED;

/* Copies the API version in use into out ("1.41"), negotiating first when needed. */
int im_engine_api_version(struct im_engine *e, char out[IM_ENGINE_VERSION_SIZE], char *err,
                          size_t errlen) IM_WARN_UNUSED;

/* Compares two "MAJOR.MINOR" API versions like strcmp; an unparsable one sorts first. */
int im_engine_version_compare(const char *a, const char *b);

struct im_wire_conn;

/* Opens a connection of its own for a request that the caller runs itself, such as a stream
 * or a hijack. Checks the path, negotiates the API version when needed and connects (unix
 * socket, TCP or TLS) within IM_ENGINE_CONNECT_TIMEOUT_MS. Stores the versioned request
 * target of path in *target. The caller closes *conn with im_wire_close() and frees
 * *target. Returns IM_EINVAL for an invalid path, IM_EUNAVAILABLE with a message naming the
 * socket or address when the engine cannot be reached, or the negotiation's failure. */
int im_engine_connect_stream(struct im_engine *e, const char *path, struct im_wire_conn **conn,
                             char **target, char *err, size_t errlen) IM_WARN_UNUSED;

/* Returns the Host header value for requests to the engine. */
const char *im_engine_host_header(const struct im_engine *e);

/* Appends value to out percent-encoded for a URL query or path segment: everything except
 * the RFC 3986 unreserved characters is encoded. */
void im_engine_url_escape(im_buf_t *out, const char *value);

#endif
