#include "collect/events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/stream.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000
/* One event object is a few hundred bytes; a line past this is dropped as corrupt. */
#define LINE_MAX_BYTES (1024 * 1024)

typedef struct {
    im_events_fn callback;
    void *ctx;
} subscriber_t;

struct im_events {
    struct im_engine *engine;

    pthread_t thread;
    atomic_bool stopping;
    atomic_bool connected;

    /* Held while calling subscribers, so unsubscribe waits for a running callback. */
    pthread_mutex_t lock;
    subscriber_t subscribers[IM_EVENTS_MAX_SUBSCRIBERS];
    size_t subscriber_count;
    char last_error[512];

    im_buf_t line; /* events thread only: bytes of the event being received */
};

static void notify(im_events_t *events, int status, json_t *event)
{
    pthread_mutex_lock(&events->lock);
    for (size_t i = 0; i < events->subscriber_count; i++) {
        events->subscribers[i].callback(events->subscribers[i].ctx, status, event);
    }
    pthread_mutex_unlock(&events->lock);
}

static void set_error(im_events_t *events, const char *message)
{
    pthread_mutex_lock(&events->lock);
    im_strlcpy(events->last_error, message, sizeof(events->last_error));
    pthread_mutex_unlock(&events->lock);
}

/* Parses each complete line of the stream; the engine writes one JSON object per line. */
static void parse_lines(im_events_t *events)
{
    char *start = events->line.data;
    char *newline = NULL;

    while (
        (newline = memchr(start, '\n', events->line.len - (size_t)(start - events->line.data)))) {
        *newline = '\0';
        json_error_t error;
        json_t *event = json_loads(start, JSON_REJECT_DUPLICATES, &error);
        if (event && json_is_object(event)) {
            notify(events, IM_OK, event);
        } else if (start[0] != '\0' && start[0] != '\r') {
            im_log_warn("events", "skipping an engine event that is not JSON: %s", error.text);
        }
        json_decref(event);
        start = newline + 1;
    }
    size_t rest = events->line.len - (size_t)(start - events->line.data);
    memmove(events->line.data, start, rest);
    events->line.len = rest;
    events->line.data[rest] = '\0';
}

static void mark_connected(im_events_t *events)
{
    if (!atomic_load(&events->connected)) {
        atomic_store(&events->connected, true);
        notify(events, IM_OK, NULL);
    }
}

/* The engine sends no bytes until the first event, so a successful reply head marks the
 * stream as open. */
static int on_response(void *ctx, long status, const char *content_type)
{
    if (status >= 200 && status < 300) {
        mark_connected(ctx);
    }
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    im_events_t *events = ctx;

    mark_connected(events);
    if (events->line.len + len > LINE_MAX_BYTES) {
        im_log_warn("events", "dropping %zu bytes of the events stream without a line break",
                    events->line.len);
        im_buf_reset(&events->line);
    }
    im_buf_append(&events->line, data, len);
    parse_lines(events);
    return 0;
}

/* Ends the stream within about a second of a stop request: the stream calls this at least
 * once per second even when no data flows. */
static int on_idle(void *ctx)
{
    im_events_t *events = ctx;

    return atomic_load(&events->stopping) ? 1 : 0;
}

