/* Streaming and hijacked Engine API requests over engine/wire.h. */
#include "engine/stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/wire.h"

#define LOG_MODULE "engine"
/* The part of a non-2xx body kept as the error message. */
#define ERROR_BODY_MAX 4096
#define HIJACK_REPLY_TIMEOUT_MS 10000

typedef struct {
    const im_engine_stream_callbacks_t *cb;
    bool response_seen;
    long status;
    im_buf_t error_body;
} transfer_t;

static bool is_success(long status)
{
    return status >= 200 && status < 300;
}

/* Keeps the first ERROR_BODY_MAX bytes of a non-2xx body as the error message. */
static void keep_error_body(im_buf_t *error_body, const char *data, size_t len)
{
    size_t room = ERROR_BODY_MAX - error_body->len;

    im_buf_append(error_body, data, len < room ? len : room);
}

static int on_head(void *ctx, const im_wire_head_t *head)
{
    transfer_t *t = ctx;

    t->response_seen = true;
    t->status = head->status;
    if (t->cb->on_response) {
        const char *content_type = head->content_type[0] ? head->content_type : NULL;
        return t->cb->on_response(t->cb->ctx, t->status, content_type);
    }
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    transfer_t *t = ctx;

    if (!is_success(t->status)) {
        keep_error_body(&t->error_body, data, len);
        return 0;
    }
    return t->cb->on_data(t->cb->ctx, data, len);
}

static int on_idle(void *ctx)
{
    transfer_t *t = ctx;

    return t->cb->on_idle ? t->cb->on_idle(t->cb->ctx) : 0;
}

int im_engine_stream_run(struct im_engine *e, const char *method, const char *path,
                         const char *json_body, long timeout_ms,
                         const im_engine_stream_callbacks_t *cb, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *target = NULL;
    char reason[256] = "";
    transfer_t t = {.cb = cb};
    im_wire_conn_t *conn = NULL;
    bool reusable = false;

    im_buf_init(&t.error_body);
    rc = im_engine_connect_stream(e, path, &conn, &target, err, errlen);
    if (rc) {
        goto out;
    }
    im_wire_request_t request = {.method = method,
                                 .target = target,
                                 .host_header = im_engine_host_header(e),
                                 .json_body = json_body};
    im_wire_handler_t handler = {.on_head = on_head, .on_body = on_body, .ctx = &t};
    im_wire_options_t options = {
        .on_idle = on_idle,
        .ctx = &t,
        .deadline_ms = timeout_ms > 0 ? im_monotonic_ms() + timeout_ms : 0,
    };
    im_wire_outcome_t outcome =
        im_wire_exchange(conn, &request, &handler, &options, &reusable, reason, sizeof(reason));

    switch (outcome) {
    case IM_WIRE_OK:
        if (!is_success(t.status)) {
            im_engine_reply_t reply = {.status = t.status, .body = t.error_body};
            rc = im_engine_reply_rc(&reply, err, errlen);
        }
        break;
    case IM_WIRE_STOPPED:
        snprintf(err, errlen, "stream %s %s stopped by its reader", method, path);
        rc = IM_ECONFLICT;
        break;
    case IM_WIRE_TIMEOUT:
        // The request went out, so the engine is there: the stream itself ran too long.
        snprintf(err, errlen, "stream %s %s timed out after %ld ms", method, path, timeout_ms);
        rc = IM_EUPSTREAM;
        break;
    default:
        snprintf(err, errlen, "stream %s %s to the engine at %s failed: %s", method, path,
                 im_engine_address(e), reason);
        rc = t.response_seen ? IM_EUPSTREAM : IM_EUNAVAILABLE;
        break;
    }

out:
    im_wire_close(conn);
    im_buf_release(&t.error_body);
    free(target);
    return rc;
}

/* ---- on a thread of its own -------------------------------------------------------------- */

typedef struct {
    struct im_engine *engine;
    char *method;
    char *path;
    char *json_body;
    long timeout_ms;
    im_engine_stream_callbacks_t cb;
} stream_job_t;

static void *stream_thread(void *arg)
{
    stream_job_t *job = arg;
    char err[1024] = "";

    int rc = im_engine_stream_run(job->engine, job->method, job->path, job->json_body,
                                  job->timeout_ms, &job->cb, err, sizeof(err));
    job->cb.on_end(job->cb.ctx, rc, err);
    free(job->method);
    free(job->path);
    free(job->json_body);
    free(job);
    return NULL;
}

int im_engine_stream_start(struct im_engine *e, const char *method, const char *path,
                           const char *json_body, long timeout_ms,
                           const im_engine_stream_callbacks_t *cb, char *err, size_t errlen)
{
    stream_job_t *job = im_calloc(1, sizeof(*job));
    pthread_attr_t attr;
    pthread_t thread;

    job->engine = e;
    job->method = im_strdup(method);
    job->path = im_strdup(path);
    job->json_body = json_body ? im_strdup(json_body) : NULL;
    job->timeout_ms = timeout_ms;
    job->cb = *cb;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int error = pthread_create(&thread, &attr, stream_thread, job);
    pthread_attr_destroy(&attr);
    if (error) {
        snprintf(err, errlen, "cannot start a thread for %s %s: %s", method, path, strerror(error));
        free(job->method);
        free(job->path);
        free(job->json_body);
        free(job);
        return IM_ERR;
    }
    return IM_OK;
}

