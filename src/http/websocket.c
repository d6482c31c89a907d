/* WebSocket sessions: wslay over libmicrohttpd upgrades, served by one epoll thread. */
#include "http/websocket.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nettle/sha1.h>
#include <wslay/wslay.h>

#include "core/log.h"
#include "http/http-internal.h"

#define LOG_MODULE "websocket"
/* RFC 6455 section 1.3: the GUID appended to the client's key. */
#define WS_GUID           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define RESUME_PEER_BELOW (256 * 1024)
#define CLOSE_GRACE_MS    5000
#define MAX_EVENTS        64

typedef struct {
    im_ws_session_t *session;
    bool peer;
} poll_tag_t;

struct im_ws_session {
    im_ws_hub_t *hub;
    im_ws_session_t *next;
    int fd;
    int peer_fd;
    uint32_t peer_events; /* registered with epoll; 0: not registered */
    bool peer_reading;    /* false while a slow client has too much queued */
    bool client_paused;   /* see im_ws_pause_client */
    struct MHD_UpgradeResponseHandle *urh;
    wslay_event_context_ptr ctx;
    im_ws_handler_t handler;
    void *handler_ctx;
    char *extra_in; /* bytes libmicrohttpd read past the request */
    size_t extra_len;
    size_t extra_pos;
    uint32_t client_events;
    int64_t last_seen_ms;
    int64_t last_ping_ms;
    int64_t closing_since_ms; /* 0: not closing */
    bool failed;
    poll_tag_t client_tag;
    poll_tag_t peer_tag;
};

struct im_ws_hub {
    pthread_t thread;
    int epoll_fd;
    int wake_fd;
    pthread_mutex_t lock; /* guards pending and stopping */
    im_ws_session_t *pending;
    bool stopping;
    im_ws_session_t *sessions; /* hub thread only */
    size_t count;
};

/* ---- handshake --------------------------------------------------------------------------- */

static bool header_has_token(const char *value, const char *token)
{
    size_t len = strlen(token);

    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        size_t n = strcspn(p, ", \t");
        if (n == len && strncasecmp(p, token, len) == 0) {
            return true;
        }
        p += n;
    }
    return false;
}

bool im_ws_check_request(im_request_t *req)
{
    const char *upgrade = im_req_header(req, "Upgrade");
    const char *connection = im_req_header(req, "Connection");
    const char *version = im_req_header(req, "Sec-WebSocket-Version");
    const char *key = im_req_header(req, "Sec-WebSocket-Key");
    unsigned char decoded[32];

    if (strcmp(im_req_method(req), "GET") != 0 || !upgrade ||
        strcasecmp(upgrade, "websocket") != 0 || !connection ||
        !header_has_token(connection, "upgrade")) {
        im_resp_error(req, 400,
                      "this endpoint is a WebSocket: send GET with Upgrade: websocket and "
                      "Connection: Upgrade");
        return false;
    }
    if (!version || strcmp(version, "13") != 0) {
        im_resp_header(req, "Sec-WebSocket-Version", "13");
        im_resp_error(req, 426, "unsupported Sec-WebSocket-Version \"%s\": only 13 is supported",
                      version ? version : "");
        return false;
    }
    size_t decoded_len = 0;
    if (!key || strlen(key) != 24 ||
        !im_base64_decode(key, 24, decoded, sizeof(decoded), &decoded_len) || decoded_len != 16) {
        im_resp_error(req, 400,
                      "missing or invalid Sec-WebSocket-Key: expected 16 bytes in base64");
        return false;
    }
    return true;
}

void im_ws_accept_value(const char *key, char out[IM_WS_ACCEPT_SIZE])
{
    struct sha1_ctx ctx;
    unsigned char digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, strlen(key), (const uint8_t *)key);
    sha1_update(&ctx, strlen(WS_GUID), (const uint8_t *)WS_GUID);
    sha1_digest(&ctx, sizeof(digest), digest);
    im_base64_encode(digest, sizeof(digest), out);
}

/* ---- wslay callbacks --------------------------------------------------------------------- */

