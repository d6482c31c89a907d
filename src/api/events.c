/* GET /api/v1/events: the engine's container events as Server-Sent Events, from the
 * collector's events feed, optionally starting with the engine's backlog since a time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "app.h"
#include "collect/events.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"
#include "http/stream.h"

#define KEEPALIVE_MS      20000
#define MAX_EVENT_STREAMS 16

/* Actions a client may filter on; the engine reports health changes as
 * "health_status: healthy" and so on, which the "health_status" filter matches. */
static const char *const known_actions[] = {
    "create",  "start",   "restart", "die",    "stop",   "kill",          "pause",
    "unpause", "destroy", "oom",     "rename", "update", "health_status",
};

typedef struct {
    im_http_stream_t *stream;
    struct im_events *events;
    char actions[256]; /* ",start,die," or "" for every action */
    atomic_bool closed;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} event_stream_t;

static atomic_int open_streams;

/* Returns the filter word of an engine action ("health_status: healthy" gives
 * "health_status"). */
static void action_word(const char *action, char *out, size_t size)
{
    size_t len = strcspn(action, ":");
    if (len >= size) {
        len = size - 1;
    }
    memcpy(out, action, len);
    out[len] = '\0';
}

static bool action_selected(const event_stream_t *es, const char *action)
{
    if (es->actions[0] == '\0') {
        return true;
    }
    char word[64], needle[80];
    action_word(action, word, sizeof(word));
    snprintf(needle, sizeof(needle), ",%s,", word);
    return strstr(es->actions, needle) != NULL;
}

/* Maps an engine event to {type, action, container_id, name, image, exit_code, health,
 * time, time_nano} and writes it as one SSE event. Other event types are skipped. */
static void send_event(event_stream_t *es, json_t *event)
{
    const char *type = json_string_value(json_object_get(event, "Type"));
    const char *action = json_string_value(json_object_get(event, "Action"));
    if (!type || strcmp(type, "container") != 0 || !action || !action_selected(es, action)) {
        return;
    }
    json_t *actor = json_object_get(event, "Actor");
    json_t *attributes = json_object_get(actor, "Attributes");
    json_int_t time_nano = json_integer_value(json_object_get(event, "timeNano"));
    char when[32];
    im_time_iso8601(time_nano / 1000000000, when);
    char word[64];
    action_word(action, word, sizeof(word));
    const char *health = NULL;
    if (strcmp(word, "health_status") == 0 && strchr(action, ':')) {
        health = strchr(action, ':') + 1;
        while (*health == ' ') {
            health++;
        }
    }
    const char *exit_code = json_string_value(json_object_get(attributes, "exitCode"));
    int64_t code = 0;
    bool has_code = exit_code && im_parse_int64(exit_code, -1, 1000, &code);
    json_t *body = json_pack("{s:s, s:s, s:O, s:O, s:O, s:o, s:s?, s:s, s:I}", "type", "container",
                             "action", word, "container_id", json_object_get(actor, "ID"), "name",
                             json_object_get(attributes, "name"), "image",
                             json_object_get(attributes, "image"), "exit_code",
                             has_code ? json_integer(code) : json_null(), "health", health, "time",
                             when, "time_nano", time_nano);
    char *data = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!data) {
        return;
    }
    char *frame =
        im_asprintf("id: %lld\nevent: container\ndata: %s\n\n", (long long)time_nano, data);
    if (im_http_stream_write(es->stream, frame, strlen(frame)) != IM_OK) {
        atomic_store(&es->closed, true);
    }
    free(frame);
    free(data);
}

/* Runs on the events thread: it only queues, because the stream never blocks with the
 * drop-oldest policy. */
static void on_engine_event(void *ctx, int status, json_t *event)
{
    event_stream_t *es = ctx;
    if (status == IM_OK && event) {
        send_event(es, event);
    }
}

static void on_client_closed(void *ctx)
{
    event_stream_t *es = ctx;
    atomic_store(&es->closed, true);
    pthread_mutex_lock(&es->lock);
    pthread_cond_signal(&es->wake);
    pthread_mutex_unlock(&es->lock);
}

static size_t drop_marker(char *buf, size_t size, uint64_t dropped)
{
    int n = snprintf(buf, size, "event: dropped\ndata: {\"dropped\":%llu}\n\n",
                     (unsigned long long)dropped);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Sends keepalive comments while the client stays, then tears the stream down. */
static void *keepalive_thread(void *arg)
{
    event_stream_t *es = arg;
    pthread_mutex_lock(&es->lock);
    while (!atomic_load(&es->closed) && im_http_stream_is_open(es->stream)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&es->wake, &es->lock, &until);
        if (im_http_stream_idle_ms(es->stream) >= KEEPALIVE_MS) {
            static const char keepalive[] = ": keepalive\n\n";
            if (im_http_stream_write(es->stream, keepalive, sizeof(keepalive) - 1) != IM_OK) {
                break;
            }
        }
    }
    pthread_mutex_unlock(&es->lock);
    im_events_unsubscribe(es->events, on_engine_event, es);
    im_http_stream_end(es->stream);
    im_http_stream_release(es->stream);
    pthread_mutex_destroy(&es->lock);
    pthread_cond_destroy(&es->wake);
    free(es);
    atomic_fetch_sub(&open_streams, 1);
    return NULL;
}

