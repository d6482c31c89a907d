/* Streaming responses over libmicrohttpd callback responses with suspend and resume. */
#include "http/stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "http/http-internal.h"

#define DEFAULT_MAX_QUEUED ((size_t)1024 * 1024)
#define BLOCK_SIZE         (32 * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t len;
    char data[];
} chunk_t;

struct im_http_streams {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    im_http_stream_t *first;
    size_t count;
    bool stopping;
};

struct im_http_stream {
    pthread_mutex_t lock; /* guards everything below except the list links */
    pthread_cond_t space;
    int refs;
    struct MHD_Connection *conn;
    im_http_streams_t *registry;
    im_http_stream_t *prev; /* registry list, guarded by the registry's lock */
    im_http_stream_t *next;
    im_http_stream_options_t opts;
    bool suspended;
    bool closed; /* the client has gone or the server is stopping */
    bool ended;  /* the producer has no more data */
    bool closed_notified;
    chunk_t *head;
    chunk_t *tail;
    size_t head_pos; /* bytes of head already sent */
    size_t queued;
    uint64_t dropped;
    int64_t last_write_ms;
};

/* Resumes a suspended connection. Called with s->lock held and never after the response
 * was freed, because the free callback sets closed under the same lock. */
static void wake_reader(im_http_stream_t *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static void free_stream(im_http_stream_t *s)
{
    im_http_streams_t *registry = s->registry;

    pthread_mutex_lock(&registry->lock);
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        registry->first = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    registry->count--;
    pthread_cond_broadcast(&registry->changed);
    pthread_mutex_unlock(&registry->lock);

    while (s->head) {
        chunk_t *next = s->head->next;
        free(s->head);
        s->head = next;
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->space);
    free(s);
}

static void unref(im_http_stream_t *s)
{
    pthread_mutex_lock(&s->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last) {
        free_stream(s);
    }
}

/* Marks the stream closed and tells the producer once. Called with s->lock held: the
 * callback runs under it, so a producer that releases the stream concurrently (and clears
 * the callback under the same lock) can free its context safely. */
static void close_stream_locked(im_http_stream_t *s)
{
    s->closed = true;
    pthread_cond_broadcast(&s->space);
    if (!s->closed_notified && s->opts.on_closed) {
        s->opts.on_closed(s->opts.ctx);
    }
    s->closed_notified = true;
}

static ssize_t read_queue(void *cls, uint64_t pos, char *buf, size_t max)
{
    im_http_stream_t *s = cls;
    size_t n = 0;

    pthread_mutex_lock(&s->lock);
    if (s->closed && !s->ended) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s->dropped && s->head_pos == 0 && s->opts.format_drop_marker) {
        n = s->opts.format_drop_marker(buf, max, s->dropped);
        s->dropped = 0;
    }
    while (s->head && n < max) {
        chunk_t *c = s->head;
        size_t take = c->len - s->head_pos;
        take = take < max - n ? take : max - n;
        memcpy(buf + n, c->data + s->head_pos, take);
        n += take;
        s->head_pos += take;
        if (s->head_pos == c->len) {
            s->head = c->next;
            if (!s->head) {
                s->tail = NULL;
            }
            s->queued -= c->len;
            s->head_pos = 0;
            free(c);
        }
    }
    if (n > 0) {
        /* A blocked producer is woken once the queue is down to half, not after every
         * block sent. Waking it for each 32 KiB made the two threads take turns for every
         * block of a download. */
        if (s->queued <= s->opts.max_queued / 2) {
            pthread_cond_broadcast(&s->space);
        }
        pthread_mutex_unlock(&s->lock);
        return (ssize_t)n;
    }
    if (s->ended) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    // Nothing to send: park the connection until the producer writes. Returning 0 without
    // suspending would make libmicrohttpd call again at once and spin a core.
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void response_freed(void *cls)
{
    im_http_stream_t *s = cls;

    pthread_mutex_lock(&s->lock);
    s->conn = NULL; // the connection may be gone: never resume it again
    s->suspended = false;
    close_stream_locked(s);
    pthread_mutex_unlock(&s->lock);
    unref(s);
}

im_http_stream_t *im_http_stream_respond(im_request_t *req, const im_http_stream_options_t *opts)
{
    im_http_stream_t *s = im_calloc(1, sizeof(*s));
    im_http_streams_t *registry = req->server->streams;

    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->space, NULL);
    s->refs = 2; // the response and the producer
    s->conn = req->conn;
    s->registry = registry;
    s->opts = *opts;
    if (s->opts.max_queued == 0) {
        s->opts.max_queued = DEFAULT_MAX_QUEUED;
    }
    s->last_write_ms = im_monotonic_ms();

    pthread_mutex_lock(&registry->lock);
    s->next = registry->first;
    if (s->next) {
        s->next->prev = s;
    }
    registry->first = s;
    registry->count++;
    if (registry->stopping) {
        s->closed = true;
    }
    pthread_mutex_unlock(&registry->lock);

    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE,
                                                                  read_queue, s, response_freed);
    if (opts->content_type) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, opts->content_type);
    }
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    req->response = resp;
    req->status = 200;
    req->response_bytes = 0;
    return s;
}

