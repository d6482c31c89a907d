/* Streaming and hijacked Engine API requests over libcurl. */
#include "engine/stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/log.h"
#include "engine/engine.h"

#define LOG_MODULE "engine"
/* The part of a non-2xx body kept as the error message. */
#define ERROR_BODY_MAX 4096
/* Reply headers of a hijack request larger than this are rejected. */
#define HIJACK_HEADER_MAX       16384
#define HIJACK_REPLY_TIMEOUT_MS 10000

typedef struct {
    const im_engine_stream_callbacks_t *cb;
    CURL *curl;
    bool response_seen;
    long status;
    bool stopped; /* a callback asked to stop */
    im_buf_t error_body;
} transfer_t;

static void note_response(transfer_t *t)
{
    const char *content_type = NULL;

    if (t->response_seen) {
        return;
    }
    t->response_seen = true;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &content_type);
    if (t->cb->on_response && t->cb->on_response(t->cb->ctx, t->status, content_type)) {
        t->stopped = true;
    }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    size_t len = size * nmemb;

    note_response(t);
    if (t->stopped) {
        return 0;
    }
    if (t->status < 200 || t->status >= 300) {
        size_t room = ERROR_BODY_MAX - t->error_body.len;
        im_buf_append(&t->error_body, data, len < room ? len : room);
        return len;
    }
    if (t->cb->on_data(t->cb->ctx, data, len)) {
        t->stopped = true;
        return 0; // makes libcurl end the transfer with CURLE_WRITE_ERROR
    }
    return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    transfer_t *t = userdata;

    if (t->stopped) {
        return 1;
    }
    if (t->cb->on_idle && t->cb->on_idle(t->cb->ctx)) {
        t->stopped = true;
        return 1;
    }
    return 0;
}

int im_engine_stream_run(struct im_engine *e, const char *method, const char *path,
                         const char *json_body, long timeout_ms,
                         const im_engine_stream_callbacks_t *cb, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *url = NULL;
    char curl_message[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    transfer_t t = {.cb = cb};
    CURL *curl = curl_easy_init();

    if (!curl) {
        snprintf(err, errlen, "curl_easy_init failed (out of memory)");
        return IM_ERR;
    }
    t.curl = curl;
    im_buf_init(&t.error_body);
    rc = im_engine_prepare_handle(e, curl, path, &url, err, errlen);
    if (rc) {
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_message);
    headers = curl_slist_append(headers, "Expect:");
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body ? json_body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(json_body ? strlen(json_body) : 0));
        if (json_body) {
            headers = curl_slist_append(headers, "Content-Type: application/json");
        }
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = curl_easy_perform(curl);
    long request_size = 0;
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
    if (cc == CURLE_OK) {
        note_response(&t);
    }
    if (t.stopped) {
        snprintf(err, errlen, "stream %s %s stopped by its reader", method, path);
        rc = IM_ECONFLICT;
    } else if (cc == CURLE_OPERATION_TIMEDOUT && (t.response_seen || request_size > 0)) {
        // The request went out, so the engine is there: the stream itself ran too long.
        snprintf(err, errlen, "stream %s %s timed out after %ld ms", method, path, timeout_ms);
        rc = IM_EUPSTREAM;
    } else if (cc != CURLE_OK) {
        snprintf(err, errlen, "stream %s %s to the engine at %s failed: %s", method, path,
                 im_engine_address(e), curl_message[0] ? curl_message : curl_easy_strerror(cc));
        rc = t.response_seen ? IM_EUPSTREAM : IM_EUNAVAILABLE;
    } else if (t.status < 200 || t.status >= 300) {
        im_engine_reply_t reply = {.status = t.status, .body = t.error_body};
        rc = im_engine_reply_rc(&reply, err, errlen);
    }

out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    im_buf_release(&t.error_body);
    free(url);
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
    CURL *curl;
    int fd;
    im_buf_t leftover; /* bytes that came with the reply headers */
    size_t leftover_pos;
};

