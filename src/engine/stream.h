#ifndef IM_ENGINE_STREAM_H
#define IM_ENGINE_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

struct im_engine;

/*
 * Streaming Engine API requests: the body is handed to a callback as it arrives instead of
 * being collected, for log follows, downloads and exec output. A stream runs either on the
 * calling thread (im_engine_stream_run) or on a thread of its own (im_engine_stream_start).
 *
 * Each stream has a connection of its own, because a follow can stay open for hours and
 * must not take a connection from the request pool.
 *
 * Hijacked connections (exec start with stdin attached) are opened with
 * im_engine_hijack_open: the engine responds with 101 UPGRADED, and then raw bytes flow both
 * ways on the socket.
 */

typedef struct {
    /* Called once before the first on_data with the HTTP status and Content-Type (NULL when
     * the engine sent none). Data of a non-2xx reply is not passed to on_data: it becomes
     * the error message. Returns 0 to go on, nonzero to stop. May be NULL. */
    int (*on_response)(void *ctx, long status, const char *content_type);
    /* Called for each piece of a 2xx body. May block (that pauses reading from the engine).
     * Returns 0 to go on, nonzero to stop. */
    int (*on_data)(void *ctx, const char *data, size_t len);
    /* Called about once a second while the transfer runs, data or not. Returns 0 to go on,
     * nonzero to stop. May be NULL. */
    int (*on_idle)(void *ctx);
    /* im_engine_stream_start only: called once on the stream's thread when it ends, as its
     * last use of the engine. rc is as im_engine_stream_run returns, err its message. */
    void (*on_end)(void *ctx, int rc, const char *err);
    void *ctx;
} im_engine_stream_callbacks_t;

/* Sends one request and streams the reply body to the callbacks on the calling thread.
 * timeout_ms 0 means no total time limit. json_body may be NULL.
 * Returns IM_OK when the engine sent a 2xx reply and it ended, IM_ECONFLICT when a callback
 * stopped the stream, IM_EUPSTREAM with "timed out" in err when the time limit passed, the
 * status mapped by im_engine_reply_rc() for a non-2xx reply (err holds the engine's
 * message), or IM_EUNAVAILABLE when the engine cannot be reached. */
int im_engine_stream_run(struct im_engine *e, const char *method, const char *path,
                         const char *json_body, long timeout_ms,
                         const im_engine_stream_callbacks_t *cb, char *err,
                         size_t errlen) IM_WARN_UNUSED;

/* Runs im_engine_stream_run on a new detached thread and then calls cb->on_end. Nothing
 * refers to the stream after on_end returns, so the owner of ctx frees it there or later.
 * Returns IM_ERR (with a message) when the thread cannot be created; on_end is not called
 * then. */
int im_engine_stream_start(struct im_engine *e, const char *method, const char *path,
                           const char *json_body, long timeout_ms,
                           const im_engine_stream_callbacks_t *cb, char *err,
                           size_t errlen) IM_WARN_UNUSED;

/* A hijacked connection to the engine. */
typedef struct im_engine_hijack im_engine_hijack_t;

/* Sends method path with json_body on a connection of its own and expects 101 Switching
 * Protocols (or 200 from engines that hijack without upgrading). Returns IM_OK with the open
 * connection in *out, or the engine's error (mapped like im_engine_reply_rc()). Bytes that
 * arrived right after the reply headers are kept and returned by the first
 * im_engine_hijack_recv. */
int im_engine_hijack_open(struct im_engine *e, const char *method, const char *path,
                          const char *json_body, im_engine_hijack_t **out, char *err,
                          size_t errlen) IM_WARN_UNUSED;

/* Returns the socket to poll for reading.
 * Over TLS, bytes that GnuTLS has already read do not make the socket readable. GnuTLS 3.7
 * reads the socket one record (at most 16 KiB) at a time and returns at most one record per
 * read, so a reader whose buffer is 16 KiB or larger leaves nothing behind. A reader with a
 * smaller buffer must call im_engine_hijack_recv until it returns EAGAIN before polling. */
int im_engine_hijack_fd(const im_engine_hijack_t *h);

/* Reads without blocking. Returns the byte count, 0 at end of stream, -1 with errno EAGAIN
 * when nothing is there, or -1 on another error. */
long im_engine_hijack_recv(im_engine_hijack_t *h, void *buf, size_t len);

/* Writes all of data, waiting up to timeout_ms for the socket to accept it. Returns IM_OK,
 * or IM_EUNAVAILABLE when the connection failed or stayed full. */
int im_engine_hijack_send(im_engine_hijack_t *h, const void *data, size_t len, long timeout_ms);

/* Writes what the socket takes now without blocking. Returns the byte count, -1 with errno
 * EAGAIN when the socket is full, or -1 on another error. Over TLS, a call after EAGAIN must
 * start with the same bytes, since GnuTLS has already taken a record of them. */
long im_engine_hijack_send_some(im_engine_hijack_t *h, const void *data, size_t len);

/* Closes the connection and frees it. NULL is allowed. */
void im_engine_hijack_close(im_engine_hijack_t *h);

#endif