/* ---- hijacked connections ---------------------------------------------------------------- */

struct im_engine_hijack {
    im_wire_conn_t *conn;
    im_buf_t leftover; /* bytes that came with the reply headers */
    size_t leftover_pos;
};

typedef struct {
    long status;
    im_buf_t error_body;
} hijack_reply_t;

static int on_hijack_head(void *ctx, const im_wire_head_t *head)
{
    hijack_reply_t *reply = ctx;

    reply->status = head->status;
    // An engine that hijacks without upgrading replies 200 and then streams raw bytes, so
    // the parse ends here and the rest of the read belongs to the stream.
    return head->status == 200 ? 1 : 0;
}

static int on_hijack_body(void *ctx, const char *data, size_t len)
{
    hijack_reply_t *reply = ctx;

    keep_error_body(&reply->error_body, data, len);
    return 0;
}

int im_engine_hijack_open(struct im_engine *e, const char *method, const char *path,
                          const char *json_body, im_engine_hijack_t **out, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *target = NULL;
    char reason[256] = "";
    hijack_reply_t reply = {0};
    im_engine_hijack_t *h = im_calloc(1, sizeof(*h));
    bool reusable = false;

    *out = NULL;
    im_buf_init(&h->leftover);
    im_buf_init(&reply.error_body);
    rc = im_engine_connect_stream(e, path, &h->conn, &target, err, errlen);
    if (rc) {
        goto out;
    }
    im_wire_request_t request = {.method = method,
                                 .target = target,
                                 .host_header = im_engine_host_header(e),
                                 .json_body = json_body,
                                 .upgrade = true};
    im_wire_handler_t handler = {.on_head = on_hijack_head, .on_body = on_hijack_body, .ctx = &reply};
    im_wire_options_t options = {.deadline_ms = im_monotonic_ms() + HIJACK_REPLY_TIMEOUT_MS,
                                 .leftover = &h->leftover};
    im_wire_outcome_t outcome =
        im_wire_exchange(h->conn, &request, &handler, &options, &reusable, reason, sizeof(reason));

    if ((outcome == IM_WIRE_OK && reply.status == 101) ||
        (outcome == IM_WIRE_STOPPED && reply.status == 200)) {
        *out = h;
        h = NULL; // the caller owns it now
    } else if (outcome == IM_WIRE_OK) {
        im_engine_reply_t error_reply = {.status = reply.status, .body = reply.error_body};
        rc = im_engine_reply_rc(&error_reply, err, errlen);
        if (rc == IM_OK) {
            snprintf(err, errlen, "the engine replied HTTP %ld to %s %s instead of upgrading",
                     reply.status, method, path);
            rc = IM_EUPSTREAM;
        }
    } else if (outcome == IM_WIRE_TIMEOUT) {
        snprintf(err, errlen, "the engine did not answer %s %s within %d ms", method, path,
                 HIJACK_REPLY_TIMEOUT_MS);
        rc = IM_EUPSTREAM;
    } else {
        snprintf(err, errlen, "%s %s on the engine at %s failed: %s", method, path,
                 im_engine_address(e), reason);
        rc = outcome == IM_WIRE_CLOSED_UNANSWERED ? IM_EUNAVAILABLE : IM_EUPSTREAM;
    }

out:
    im_engine_hijack_close(h);
    im_buf_release(&reply.error_body);
    free(target);
    return rc;
}

int im_engine_hijack_fd(const im_engine_hijack_t *h)
{
    return im_wire_fd(h->conn);
}

long im_engine_hijack_recv(im_engine_hijack_t *h, void *buf, size_t len)
{
    if (h->leftover_pos < h->leftover.len) {
        size_t n = h->leftover.len - h->leftover_pos;
        n = n < len ? n : len;
        memcpy(buf, h->leftover.data + h->leftover_pos, n);
        h->leftover_pos += n;
        return (long)n;
    }
    return im_wire_recv(h->conn, buf, len);
}

int im_engine_hijack_send(im_engine_hijack_t *h, const void *data, size_t len, long timeout_ms)
{
    return im_wire_send_all(h->conn, data, len, timeout_ms);
}

long im_engine_hijack_send_some(im_engine_hijack_t *h, const void *data, size_t len)
{
    return im_wire_send(h->conn, data, len);
}

void im_engine_hijack_close(im_engine_hijack_t *h)
{
    if (!h) {
        return;
    }
    im_wire_close(h->conn);
    im_buf_release(&h->leftover);
    free(h);
}
