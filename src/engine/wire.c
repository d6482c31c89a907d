/* A small HTTP/1.1 client for the Engine API (see wire.h). */
#include "engine/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define IDLE_INTERVAL_MS 1000
#define RECV_CHUNK       16384

/* ---- response parser ------------------------------------------------------------------- */

static void fail(im_wire_parser_t *p, const char *message)
{
    p->state = IM_WIRE_FAILED;
    im_strlcpy(p->error, message, sizeof(p->error));
}

void im_wire_parser_init(im_wire_parser_t *p, bool head_request)
{
    memset(p, 0, sizeof(*p));
    p->state = IM_WIRE_HEAD;
    p->head_request = head_request;
    im_buf_init(&p->line);
}

void im_wire_parser_release(im_wire_parser_t *p)
{
    im_buf_release(&p->line);
}

/* Appends one byte of a CRLF-terminated line or block to p->line. Rejects NUL, a CR not
 * followed by LF, an LF without CR and a block longer than max. */
static bool append_line_byte(im_wire_parser_t *p, char c, size_t max, const char *part_name)
{
    char previous = p->line.len > 0 ? p->line.data[p->line.len - 1] : '\0';
    char message[sizeof(p->error)];

    if (c == '\0') {
        snprintf(message, sizeof(message), "the %s contains a NUL byte", part_name);
        fail(p, message);
        return false;
    }
    if ((c == '\n') != (previous == '\r')) {
        snprintf(message, sizeof(message), "a line of the %s does not end with CRLF", part_name);
        fail(p, message);
        return false;
    }
    if (p->line.len + 1 > max) {
        snprintf(message, sizeof(message), "the %s is longer than %zu bytes", part_name, max);
        fail(p, message);
        return false;
    }
    im_buf_append(&p->line, &c, 1);
    return true;
}

static bool ends_with_blank_line(const im_buf_t *line)
{
    return line->len >= 4 && memcmp(line->data + line->len - 4, "\r\n\r\n", 4) == 0;
}

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* Returns true when the comma-separated list in value contains token, ignoring case. */
static bool list_contains(const char *value, const char *token)
{
    size_t token_len = strlen(token);
    const char *p = value;

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *start = p;
        while (*p && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if ((size_t)(end - start) == token_len && strncasecmp(start, token, token_len) == 0) {
            return true;
        }
    }
    return false;
}

typedef struct {
    bool has_length;
    uint64_t length;
    bool chunked;
    bool close;
    bool keep_alive;
} framing_t;

static bool parse_content_length(im_wire_parser_t *p, const char *value, framing_t *f)
{
    uint64_t length = 0;

    if (value[0] == '\0') {
        fail(p, "the Content-Length header is empty");
        return false;
    }
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9') {
            fail(p, "the Content-Length header is not a non-negative decimal number");
            return false;
        }
        unsigned digit = (unsigned)(*c - '0');
        if (length > (UINT64_MAX - digit) / 10) {
            fail(p, "the Content-Length header is too large");
            return false;
        }
        length = length * 10 + digit;
    }
    if (f->has_length && f->length != length) {
        fail(p, "the reply has two different Content-Length headers");
        return false;
    }
    f->has_length = true;
    f->length = length;
    return true;
}

static bool parse_header_line(im_wire_parser_t *p, char *line, framing_t *f)
{
    if (line[0] == ' ' || line[0] == '\t') {
        fail(p, "the reply has a folded header line, which HTTP/1.1 forbids");
        return false;
    }
    char *colon = strchr(line, ':');
    if (!colon || colon == line) {
        fail(p, "a reply header line has no name or no colon");
        return false;
    }
    for (char *c = line; c < colon; c++) {
        if (!is_token_char((unsigned char)*c)) {
            fail(p, "a reply header name contains an invalid character");
            return false;
        }
    }
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    size_t value_len = strlen(value);
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t')) {
        value[--value_len] = '\0';
    }

    if (strcasecmp(line, "Content-Length") == 0) {
        return parse_content_length(p, value, f);
    }
    if (strcasecmp(line, "Transfer-Encoding") == 0) {
        // The Engine API uses chunked alone; compressed codings are never requested.
        if (f->chunked || strcasecmp(value, "chunked") != 0) {
            fail(p, "the reply uses a Transfer-Encoding other than chunked");
            return false;
        }
        f->chunked = true;
        return true;
    }
    if (strcasecmp(line, "Connection") == 0) {
        f->close = f->close || list_contains(value, "close");
        f->keep_alive = f->keep_alive || list_contains(value, "keep-alive");
        return true;
    }
    if (strcasecmp(line, "Content-Type") == 0) {
        im_strlcpy(p->head.content_type, value, sizeof(p->head.content_type));
    }
    return true;
}