/* Runs one streaming request until it ends; returns a message in err. */
static void stream_once(im_events_t *events, char *err, size_t errlen)
{
    /* filters={"type":["container"]}, percent-encoded. */
    static const char *const path = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";
    char message[512] = "";
    im_engine_stream_callbacks_t callbacks = {
        .on_response = on_response, .on_data = on_data, .on_idle = on_idle, .ctx = events};

    im_buf_reset(&events->line);
    int rc = im_engine_stream_run(events->engine, "GET", path, NULL, 0, &callbacks, message,
                                  sizeof(message));
    if (atomic_load(&events->stopping)) {
        snprintf(err, errlen, "stopped");
    } else if (rc == IM_OK) {
        snprintf(err, errlen, "the engine at %s closed the events stream",
                 im_engine_address(events->engine));
    } else {
        snprintf(err, errlen, "the events stream failed: %s", message);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void *events_main(void *arg)
{
    im_events_t *events = arg;
    int backoff_ms = BACKOFF_MIN_MS;
    char err[512];

    while (!atomic_load(&events->stopping)) {
        err[0] = '\0';
        int64_t started = im_monotonic_ms();
        stream_once(events, err, sizeof(err));
        if (atomic_load(&events->stopping)) {
            break;
        }
        bool was_connected = atomic_exchange(&events->connected, false);
        set_error(events, err);
        notify(events, IM_EUNAVAILABLE, NULL);
        if (was_connected) {
            im_log_warn("events", "%s; reconnecting", err);
        }
        /* A stream that lasted a while resets the backoff. */
        if (im_monotonic_ms() - started > BACKOFF_MAX_MS) {
            backoff_ms = BACKOFF_MIN_MS;
        }
        for (int waited = 0; waited < backoff_ms && !atomic_load(&events->stopping);
             waited += 100) {
            sleep_ms(100);
        }
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
    return NULL;
}

int im_events_start(const im_events_options_t *opts, im_events_t **out, char *err, size_t errlen)
{
    im_events_t *events = im_calloc(1, sizeof(*events));
    im_engine_address_t address;
    // The stream goes through opts->engine; parsing here only rejects an invalid DOCKER_HOST.
    int rc = im_engine_parse_host(opts->docker_host, opts->tls_verify, &address, err, errlen);

    *out = NULL;
    if (rc) {
        goto out;
    }
    events->engine = opts->engine;
    im_buf_init(&events->line);
    atomic_init(&events->stopping, false);
    atomic_init(&events->connected, false);
    pthread_mutex_init(&events->lock, NULL);
    snprintf(events->last_error, sizeof(events->last_error),
             "the events stream has not connected yet");
    int prc = pthread_create(&events->thread, NULL, events_main, events);
    if (prc != 0) {
        snprintf(err, errlen, "cannot start the events thread: %s", strerror(prc));
        pthread_mutex_destroy(&events->lock);
        im_buf_release(&events->line);
        rc = IM_ERR;
        goto out;
    }
    *out = events;
    events = NULL;

out:
    free(events);
    return rc;
}

void im_events_stop(im_events_t *events)
{
    if (!events) {
        return;
    }
    atomic_store(&events->stopping, true);
    pthread_join(events->thread, NULL);
    pthread_mutex_destroy(&events->lock);
    im_buf_release(&events->line);
    free(events);
}

int im_events_subscribe(im_events_t *events, im_events_fn callback, void *ctx)
{
    int rc = IM_OK;

    pthread_mutex_lock(&events->lock);
    if (events->subscriber_count == IM_EVENTS_MAX_SUBSCRIBERS) {
        rc = IM_ECONFLICT;
    } else {
        events->subscribers[events->subscriber_count++] = (subscriber_t){callback, ctx};
        if (atomic_load(&events->connected)) {
            callback(ctx, IM_OK, NULL);
        }
    }
    pthread_mutex_unlock(&events->lock);
    return rc;
}

void im_events_unsubscribe(im_events_t *events, im_events_fn callback, void *ctx)
{
    pthread_mutex_lock(&events->lock);
    for (size_t i = 0; i < events->subscriber_count; i++) {
        if (events->subscribers[i].callback == callback && events->subscribers[i].ctx == ctx) {
            events->subscribers[i] = events->subscribers[--events->subscriber_count];
            break;
        }
    }
    pthread_mutex_unlock(&events->lock);
}

bool im_events_connected(im_events_t *events, char *err, size_t errlen)
{
    bool connected = atomic_load(&events->connected);
    if (!connected && err) {
        pthread_mutex_lock(&events->lock);
        im_strlcpy(err, events->last_error, errlen);
        pthread_mutex_unlock(&events->lock);
    }
    return connected;
}