/* Parses type=start,die into ",start,die,"; sends 422 and returns false on an unknown one. */
static bool parse_actions(im_request_t *req, char *out, size_t size)
{
    const char *text = im_req_query(req, "type");
    out[0] = '\0';
    if (!text || !*text || strcmp(text, "container") == 0) {
        return true;
    }
    if (strlen(text) > 200) {
        im_resp_invalid(req, "query", "type", "is longer than 200 characters");
        return false;
    }
    char *copy = im_strdup(text);
    char *save = NULL;
    bool ok = true;
    im_strlcpy(out, ",", size);
    for (char *word = strtok_r(copy, ",", &save); word && ok; word = strtok_r(NULL, ",", &save)) {
        ok = false;
        for (size_t i = 0; i < IM_ARRAY_LEN(known_actions); i++) {
            ok = ok || strcmp(word, known_actions[i]) == 0;
        }
        if (ok) {
            strncat(out, word, size - strlen(out) - 1);
            strncat(out, ",", size - strlen(out) - 1);
        }
    }
    free(copy);
    if (!ok) {
        im_resp_invalid(req, "query", "type",
                        "must be a comma-separated list of: create, start, restart, die, stop, "
                        "kill, pause, unpause, destroy, oom, rename, update, health_status");
    }
    return ok;
}

/* Sends the engine's events between since and now before the live ones. until is one second
 * ahead because the engine compares it with sub-second event times, and the engine holds
 * the request open until then. */
static void send_backlog(im_request_t *req, event_stream_t *es, int64_t since_seconds)
{
    char path[256];
    snprintf(
        path, sizeof(path),
        "/events?since=%lld&until=%lld&filters=%%7B%%22type%%22%%3A%%5B%%22container%%22%%5D%%7D",
        (long long)since_seconds, (long long)im_now() + 1);
    im_engine_reply_t reply;
    im_engine_reply_init(&reply);
    char err[512] = "";
    int rc = im_engine_request_timeout(im_req_app(req)->engine, "GET", path, NULL, 10000, &reply,
                                       err, sizeof(err));
    if (rc == IM_OK && reply.status == 200 && reply.body.data) {
        size_t offset = 0;
        while (offset < reply.body.len) {
            json_error_t jerr;
            json_t *event = json_loadb(reply.body.data + offset, reply.body.len - offset,
                                       JSON_DISABLE_EOF_CHECK, &jerr);
            if (!event) {
                break;
            }
            send_event(es, event);
            json_decref(event);
            offset += jerr.position;
        }
    } else {
        im_log_warn("events", "request %s: engine backlog since %lld not sent: %s (status %ld)",
                    im_req_id(req), (long long)since_seconds,
                    err[0] ? err : "unexpected engine reply", reply.status);
    }
    im_engine_reply_release(&reply);
}

static void get_events(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    char actions[256];
    if (!parse_actions(req, actions, sizeof(actions))) {
        return;
    }
    int64_t since = 0;
    const char *since_text = im_req_query(req, "since");
    if (since_text) {
        int64_t nanos = 0;
        if (im_time_parse_rfc3339(since_text, &nanos)) {
            since = nanos / 1000000000;
        } else if (!im_parse_int64(since_text, 0, im_now(), &since)) {
            im_resp_invalid(req, "query", "since",
                            "must be RFC 3339 or Unix seconds, not later "
                            "than now");
            return;
        }
    }
    char err[256] = "";
    if (!app->events || !im_events_connected(app->events, err, sizeof(err))) {
        im_resp_error(req, 503, "the engine's events stream is not connected%s%s",
                      err[0] ? ": " : "", err);
        return;
    }
    if (atomic_fetch_add(&open_streams, 1) >= MAX_EVENT_STREAMS) {
        atomic_fetch_sub(&open_streams, 1);
        im_resp_header(req, "Retry-After", "5");
        im_resp_error(req, 503, "too many event streams are open (%d)", MAX_EVENT_STREAMS);
        return;
    }
    event_stream_t *es = im_calloc(1, sizeof(*es));
    es->events = app->events;
    im_strlcpy(es->actions, actions, sizeof(es->actions));
    pthread_mutex_init(&es->lock, NULL);
    pthread_cond_init(&es->wake, NULL);
    im_http_stream_options_t opts = {
        .content_type = "text/event-stream",
        .policy = IM_HTTP_STREAM_DROP_OLDEST,
        .max_queued = 256 * 1024,
        .format_drop_marker = drop_marker,
        .on_closed = on_client_closed,
        .ctx = es,
    };
    im_resp_header(req, "X-Accel-Buffering", "no");
    es->stream = im_http_stream_respond(req, &opts);
    static const char hello[] = ": connected\n\n";
    if (im_http_stream_write(es->stream, hello, sizeof(hello) - 1) != IM_OK) {
        atomic_store(&es->closed, true);
    }
    if (since) {
        /* NOTE: the backlog is fetched on this HTTP worker thread, for about a second and
         * at most 11 s when the engine is slow. */
        send_backlog(req, es, since);
    }
    if (im_events_subscribe(app->events, on_engine_event, es) != IM_OK) {
        im_log_warn("events", "request %s: no free events subscription", im_req_id(req));
        atomic_store(&es->closed, true);
    }
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attr, keepalive_thread, es) != 0) {
        im_log_error("events", "request %s: cannot start the stream thread", im_req_id(req));
        atomic_store(&es->closed, true);
        keepalive_thread(es); /* tears the stream down at once */
    }
    pthread_attr_destroy(&attr);
}

const im_route_t im_api_event_routes[] = {
    {"GET", "/api/v1/events", IM_ROLE_VIEWER, get_events,
     "The engine's container events as Server-Sent Events (type, since)"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