static bool parse_status_line(im_wire_parser_t *p, const char *line)
{
    const char *c = line;

    if (strncmp(c, "HTTP/1.", 7) != 0 || c[7] < '0' || c[7] > '9' || c[8] != ' ') {
        fail(p, "the reply does not start with an HTTP/1.x status line");
        return false;
    }
    p->head.minor_version = c[7] - '0';
    c += 9;
    if (c[0] < '1' || c[0] > '9' || c[1] < '0' || c[1] > '9' || c[2] < '0' || c[2] > '9' ||
        (c[3] != ' ' && c[3] != '\0')) {
        fail(p, "the reply's status code is not three digits");
        return false;
    }
    p->head.status = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
    return true;
}

/* Starts the body after the head of a final reply, following RFC 9112 section 6.3. */
static void choose_body_framing(im_wire_parser_t *p, const framing_t *f)
{
    int status = p->head.status;

    p->head.keep_alive = !f->close && (p->head.minor_version >= 1 || f->keep_alive);
    if (status == 101) {
        p->head.keep_alive = false;
        p->state = IM_WIRE_DONE;
    } else if (p->head_request || status == 204 || status == 304) {
        p->state = IM_WIRE_DONE;
    } else if (f->chunked) {
        // A Content-Length next to chunked may be a smuggling attempt: do not reuse.
        p->head.keep_alive = p->head.keep_alive && !f->has_length;
        p->state = IM_WIRE_CHUNK_SIZE;
    } else if (f->has_length) {
        p->remaining = f->length;
        p->state = f->length == 0 ? IM_WIRE_DONE : IM_WIRE_BODY_LENGTH;
    } else {
        p->head.keep_alive = false;
        p->state = IM_WIRE_BODY_CLOSE;
    }
}

/* Parses the complete header block in p->line and calls on_head for a final reply. */
static void parse_head(im_wire_parser_t *p, const im_wire_handler_t *handler)
{
    framing_t framing = {0};
    char *block = p->line.data;
    char *line_end = strstr(block, "\r\n");

    *line_end = '\0';
    if (!parse_status_line(p, block)) {
        return;
    }
    char *line = line_end + 2;
    while (line[0] != '\r') {
        line_end = strstr(line, "\r\n");
        *line_end = '\0';
        if (!parse_header_line(p, line, &framing)) {
            return;
        }
        line = line_end + 2;
    }
    im_buf_reset(&p->line);

    if (p->head.status >= 100 && p->head.status < 200 && p->head.status != 101) {
        // An interim reply such as 100 Continue: the final one follows.
        memset(&p->head, 0, sizeof(p->head));
        return;
    }
    choose_body_framing(p, &framing);
    if (handler->on_head && handler->on_head(handler->ctx, &p->head)) {
        p->stopped = true;
    }
}

static void feed_head_byte(im_wire_parser_t *p, const im_wire_handler_t *handler, char c)
{
    static const char prefix[] = "HTTP/1.";

    // Reject a reply that is not HTTP/1.x at its first bytes instead of buffering it.
    if (p->line.len < sizeof(prefix) - 1 && c != prefix[p->line.len]) {
        fail(p, "the reply does not start with an HTTP/1.x status line");
        return;
    }
    if (!append_line_byte(p, c, IM_WIRE_HEAD_MAX, "reply header block")) {
        return;
    }
    if (ends_with_blank_line(&p->line)) {
        parse_head(p, handler);
    }
}