static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                             void *user_data)
{
    im_ws_session_t *s = user_data;

    if (s->client_paused) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (s->extra_pos < s->extra_len) {
        size_t n = s->extra_len - s->extra_pos;
        n = n < len ? n : len;
        memcpy(buf, s->extra_in + s->extra_pos, n);
        s->extra_pos += n;
        return (ssize_t)n;
    }
    ssize_t n;
    do {
        n = recv(s->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    s->last_seen_ms = im_monotonic_ms();
    return n;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user_data)
{
    im_ws_session_t *s = user_data;
    ssize_t n;

    do {
        n = send(s->fd, data, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        wslay_event_set_error(ctx, (errno == EAGAIN || errno == EWOULDBLOCK)
                                       ? WSLAY_ERR_WOULDBLOCK
                                       : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return n;
}

static int on_wslay_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user_data)
{
    im_random_bytes(buf, len);
    return 0;
}

static void on_wslay_message(wslay_event_context_ptr ctx,
                             const struct wslay_event_on_msg_recv_arg *arg, void *user_data)
{
    im_ws_session_t *s = user_data;

    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
        s->handler.on_message(s, s->handler_ctx, arg->opcode == WSLAY_BINARY_FRAME, arg->msg,
                              arg->msg_length);
    } else if (arg->opcode == WSLAY_CONNECTION_CLOSE && !s->closing_since_ms) {
        // wslay has queued the reply to the client's close.
        s->closing_since_ms = im_monotonic_ms();
    }
}

static const struct wslay_event_callbacks wslay_callbacks = {
    .recv_callback = on_wslay_recv,
    .send_callback = on_wslay_send,
    .genmask_callback = on_wslay_genmask,
    .on_msg_recv_callback = on_wslay_message,
};

/* ---- sessions (hub thread) --------------------------------------------------------------- */

int im_ws_send(im_ws_session_t *ws, bool binary, const void *data, size_t len)
{
    struct wslay_event_msg msg = {
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .msg = data,
        .msg_length = len,
    };

    if (ws->closing_since_ms || wslay_event_get_close_sent(ws->ctx)) {
        return IM_ECONFLICT;
    }
    return wslay_event_queue_msg(ws->ctx, &msg) == 0 ? IM_OK : IM_ECONFLICT;
}

void im_ws_close(im_ws_session_t *ws, uint16_t code, const char *reason)
{
    if (!wslay_event_get_close_sent(ws->ctx)) {
        wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
                                reason ? strlen(reason) : 0);
    }
    if (!ws->closing_since_ms) {
        ws->closing_since_ms = im_monotonic_ms();
    }
}

void im_ws_pause_client(im_ws_session_t *ws, bool paused)
{
    ws->client_paused = paused;
}

/* Registers the peer fd for events (0: none) with epoll. */
static void set_peer_events(im_ws_session_t *s, uint32_t events)
{
    if (s->peer_fd < 0 || s->peer_events == events) {
        return;
    }
    struct epoll_event ev = {.events = events, .data.ptr = &s->peer_tag};
    int op = EPOLL_CTL_MOD;
    if (events == 0) {
        op = EPOLL_CTL_DEL;
    } else if (s->peer_events == 0) {
        op = EPOLL_CTL_ADD;
    }
    if (epoll_ctl(s->hub->epoll_fd, op, s->peer_fd, events ? &ev : NULL) != 0) {
        im_log_error(LOG_MODULE, "epoll_ctl of WebSocket peer fd %d failed: %s", s->peer_fd,
                     strerror(errno));
        s->failed = true;
    }
    s->peer_events = events;
}

static void destroy_session(im_ws_session_t *s)
{
    im_ws_hub_t *hub = s->hub;

    epoll_ctl(hub->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
    set_peer_events(s, 0);
    s->handler.on_close(s, s->handler_ctx);
    wslay_event_context_free(s->ctx);
    // Only libmicrohttpd may close the upgraded socket.
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(s->extra_in);
    for (im_ws_session_t **p = &hub->sessions; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    hub->count--;
    free(s);
}

/* Flushes what wslay has queued and updates what to poll for. Returns false when the
 * session is over and has been destroyed. */
static bool service_session(im_ws_session_t *s)
{
    if (!s->failed && wslay_event_want_write(s->ctx) && wslay_event_send(s->ctx) != 0) {
        s->failed = true;
    }
    bool over = s->failed || (!wslay_event_want_read(s->ctx) && !wslay_event_want_write(s->ctx));
    if (s->closing_since_ms && im_monotonic_ms() - s->closing_since_ms > CLOSE_GRACE_MS) {
        over = true; // the client never finished the closing handshake
    }
    if (over) {
        destroy_session(s);
        return false;
    }
    // A paused client is not polled for reading, but a hang-up is still reported.
    uint32_t events = s->client_paused ? 0 : EPOLLRDHUP;
    if (wslay_event_want_read(s->ctx) && !s->client_paused) {
        events |= EPOLLIN;
    }
    if (wslay_event_want_write(s->ctx)) {
        events |= EPOLLOUT;
    }
    if (events != s->client_events) {
        struct epoll_event ev = {.events = events, .data.ptr = &s->client_tag};
        epoll_ctl(s->hub->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev);
        s->client_events = events;
    }
    // A closing session reads its peer no more, and a slow client gets time to catch up.
    size_t queued = wslay_event_get_queued_msg_length(s->ctx);
    if (s->closing_since_ms || queued > IM_WS_MAX_QUEUED) {
        s->peer_reading = false;
    } else if (queued < RESUME_PEER_BELOW) {
        s->peer_reading = true;
    }
    uint32_t peer_events = s->peer_reading ? EPOLLIN | EPOLLRDHUP : 0;
    if (s->client_paused && !s->closing_since_ms) {
        peer_events |= EPOLLOUT;
    }
    set_peer_events(s, peer_events);
    return true;
}

static void start_session(im_ws_hub_t *hub, im_ws_session_t *s)
{
    s->hub = hub;
    s->client_tag = (poll_tag_t){.session = s, .peer = false};
    s->peer_tag = (poll_tag_t){.session = s, .peer = true};
    s->last_seen_ms = im_monotonic_ms();
    s->last_ping_ms = s->last_seen_ms;
    wslay_event_context_server_init(&s->ctx, &wslay_callbacks, s);
    wslay_event_config_set_max_recv_msg_length(s->ctx, IM_WS_MAX_MESSAGE);
    s->next = hub->sessions;
    hub->sessions = s;
    hub->count++;

    s->client_events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = s->client_events, .data.ptr = &s->client_tag};
    if (epoll_ctl(hub->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        im_log_error(LOG_MODULE, "epoll_ctl ADD of WebSocket fd %d failed: %s", s->fd,
                     strerror(errno));
        s->failed = true;
    }
    if (s->handler.on_open) {
        s->handler.on_open(s, s->handler_ctx);
    }
    // Bytes that came with the upgrade request are parsed before waiting on the socket.
    if (!s->failed && s->extra_len && wslay_event_recv(s->ctx) != 0) {
        s->failed = true;
    }
    service_session(s);
}

static void ping_and_expire(im_ws_hub_t *hub)
{
    int64_t now = im_monotonic_ms();
    im_ws_session_t *next = NULL;

    for (im_ws_session_t *s = hub->sessions; s; s = next) {
        next = s->next;
        if (now - s->last_seen_ms > IM_WS_IDLE_SECONDS * 1000L && !s->closing_since_ms) {
            im_ws_close(s, 1001, "idle timeout");
        } else if (now - s->last_ping_ms >= IM_WS_PING_SECONDS * 1000L && !s->closing_since_ms) {
            struct wslay_event_msg ping = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
            wslay_event_queue_msg(s->ctx, &ping);
            s->last_ping_ms = now;
        }
        service_session(s);
    }
}

static void handle_event(struct epoll_event *ev)
{
    poll_tag_t *tag = ev->data.ptr;
    im_ws_session_t *s = tag->session;

    if (tag->peer) {
        if ((ev->events & EPOLLOUT) && s->client_paused && s->handler.on_peer_writable) {
            s->handler.on_peer_writable(s, s->handler_ctx);
        }
        if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            s->handler.on_peer_readable(s, s->handler_ctx);
        }
    } else if (s->client_paused && (ev->events & (EPOLLHUP | EPOLLERR))) {
        s->failed = true; // gone while its input waited for the peer
    } else if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (wslay_event_recv(s->ctx) != 0) {
            s->failed = true;
        }
    }
    service_session(s);
}

static bool take_pending(im_ws_hub_t *hub)
{
    uint64_t count;

    if (read(hub->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        im_log_warn(LOG_MODULE, "reading the wake-up eventfd failed: %s", strerror(errno));
    }
    pthread_mutex_lock(&hub->lock);
    im_ws_session_t *pending = hub->pending;
    hub->pending = NULL;
    bool stopping = hub->stopping;
    pthread_mutex_unlock(&hub->lock);
    while (pending) {
        im_ws_session_t *next = pending->next;
        start_session(hub, pending);
        pending = next;
    }
    return !stopping;
}

static void *hub_thread(void *arg)
{
    im_ws_hub_t *hub = arg;
    struct epoll_event events[MAX_EVENTS];
    bool running = true;
    int64_t last_tick = im_monotonic_ms();

    while (running) {
        int n = epoll_wait(hub->epoll_fd, events, MAX_EVENTS, 1000);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                running = take_pending(hub);
                continue;
            }
        }
        // Sessions may be destroyed while handling events: handle the wake-up first and
        // skip events whose session has gone in this round.
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                continue;
            }
            // The tag lies inside its session, so it is read only once the session is
            // known to be alive.
            poll_tag_t *tag = events[i].data.ptr;
            bool alive = false;
            for (im_ws_session_t *s = hub->sessions; s; s = s->next) {
                alive = alive || tag == &s->client_tag || tag == &s->peer_tag;
            }
            if (alive) {
                handle_event(&events[i]);
            }
        }
        if (im_monotonic_ms() - last_tick >= 1000) {
            last_tick = im_monotonic_ms();
            ping_and_expire(hub);
        }
    }
    // Stopping: tell every client and let each session go.
    while (hub->sessions) {
        im_ws_session_t *s = hub->sessions;
        im_ws_close(s, 1001, "server stopping");
        if (wslay_event_want_write(s->ctx)) {
            (void)wslay_event_send(s->ctx);
        }
        destroy_session(s);
    }
    return NULL;
}

