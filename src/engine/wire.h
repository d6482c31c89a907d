#ifndef IM_ENGINE_WIRE_H
#define IM_ENGINE_WIRE_H

/*
 * A small HTTP/1.1 client for the Engine API: connections over a unix socket, TCP or TCP
 * with TLS (GnuTLS, see engine/tls.h), request writing and an incremental response parser.
 *
 * InfraMon speaks to exactly one engine, so this covers only what the Engine API needs:
 * Content-Length, chunked and close-delimited bodies, 1xx replies, 101 for hijacked
 * connections and keep-alive. The parser buffers at most IM_WIRE_HEAD_MAX bytes for the
 * header block and IM_WIRE_LINE_MAX for a chunk-size line or the trailers. It hands the body
 * to a callback, whose owner sets its own size limit.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "engine/tls.h"

/* Largest accepted header block (status line, headers and the blank line), in bytes. */
#define IM_WIRE_HEAD_MAX 65536
/* Largest accepted chunk-size line (with extensions) or trailer block, in bytes. */
#define IM_WIRE_LINE_MAX 8192
#define IM_WIRE_CONTENT_TYPE_SIZE 256

/* ---- response parser ------------------------------------------------------------------- */

typedef struct {
    int status;                                   /* 100 to 999 */
    int minor_version;                            /* the x of HTTP/1.x */
    char content_type[IM_WIRE_CONTENT_TYPE_SIZE]; /* empty when absent; truncated if longer */
    bool keep_alive;                              /* the connection may carry another request */
} im_wire_head_t;

typedef struct {
    /* Called once with the final (non-1xx) reply head. Returns 0 to go on, nonzero to stop. */
    int (*on_head)(void *ctx, const im_wire_head_t *head);
    /* Called for each piece of the body as it arrives, after chunk framing is removed.
     * Returns 0 to go on, nonzero to stop. */
    int (*on_body)(void *ctx, const char *data, size_t len);
    void *ctx;
} im_wire_handler_t;

typedef enum {
    IM_WIRE_HEAD,        /* reading a status line and headers */
    IM_WIRE_BODY_LENGTH, /* Content-Length body */
    IM_WIRE_CHUNK_SIZE,  /* chunk-size line */
    IM_WIRE_CHUNK_DATA,
    IM_WIRE_CHUNK_END, /* the CRLF after chunk data */
    IM_WIRE_TRAILERS,
    IM_WIRE_BODY_CLOSE, /* body delimited by the end of the connection */
    IM_WIRE_DONE,
    IM_WIRE_FAILED,
} im_wire_state_t;

typedef struct {
    im_wire_state_t state;
    bool head_request; /* the request was HEAD, so the reply has no body */
    im_wire_head_t head;
    im_buf_t line;      /* the header block, a chunk-size line or the trailers so far */
    uint64_t remaining; /* body or chunk bytes still expected */
    bool stopped;       /* a handler callback returned nonzero */
    char error[160];    /* why the reply was rejected (state IM_WIRE_FAILED) */
} im_wire_parser_t;

/* Prepares a parser for one reply. head_request: the request was HEAD. */
void im_wire_parser_init(im_wire_parser_t *p, bool head_request);
void im_wire_parser_release(im_wire_parser_t *p);

/* Feeds received bytes. Returns the number consumed: all of len unless the reply ended
 * (IM_WIRE_DONE) or failed, or a handler stopped it. After a 101 reply the parser is done at
 * the end of the headers and the bytes left over belong to the upgraded connection.
 * On failure the state is IM_WIRE_FAILED and p->error contains the reason; when a handler stopped the
 * parse, p->stopped is true. */
size_t im_wire_parser_feed(im_wire_parser_t *p, const im_wire_handler_t *handler,
                           const char *data, size_t len);

/* Tells the parser that the connection ended. A close-delimited body is complete then;
 * anywhere else the reply is truncated and the parser fails. Returns true when done. */
bool im_wire_parser_finish(im_wire_parser_t *p);

/* ---- connections ----------------------------------------------------------------------- */

typedef struct im_wire_conn im_wire_conn_t;

/* Where to connect. tls is the certificates of a TLS engine, and NULL means plain TCP. host
 * is a name or an IPv4/IPv6 literal without brackets. */