static void parse_chunk_size(im_wire_parser_t *p)
{
    const char *c = p->line.data;
    uint64_t size = 0;
    int digits = 0;

    for (; *c; c++, digits++) {
        int value = 0;
        if (*c >= '0' && *c <= '9') {
            value = *c - '0';
        } else if (*c >= 'a' && *c <= 'f') {
            value = *c - 'a' + 10;
        } else if (*c >= 'A' && *c <= 'F') {
            value = *c - 'A' + 10;
        } else {
            break;
        }
        if (size > (UINT64_MAX >> 4)) {
            fail(p, "a chunk size overflows 64 bits");
            return;
        }
        size = (size << 4) | (uint64_t)value;
    }
    while (*c == ' ' || *c == '\t') {
        c++;
    }
    // Chunk extensions (";name=value") carry nothing the Engine API uses, so they are skipped.
    if (digits == 0 || (*c != ';' && *c != '\r')) {
        fail(p, "a chunk size is not a hexadecimal number");
        return;
    }
    im_buf_reset(&p->line);
    p->remaining = size;
    p->state = size == 0 ? IM_WIRE_TRAILERS : IM_WIRE_CHUNK_DATA;
}

static void feed_chunk_size_byte(im_wire_parser_t *p, char c)
{
    if (!append_line_byte(p, c, IM_WIRE_LINE_MAX, "chunk-size line")) {
        return;
    }
    if (c == '\n') {
        parse_chunk_size(p);
    }
}

static void feed_chunk_end_byte(im_wire_parser_t *p, char c)
{
    char expected = p->line.len == 0 ? '\r' : '\n';

    if (c != expected) {
        fail(p, "chunk data is not followed by CRLF");
        return;
    }
    im_buf_append(&p->line, &c, 1);
    if (c == '\n') {
        im_buf_reset(&p->line);
        p->state = IM_WIRE_CHUNK_SIZE;
    }
}

static void feed_trailer_byte(im_wire_parser_t *p, char c)
{
    if (!append_line_byte(p, c, IM_WIRE_LINE_MAX, "trailer block")) {
        return;
    }
    // Trailers are read and dropped; the block ends with an empty line.
    if ((p->line.len == 2 && c == '\n') || ends_with_blank_line(&p->line)) {
        if (p->line.len > 2 && (p->line.data[0] == ' ' || p->line.data[0] == '\t')) {
            fail(p, "the reply has a folded trailer line");
            return;
        }
        im_buf_reset(&p->line);
        p->state = IM_WIRE_DONE;
    }
}

/* Hands up to len body bytes to on_body. Returns the number taken. */
static size_t deliver_body(im_wire_parser_t *p, const im_wire_handler_t *handler, const char *data,
                           size_t len, bool counted)
{
    size_t n = len;

    if (counted && p->remaining < n) {
        n = (size_t)p->remaining;
    }
    if (n > 0 && handler->on_body && handler->on_body(handler->ctx, data, n)) {
        p->stopped = true;
    }
    if (counted) {
        p->remaining -= n;
    }
    return n;
}

size_t im_wire_parser_feed(im_wire_parser_t *p, const im_wire_handler_t *handler, const char *data,
                           size_t len)
{
    size_t i = 0;

    while (i < len && !p->stopped) {
        switch (p->state) {
        case IM_WIRE_HEAD:
            feed_head_byte(p, handler, data[i++]);
            break;
        case IM_WIRE_BODY_LENGTH:
            i += deliver_body(p, handler, data + i, len - i, true);
            if (p->remaining == 0) {
                p->state = IM_WIRE_DONE;
            }
            break;
        case IM_WIRE_CHUNK_SIZE:
            feed_chunk_size_byte(p, data[i++]);
            break;
        case IM_WIRE_CHUNK_DATA:
            i += deliver_body(p, handler, data + i, len - i, true);
            if (p->remaining == 0) {
                p->state = IM_WIRE_CHUNK_END;
            }
            break;
        case IM_WIRE_CHUNK_END:
            feed_chunk_end_byte(p, data[i++]);
            break;
        case IM_WIRE_TRAILERS:
            feed_trailer_byte(p, data[i++]);
            break;
        case IM_WIRE_BODY_CLOSE:
            i += deliver_body(p, handler, data + i, len - i, false);
            break;
        case IM_WIRE_DONE:
        case IM_WIRE_FAILED:
            return i;
        }
    }
    return i;
}

