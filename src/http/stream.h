#ifndef IM_HTTP_STREAM_H
#define IM_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/*
 * Streaming responses (Server-Sent Events, chunked downloads) whose data comes from a
 * producer on another thread.
 *
 * The response is a libmicrohttpd callback response of unknown size. When its queue is
 * empty, the reader suspends the connection and returns, so a waiting stream occupies no HTTP
 * worker thread; the producer's next write resumes it. The queue has a byte cap: with
 * IM_HTTP_STREAM_DROP_OLDEST the oldest whole writes are dropped and a marker takes their
 * place, with IM_HTTP_STREAM_BLOCK the producer waits until the client has read enough.
 *
 * A stream has two owners: the response, released when libmicrohttpd frees it (the client
 * left or the stream ended), and the producer, released with im_http_stream_release().
 * Every function here is thread-safe.
 */

typedef struct im_http_stream im_http_stream_t;

typedef enum {
    IM_HTTP_STREAM_DROP_OLDEST,
    IM_HTTP_STREAM_BLOCK,
} im_http_stream_policy_t;

typedef struct {
    const char *content_type;
    im_http_stream_policy_t policy;
    size_t max_queued; /* bytes; 0 means 1 MiB */
    /* DROP_OLDEST: writes the marker that replaces dropped writes into buf and returns its
     * length. NULL: no marker. */
    size_t (*format_drop_marker)(char *buf, size_t size, uint64_t dropped);
    /* Called once, on an HTTP thread and under the stream's lock, when the client has gone
     * or the server stops; the producer should stop soon after. It is not called after the
     * producer's im_http_stream_release(). May be NULL. Must not call into this stream. */
    void (*on_closed)(void *ctx);
    void *ctx;
} im_http_stream_options_t;

/* Prepares a 200 streaming response for req (add headers with im_resp_header() before or
 * after). Returns the stream with the producer's reference; the producer must eventually
 * call im_http_stream_end() and im_http_stream_release(). */
im_http_stream_t *im_http_stream_respond(im_request_t *req, const im_http_stream_options_t *opts);

/* Queues data for the client. Returns IM_OK, or IM_ECONFLICT when the client has gone or
 * the server is stopping (the producer should stop). With IM_HTTP_STREAM_BLOCK it waits
 * while the queue is full. A write larger than the cap is queued whole. */
int im_http_stream_write(im_http_stream_t *s, const void *data, size_t len);

/* Returns true while the client is connected and the server is not stopping. */
bool im_http_stream_is_open(im_http_stream_t *s);

/* Returns the milliseconds since the last write (for keepalive comments). */
int64_t im_http_stream_idle_ms(im_http_stream_t *s);

/* Marks the end of the data: the response finishes once the client has read the queue. */
void im_http_stream_end(im_http_stream_t *s);

/* Drops the producer's reference. */
void im_http_stream_release(im_http_stream_t *s);

/* ---- for the server ---------------------------------------------------------------------- */

struct im_http_server;
typedef struct im_http_streams im_http_streams_t;

im_http_streams_t *im_http_streams_new(void);
/* Ends every open stream (resuming the suspended ones, as libmicrohttpd requires before
 * MHD_stop_daemon) and waits up to timeout_ms for producers and responses to let go. */
void im_http_streams_shutdown(im_http_streams_t *streams, long timeout_ms);
void im_http_streams_free(im_http_streams_t *streams);

#endif