/* ---- upgrade ----------------------------------------------------------------------------- */

typedef struct im_ws_upgrade {
    im_ws_hub_t *hub;
    im_ws_handler_t handler;
    void *ctx;
    int peer_fd;
    bool upgraded; /* the session owns ctx */
} upgrade_job_t;

static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    upgrade_job_t *job = cls;
    im_ws_session_t *s = im_calloc(1, sizeof(*s));

    s->fd = sock;
    s->peer_fd = job->peer_fd;
    s->urh = urh;
    s->handler = job->handler;
    s->handler_ctx = job->ctx;
    if (extra_in_size) {
        s->extra_in = im_malloc(extra_in_size);
        memcpy(s->extra_in, extra_in, extra_in_size);
        s->extra_len = extra_in_size;
    }
    pthread_mutex_lock(&job->hub->lock);
    s->next = job->hub->pending;
    job->hub->pending = s;
    pthread_mutex_unlock(&job->hub->lock);
    uint64_t one = 1;
    if (write(job->hub->wake_fd, &one, sizeof(one)) < 0) {
        im_log_error(LOG_MODULE, "waking the WebSocket thread failed: %s", strerror(errno));
    }
    // The job is freed when the request completes, which libmicrohttpd reports only after
    // this callback.
    job->upgraded = true;
}