int im_http_stream_write(im_http_stream_t *s, const void *data, size_t len)
{
    int rc = IM_OK;

    pthread_mutex_lock(&s->lock);
    if (s->opts.policy == IM_HTTP_STREAM_BLOCK) {
        while (!s->closed && s->queued > 0 && s->queued + len > s->opts.max_queued) {
            pthread_cond_wait(&s->space, &s->lock);
        }
    } else {
        // Drop whole writes from the front, never the one being sent.
        while (s->head && s->queued + len > s->opts.max_queued) {
            chunk_t *victim = s->head_pos ? s->head->next : s->head;
            if (!victim) {
                break;
            }
            if (victim == s->head) {
                s->head = victim->next;
            } else {
                s->head->next = victim->next;
            }
            if (s->tail == victim) {
                // The victim was last: the list is empty, or only the head being sent is left.
                s->tail = s->head_pos ? s->head : NULL;
            }
            s->queued -= victim->len;
            s->dropped++;
            free(victim);
        }
    }
    if (s->closed || s->ended) {
        rc = IM_ECONFLICT;
        goto out;
    }
    chunk_t *c = im_malloc(sizeof(*c) + len);
    c->next = NULL;
    c->len = len;
    memcpy(c->data, data, len);
    if (s->tail) {
        s->tail->next = c;
    } else {
        s->head = c;
    }
    s->tail = c;
    s->queued += len;
    s->last_write_ms = im_monotonic_ms();
    wake_reader(s);

out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool im_http_stream_is_open(im_http_stream_t *s)
{
    pthread_mutex_lock(&s->lock);
    bool open = !s->closed;
    pthread_mutex_unlock(&s->lock);
    return open;
}

int64_t im_http_stream_idle_ms(im_http_stream_t *s)
{
    pthread_mutex_lock(&s->lock);
    int64_t idle = im_monotonic_ms() - s->last_write_ms;
    pthread_mutex_unlock(&s->lock);
    return idle;
}

void im_http_stream_end(im_http_stream_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    wake_reader(s);
    pthread_mutex_unlock(&s->lock);
}

void im_http_stream_release(im_http_stream_t *s)
{
    if (!s) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->opts.on_closed = NULL; // the producer's context may be freed from now on
    pthread_mutex_unlock(&s->lock);
    unref(s);
}

/* ---- registry ---------------------------------------------------------------------------- */

im_http_streams_t *im_http_streams_new(void)
{
    im_http_streams_t *streams = im_calloc(1, sizeof(*streams));

    pthread_mutex_init(&streams->lock, NULL);
    pthread_cond_init(&streams->changed, NULL);
    return streams;
}

void im_http_streams_shutdown(im_http_streams_t *streams, long timeout_ms)
{
    struct timespec deadline;

    pthread_mutex_lock(&streams->lock);
    streams->stopping = true;
    for (im_http_stream_t *s = streams->first; s; s = s->next) {
        pthread_mutex_lock(&s->lock);
        s->ended = true;
        close_stream_locked(s);
        wake_reader(s);
        pthread_mutex_unlock(&s->lock);
    }
    if (streams->count) {
        im_log_info("http", "ending %zu open streams", streams->count);
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (streams->count > 0) {
        if (pthread_cond_timedwait(&streams->changed, &streams->lock, &deadline) != 0) {
            im_log_warn("http", "%zu streams still open after %ld ms, stopping anyway",
                        streams->count, timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&streams->lock);
}

void im_http_streams_free(im_http_streams_t *streams)
{
    if (!streams) {
        return;
    }
    // NOTE: a stream still registered here (a producer that ignored the shutdown) leaks
    // rather than being freed under its producer.
    pthread_mutex_destroy(&streams->lock);
    pthread_cond_destroy(&streams->changed);
    free(streams);
}