static int wait_fd(int fd, short events, long timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&pfd, 1, (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n;
}

static int hijack_send_all(im_engine_hijack_t *h, const char *data, size_t len, long timeout_ms)
{
    while (len > 0) {
        size_t sent = 0;
        CURLcode cc = curl_easy_send(h->curl, data, len, &sent);
        if (cc == CURLE_AGAIN) {
            if (wait_fd(h->fd, POLLOUT, timeout_ms) <= 0) {
                return IM_EUNAVAILABLE;
            }
            continue;
        }
        if (cc != CURLE_OK) {
            return IM_EUNAVAILABLE;
        }
        data += sent;
        len -= sent;
    }
    return IM_OK;
}

/* Reads until the end of the reply headers. Returns the header length (including the
 * blank line) or 0 on failure; everything read is in buf. */
static size_t read_reply_headers(im_engine_hijack_t *h, im_buf_t *buf, char *err, size_t errlen)
{
    int64_t deadline = im_monotonic_ms() + HIJACK_REPLY_TIMEOUT_MS;

    for (;;) {
        char chunk[4096];
        size_t got = 0;
        CURLcode cc = curl_easy_recv(h->curl, chunk, sizeof(chunk), &got);
        if (cc == CURLE_AGAIN) {
            long left = (long)(deadline - im_monotonic_ms());
            if (left <= 0 || wait_fd(h->fd, POLLIN, left) <= 0) {
                snprintf(err, errlen, "the engine did not answer the attach request within %d ms",
                         HIJACK_REPLY_TIMEOUT_MS);
                return 0;
            }
            continue;
        }
        if (cc != CURLE_OK || got == 0) {
            snprintf(err, errlen, "the engine closed the attach connection before replying");
            return 0;
        }
        im_buf_append(buf, chunk, got);
        char *end = strstr(buf->data, "\r\n\r\n");
        if (end) {
            return (size_t)(end - buf->data) + 4;
        }
        if (buf->len > HIJACK_HEADER_MAX) {
            snprintf(err, errlen, "the engine's attach reply headers exceed %d bytes",
                     HIJACK_HEADER_MAX);
            return 0;
        }
    }
}

int im_engine_hijack_open(struct im_engine *e, const char *method, const char *path,
                          const char *json_body, im_engine_hijack_t **out, char *err, size_t errlen)
{
    int rc = IM_OK;
    char *url = NULL;
    im_buf_t request;
    im_buf_t reply;
    im_engine_hijack_t *h = im_calloc(1, sizeof(*h));
    curl_socket_t fd = CURL_SOCKET_BAD;

    *out = NULL;
    im_buf_init(&request);
    im_buf_init(&reply);
    im_buf_init(&h->leftover);
    h->fd = -1;
    h->curl = curl_easy_init();
    if (!h->curl) {
        snprintf(err, errlen, "curl_easy_init failed (out of memory)");
        rc = IM_ERR;
        goto out;
    }
    rc = im_engine_prepare_handle(e, h->curl, path, &url, err, errlen);
    if (rc) {
        goto out;
    }
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode cc = curl_easy_perform(h->curl);
    if (cc == CURLE_OK) {
        cc = curl_easy_getinfo(h->curl, CURLINFO_ACTIVESOCKET, &fd);
    }
    if (cc != CURLE_OK || fd == CURL_SOCKET_BAD) {
        snprintf(err, errlen, "failed to connect to the engine at %s for %s %s: %s",
                 im_engine_address(e), method, path, curl_easy_strerror(cc));
        rc = IM_EUNAVAILABLE;
        goto out;
    }
    h->fd = (int)fd;

    // The URL is scheme://host/versioned-path: send the path and the host by hand.
    const char *host = strstr(url, "://") + 3;
    const char *versioned = strchr(host, '/');
    size_t body_len = json_body ? strlen(json_body) : 0;
    im_buf_appendf(&request,
                   "%s %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: InfraMon/%s\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   method, versioned, (int)(versioned - host), host, IM_VERSION, body_len);
    if (json_body) {
        im_buf_append(&request, json_body, body_len);
    }
    if (hijack_send_all(h, request.data, request.len, HIJACK_REPLY_TIMEOUT_MS)) {
        snprintf(err, errlen, "failed to send %s %s to the engine at %s", method, path,
                 im_engine_address(e));
        rc = IM_EUNAVAILABLE;
        goto out;
    }

    size_t header_len = read_reply_headers(h, &reply, err, errlen);
    if (header_len == 0) {
        rc = IM_EUPSTREAM;
        goto out;
    }
    long status = 0;
    if (sscanf(reply.data, "HTTP/1.%*d %ld", &status) != 1) {
        snprintf(err, errlen, "the engine sent a malformed status line to %s %s", method, path);
        rc = IM_EUPSTREAM;
        goto out;
    }
    if (status != 101 && status != 200) {
        // The error body follows the headers; whatever arrived with them is the message.
        im_engine_reply_t error_reply;
        im_engine_reply_init(&error_reply);
        error_reply.status = status;
        im_buf_append(&error_reply.body, reply.data + header_len, reply.len - header_len);
        rc = im_engine_reply_rc(&error_reply, err, errlen);
        im_engine_reply_release(&error_reply);
        if (rc == IM_OK) {
            rc = IM_EUPSTREAM;
        }
        goto out;
    }
    im_buf_append(&h->leftover, reply.data + header_len, reply.len - header_len);
    *out = h;
    h = NULL; // the caller owns it now

out:
    im_engine_hijack_close(h);
    im_buf_release(&request);
    im_buf_release(&reply);
    free(url);
    return rc;
}

int im_engine_hijack_fd(const im_engine_hijack_t *h)
{
    return h->fd;
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
    size_t got = 0;
    CURLcode cc = curl_easy_recv(h->curl, buf, len, &got);
    if (cc == CURLE_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    if (cc != CURLE_OK) {
        errno = EIO;
        return -1;
    }
    return (long)got;
}

int im_engine_hijack_send(im_engine_hijack_t *h, const void *data, size_t len, long timeout_ms)
{
    return hijack_send_all(h, data, len, timeout_ms);
}

void im_engine_hijack_close(im_engine_hijack_t *h)
{
    if (!h) {
        return;
    }
    if (h->curl) {
        curl_easy_cleanup(h->curl);
    }
    im_buf_release(&h->leftover);
    free(h);
}
