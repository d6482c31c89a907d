#ifndef IM_COLLECT_EVENTS_H
#define IM_COLLECT_EVENTS_H

/* The engine's container events feed: one thread holds a long-lived GET /events request
 * (filtered to containers), splits the stream into JSON objects and hands each to the
 * subscribers. When the stream breaks it reconnects with backoff (0.5 s doubling to 5 s).
 *
 * Subscribers are called on the events thread and must return quickly (queue the work).
 * A callback gets (ctx, status, event):
 *   IM_OK and an event object (borrowed for the call) for each engine event;
 *   IM_OK and NULL when the feed has (re)connected: events may have been missed before,
 *     so a subscriber that keeps state re-lists;
 *   IM_EUNAVAILABLE and NULL when the stream broke or a connection attempt failed. */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/util.h"

struct im_engine;

typedef struct im_events im_events_t;
typedef void (*im_events_fn)(void *ctx, int status, json_t *event);

#define IM_EVENTS_MAX_SUBSCRIBERS 32

typedef struct {
    const char *docker_host; /* as im_engine_options_t */
    bool tls_verify;
    const char *cert_path;
    struct im_engine *engine; /* negotiates the API version; borrowed, must outlive the feed */
} im_events_options_t;

/* Starts the events thread. It connects in the background: check im_events_connected().
 * Returns IM_EINVAL for an invalid DOCKER_HOST. */
int im_events_start(const im_events_options_t *opts, im_events_t **out, char *err,
                    size_t errlen) IM_WARN_UNUSED;

/* Stops the thread (within about a second), joins it and frees the feed. NULL is accepted. */
void im_events_stop(im_events_t *events);

/* Adds a subscriber. When the feed is connected, the callback gets the (IM_OK, NULL) call
 * at once, from this thread. Returns IM_ECONFLICT when IM_EVENTS_MAX_SUBSCRIBERS are
 * registered. */
int im_events_subscribe(im_events_t *events, im_events_fn callback, void *ctx) IM_WARN_UNUSED;

/* Removes a subscriber. When this returns the callback is not running and will not run
 * again for that ctx. */
void im_events_unsubscribe(im_events_t *events, im_events_fn callback, void *ctx);

/* Returns true while the stream is open. err (may be NULL) gets the latest failure. */
bool im_events_connected(im_events_t *events, char *err, size_t errlen);

#endif