bool im_wire_parser_finish(im_wire_parser_t *p)
{
    if (p->state == IM_WIRE_BODY_CLOSE) {
        p->state = IM_WIRE_DONE;
    }
    if (p->state == IM_WIRE_DONE) {
        return true;
    }
    if (p->state != IM_WIRE_FAILED) {
        fail(p, p->state == IM_WIRE_HEAD ? "the connection ended inside the reply headers"
                                         : "the connection ended before the end of the reply body");
    }
    return false;
}

/* ---- connections ----------------------------------------------------------------------- */

struct im_wire_conn {
    int fd;
    im_tls_t *tls;        /* NULL for plain connections */
    short pending_events; /* what the last EAGAIN waits for */
};

int im_wire_fd(const im_wire_conn_t *c)
{
    return c->fd;
}

short im_wire_poll_events(const im_wire_conn_t *c)
{
    return c->pending_events ? c->pending_events : POLLIN;
}

void im_wire_close(im_wire_conn_t *c)
{
    if (!c) {
        return;
    }
    if (c->tls) {
        // No close_notify: the engine learns of the end from the TCP close, and a
        // shutdown here could block on a full socket.
        im_tls_free(c->tls);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c);
}

static int poll_fd(int fd, short events, long timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n;
}

int im_wire_wait(im_wire_conn_t *c, short events, long timeout_ms)
{
    if (c->tls && (events & POLLIN) && im_tls_pending(c->tls)) {
        return 1;
    }
    return poll_fd(c->fd, events, timeout_ms);
}

/* Finishes a non-blocking connect() within timeout_ms. Returns 0 or an errno value. */
static int finish_connect(int fd, int result, long timeout_ms)
{
    int error = 0;
    socklen_t error_len = sizeof(error);

    if (result == 0) {
        return 0;
    }
    if (errno != EINPROGRESS) {
        return errno;
    }
    int n = poll_fd(fd, POLLOUT, timeout_ms);
    if (n == 0) {
        return ETIMEDOUT;
    }
    if (n < 0) {
        return errno;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0) {
        return errno;
    }
    return error;
}

static int connect_unix(const char *path, long timeout_ms, int *out)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return errno;
    }
    im_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    int error = finish_connect(fd, connect(fd, (struct sockaddr *)&addr, sizeof(addr)), timeout_ms);
    if (error) {
        close(fd);
        return error;
    }
    *out = fd;
    return 0;
}

/* Tries each address of host in turn until one accepts within the time left. Returns 0 or an
 * errno value; a name that does not resolve gives EHOSTUNREACH with the resolver's text in
 * err. */
static int connect_tcp(const char *host, int port, long timeout_ms, int *out, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *addresses = NULL;
    char port_text[8];
    int64_t deadline = im_monotonic_ms() + timeout_ms;
    int error = ECONNREFUSED;

    snprintf(port_text, sizeof(port_text), "%d", port);
    // NOTE: getaddrinfo blocks outside timeout_ms; a slow DNS server delays a host name.
    int gai = getaddrinfo(host, port_text, &hints, &addresses);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return EHOSTUNREACH;
    }
    for (struct addrinfo *a = addresses; a; a = a->ai_next) {
        long left = (long)(deadline - im_monotonic_ms());
        if (left <= 0) {
            error = ETIMEDOUT;
            break;
        }
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            error = errno;
            continue;
        }
        error = finish_connect(fd, connect(fd, a->ai_addr, a->ai_addrlen), left);
        if (error == 0) {
            int enabled = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &enabled, sizeof(enabled));
            *out = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(addresses);
    return error;
}

int im_wire_connect(const im_wire_target_t *target, long timeout_ms, im_wire_conn_t **out,
                    char *err, size_t errlen)
{
    int fd = -1;
    int error = 0;
    int64_t started = im_monotonic_ms();

    *out = NULL;
    err[0] = '\0';
    if (target->socket_path) {
        error = connect_unix(target->socket_path, timeout_ms, &fd);
    } else {
        error = connect_tcp(target->host, target->port, timeout_ms, &fd, err, errlen);
    }
    if (error) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "%s", error == ETIMEDOUT ? "timed out" : strerror(error));
        }
        return IM_EUNAVAILABLE;
    }

    im_wire_conn_t *c = im_calloc(1, sizeof(*c));
    c->fd = fd;
    if (target->tls) {
        long left = timeout_ms - (long)(im_monotonic_ms() - started);
        int rc = im_tls_connect(target->tls, fd, target->host, left > 0 ? left : 1, &c->tls, err,
                                errlen);
        if (rc) {
            im_wire_close(c);
            return rc;
        }
    }
    *out = c;
    return IM_OK;
}