typedef struct {
    const char *socket_path; /* non-NULL: a unix socket, and host/port are unused */
    const char *host;
    int port;
    const im_tls_creds_t *tls;
} im_wire_target_t;

/* Opens a non-blocking connection, with the TLS handshake when the target has certificates,
 * within timeout_ms. Returns IM_OK, IM_EUNAVAILABLE with "timed out" or the system error
 * (such as "Connection refused") in err, or IM_EDENIED when the TLS handshake or peer
 * verification failed, with the reason in err (see im_tls_connect). */
int im_wire_connect(const im_wire_target_t *target, long timeout_ms, im_wire_conn_t **out,
                    char *err, size_t errlen) IM_WARN_UNUSED;

void im_wire_close(im_wire_conn_t *c);
int im_wire_fd(const im_wire_conn_t *c);

/* Reads without blocking. Returns the byte count, 0 at the end of the stream, or -1 with
 * errno EAGAIN when nothing is there (im_wire_poll_events returns what to wait for), or -1 with
 * another errno on failure. */
long im_wire_recv(im_wire_conn_t *c, void *buf, size_t len);

/* Writes without blocking, like im_wire_recv. */
long im_wire_send(im_wire_conn_t *c, const void *buf, size_t len);

/* Returns the poll events that the last EAGAIN waits for (TLS may need to write in order to
 * read), or POLLIN when nothing is pending. */
short im_wire_poll_events(const im_wire_conn_t *c);

/* Returns true when the connection is idle and still open: the peer has neither closed it
 * nor sent unexpected bytes. */
bool im_wire_is_idle_open(im_wire_conn_t *c);

/* Waits up to timeout_ms (-1: no limit) for the connection to be ready for events.
 * Returns >0 when ready, 0 on timeout, -1 on error. Data buffered by TLS counts as ready. */
int im_wire_wait(im_wire_conn_t *c, short events, long timeout_ms);

/* Writes all of data within timeout_ms. Returns IM_OK or IM_EUNAVAILABLE with errno set
 * (ETIMEDOUT when the time ran out). */
int im_wire_send_all(im_wire_conn_t *c, const void *data, size_t len, long timeout_ms);

/* ---- one exchange ---------------------------------------------------------------------- */

typedef struct {
    const char *method;
    const char *target;      /* origin-form request target: "/v1.45/containers/json" */
    const char *host_header; /* the Host header's value */
    const char *json_body;   /* NULL: no body */
    bool upgrade;            /* ask to hijack the connection (Upgrade: tcp) */
} im_wire_request_t;

/* Outcome of im_wire_exchange. */
typedef enum {
    IM_WIRE_OK,               /* a whole reply was parsed */
    IM_WIRE_STOPPED,          /* a handler or on_idle asked to stop */
    IM_WIRE_CLOSED_UNANSWERED, /* the connection failed before any byte of the reply */
    IM_WIRE_CLOSED,           /* the connection failed in the middle of the reply */
    IM_WIRE_TIMEOUT,          /* the deadline passed */
    IM_WIRE_MALFORMED,        /* the reply is not valid HTTP/1.x */
} im_wire_outcome_t;

typedef struct {
    /* Called about once a second while waiting for the engine. Returns 0 to go on, nonzero
     * to stop. May be NULL. */
    int (*on_idle)(void *ctx);
    void *ctx;
    int64_t deadline_ms; /* im_monotonic_ms() value after which to give up; 0: none */
    im_buf_t *leftover;  /* when set, bytes after a 101 reply's headers are appended here */
} im_wire_options_t;

/* Appends the request's bytes to out: request line, Host, User-Agent, Content-Type and
 * Content-Length when there is a body (Content-Length: 0 for POST and PUT without one). */
void im_wire_format_request(const im_wire_request_t *req, im_buf_t *out);

/* Sends the request on the connection and parses the reply into the handler. err gets a
 * short description of a failure (without the engine's address). *reusable is set to true
 * when the connection can carry another request. */
im_wire_outcome_t im_wire_exchange(im_wire_conn_t *c, const im_wire_request_t *req,
                                   const im_wire_handler_t *handler,
                                   const im_wire_options_t *opts, bool *reusable, char *err,
                                   size_t errlen);

#endif