void im_ws_request_done(im_request_t *req)
{
    upgrade_job_t *job = req->ws_upgrade;

    if (!job) {
        return;
    }
    if (!job->upgraded) {
        im_log_info(LOG_MODULE, "request %s: the connection ended before the WebSocket upgrade",
                    req->id);
        job->handler.on_close(NULL, job->ctx);
    }
    req->ws_upgrade = NULL;
    free(job);
}

void im_ws_respond(im_request_t *req, const im_ws_handler_t *handler, void *ctx, int peer_fd)
{
    upgrade_job_t *job = im_calloc(1, sizeof(*job));
    char accept[IM_WS_ACCEPT_SIZE];

    im_ws_request_done(req); // a second reply on the same request replaces the first

    job->hub = req->server->ws_hub;
    job->handler = *handler;
    job->ctx = ctx;
    job->peer_fd = peer_fd;
    im_ws_accept_value(im_req_header(req, "Sec-WebSocket-Key"), accept);
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, job);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    req->response = resp;
    req->status = MHD_HTTP_SWITCHING_PROTOCOLS;
    req->response_bytes = 0;
    req->ws_upgrade = job;
}

/* ---- hub --------------------------------------------------------------------------------- */

int im_ws_hub_start(im_ws_hub_t **out, char *err, size_t errlen)
{
    im_ws_hub_t *hub = im_calloc(1, sizeof(*hub));

    *out = NULL;
    pthread_mutex_init(&hub->lock, NULL);
    hub->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    hub->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (hub->epoll_fd < 0 || hub->wake_fd < 0 ||
        epoll_ctl(hub->epoll_fd, EPOLL_CTL_ADD, hub->wake_fd, &ev) != 0) {
        snprintf(err, errlen, "cannot set up the WebSocket thread's epoll: %s", strerror(errno));
        goto fail;
    }
    int error = pthread_create(&hub->thread, NULL, hub_thread, hub);
    if (error) {
        snprintf(err, errlen, "cannot start the WebSocket thread: %s", strerror(error));
        goto fail;
    }
    *out = hub;
    return IM_OK;

fail:
    if (hub->epoll_fd >= 0) {
        close(hub->epoll_fd);
    }
    if (hub->wake_fd >= 0) {
        close(hub->wake_fd);
    }
    pthread_mutex_destroy(&hub->lock);
    free(hub);
    return IM_ERR;
}

void im_ws_hub_stop(im_ws_hub_t *hub)
{
    if (!hub) {
        return;
    }
    pthread_mutex_lock(&hub->lock);
    hub->stopping = true;
    pthread_mutex_unlock(&hub->lock);
    uint64_t one = 1;
    if (write(hub->wake_fd, &one, sizeof(one)) < 0) {
        im_log_error(LOG_MODULE, "waking the WebSocket thread to stop failed: %s", strerror(errno));
    }
    pthread_join(hub->thread, NULL);
    // Sessions upgraded after the thread stopped are closed here, on this thread.
    while (hub->pending) {
        im_ws_session_t *s = hub->pending;
        hub->pending = s->next;
        s->handler.on_close(s, s->handler_ctx);
        MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
        free(s->extra_in);
        free(s);
    }
    close(hub->epoll_fd);
    close(hub->wake_fd);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}