/* Records what a TLS call that returned n waits for, as im_wire_poll_events reports it. */
static long tls_result(im_wire_conn_t *c, long n)
{
    c->pending_events = n < 0 && errno == EAGAIN ? im_tls_poll_events(c->tls) : 0;
    return n;
}

long im_wire_recv(im_wire_conn_t *c, void *buf, size_t len)
{
    if (c->tls) {
        return tls_result(c, im_tls_recv(c->tls, buf, len));
    }
    ssize_t n;
    do {
        n = recv(c->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    c->pending_events = 0;
    return (long)n;
}

long im_wire_send(im_wire_conn_t *c, const void *buf, size_t len)
{
    if (c->tls) {
        long n = tls_result(c, im_tls_send(c->tls, buf, len));
        return n == 0 ? (errno = EPIPE, -1) : n;
    }
    ssize_t n;
    do {
        n = send(c->fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    c->pending_events = n < 0 && errno == EAGAIN ? POLLOUT : 0;
    return (long)n;
}

int im_wire_send_all(im_wire_conn_t *c, const void *data, size_t len, long timeout_ms)
{
    const char *p = data;
    int64_t deadline = im_monotonic_ms() + timeout_ms;

    while (len > 0) {
        long n = im_wire_send(c, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            return IM_EUNAVAILABLE;
        }
        long left = (long)(deadline - im_monotonic_ms());
        if (left <= 0 || im_wire_wait(c, im_wire_poll_events(c), left) == 0) {
            errno = ETIMEDOUT;
            return IM_EUNAVAILABLE;
        }
    }
    return IM_OK;
}

bool im_wire_is_idle_open(im_wire_conn_t *c)
{
    char byte;

    if (c->tls && im_tls_pending(c->tls)) {
        return false;
    }
    if (poll_fd(c->fd, POLLIN, 0) == 0) {
        return true;
    }
    // Readable while idle: either the engine closed it or it sent unrequested bytes
    // (for TLS possibly a session ticket). Either way the connection is not reused.
    ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && errno == EAGAIN;
}

/* ---- one exchange ---------------------------------------------------------------------- */

void im_wire_format_request(const im_wire_request_t *req, im_buf_t *out)
{
    im_buf_appendf(out, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: InfraMon/%s\r\n", req->method,
                   req->target, req->host_header, IM_VERSION);
    if (req->json_body) {
        im_buf_appendf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                       strlen(req->json_body));
    } else if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        // The engine expects a length on POST even without a body.
        im_buf_appendf(out, "Content-Length: 0\r\n");
    }
    if (req->upgrade) {
        im_buf_appendf(out, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
    }
    im_buf_appendf(out, "\r\n");
    if (req->json_body) {
        im_buf_append(out, req->json_body, strlen(req->json_body));
    }
}

static long time_left_ms(const im_wire_options_t *opts, int64_t next_idle)
{
    int64_t now = im_monotonic_ms();
    int64_t until = next_idle;

    if (opts->deadline_ms > 0 && opts->deadline_ms < until) {
        until = opts->deadline_ms;
    }
    return until > now ? (long)(until - now) : 0;
}

/* Calls on_idle when a second has passed since the last call. Returns true when on_idle
 * returned nonzero. */
static bool idle_callback_stops(const im_wire_options_t *opts, int64_t *next_idle)
{
    if (im_monotonic_ms() < *next_idle) {
        return false;
    }
    *next_idle = im_monotonic_ms() + IDLE_INTERVAL_MS;
    return opts->on_idle && opts->on_idle(opts->ctx);
}

/* Reads and parses the reply until it is complete or something ends the exchange. */
static im_wire_outcome_t read_reply(im_wire_conn_t *c, im_wire_parser_t *p,
                                    const im_wire_handler_t *handler, const im_wire_options_t *opts,
                                    bool *reusable, char *err, size_t errlen)
{
    char buf[RECV_CHUNK];
    bool received = false;
    int64_t next_idle = im_monotonic_ms() + IDLE_INTERVAL_MS;

    for (;;) {
        long n = im_wire_recv(c, buf, sizeof(buf));
        if (n > 0) {
            received = true;
            size_t used = im_wire_parser_feed(p, handler, buf, (size_t)n);
            if (p->state == IM_WIRE_FAILED) {
                snprintf(err, errlen, "invalid reply: %s", p->error);
                return IM_WIRE_MALFORMED;
            }
            if (p->stopped || p->state == IM_WIRE_DONE) {
                if (opts->leftover) {
                    im_buf_append(opts->leftover, buf + used, (size_t)n - used);
                }
                *reusable = p->state == IM_WIRE_DONE && p->head.keep_alive && used == (size_t)n;
                return p->stopped ? IM_WIRE_STOPPED : IM_WIRE_OK;
            }
            // A stream that always has data never reaches the wait below, so the deadline
            // and on_idle are also checked after each read.
            if (opts->deadline_ms > 0 && im_monotonic_ms() >= opts->deadline_ms) {
                snprintf(err, errlen, "timed out in the middle of the reply");
                return IM_WIRE_TIMEOUT;
            }
            if (idle_callback_stops(opts, &next_idle)) {
                return IM_WIRE_STOPPED;
            }
            continue;
        }
        if (n == 0 || errno != EAGAIN) {
            int error = n == 0 ? 0 : errno;
            if (!received) {
                snprintf(err, errlen, "the engine closed the connection before replying%s%s",
                         error ? ": " : "", error ? strerror(error) : "");
                return IM_WIRE_CLOSED_UNANSWERED;
            }
            if (n == 0 && im_wire_parser_finish(p)) {
                return IM_WIRE_OK;
            }
            snprintf(err, errlen, "the engine closed the connection in the middle of the reply: %s",
                     error ? strerror(error) : p->error);
            return IM_WIRE_CLOSED;
        }

        if (opts->deadline_ms > 0 && im_monotonic_ms() >= opts->deadline_ms) {
            snprintf(err, errlen, "timed out");
            return IM_WIRE_TIMEOUT;
        }
        if (im_wire_wait(c, im_wire_poll_events(c), time_left_ms(opts, next_idle)) < 0) {
            snprintf(err, errlen, "poll failed: %s", strerror(errno));
            return IM_WIRE_CLOSED;
        }
        if (idle_callback_stops(opts, &next_idle)) {
            return IM_WIRE_STOPPED;
        }
    }
}

im_wire_outcome_t im_wire_exchange(im_wire_conn_t *c, const im_wire_request_t *req,
                                   const im_wire_handler_t *handler, const im_wire_options_t *opts,
                                   bool *reusable, char *err, size_t errlen)
{
    im_buf_t request;
    im_wire_parser_t parser;
    im_wire_outcome_t outcome;

    *reusable = false;
    im_buf_init(&request);
    im_wire_format_request(req, &request);
    long send_timeout = 24L * 3600 * 1000; // without a deadline, a day is the send limit
    if (opts->deadline_ms > 0) {
        int64_t left = opts->deadline_ms - im_monotonic_ms();
        send_timeout = left > 0 ? (long)left : 1;
    }
    if (im_wire_send_all(c, request.data, request.len, send_timeout) != IM_OK) {
        int error = errno;
        im_buf_release(&request);
        if (error == ETIMEDOUT) {
            snprintf(err, errlen, "timed out sending the request");
            return IM_WIRE_TIMEOUT;
        }
        snprintf(err, errlen, "the engine closed the connection before replying: %s",
                 strerror(error));
        return IM_WIRE_CLOSED_UNANSWERED;
    }
    im_buf_release(&request);

    im_wire_parser_init(&parser, strcmp(req->method, "HEAD") == 0);
    outcome = read_reply(c, &parser, handler, opts, reusable, err, errlen);
    im_wire_parser_release(&parser);
    return outcome;
}
