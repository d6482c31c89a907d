/* Tests of the HTTP/1.1 reply parser that reads the engine's replies.
 *
 * Every reply is fed whole and then split into pieces of every size from 1 byte up, since
 * the engine's writes reach the socket in arbitrary pieces. Each case checks the outcome,
 * and hostile replies must fail with a message instead of crashing or buffering without
 * bound. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/util.h"
#include "engine/wire.h"

typedef struct {
    int heads;
    int status;
    char content_type[IM_WIRE_CONTENT_TYPE_SIZE];
    bool keep_alive;
    im_buf_t body;
} recorder_t;

typedef struct {
    im_wire_state_t state;
    bool done_after_finish;
    int status;
    bool keep_alive;
    size_t consumed; /* bytes the parser took from the input */
    char error[160];
} parse_result_t;

static int record_head(void *ctx, const im_wire_head_t *head)
{
    recorder_t *r = ctx;

    r->heads++;
    r->status = head->status;
    r->keep_alive = head->keep_alive;
    im_strlcpy(r->content_type, head->content_type, sizeof(r->content_type));
    return 0;
}

static int record_body(void *ctx, const char *data, size_t len)
{
    recorder_t *r = ctx;

    assert_true(len > 0);
    im_buf_append(&r->body, data, len);
    return 0;
}

/* Feeds len bytes in pieces of piece bytes (0: whole), then finish() when finish is set. */
static parse_result_t parse_in_pieces(const char *data, size_t len, size_t piece, bool finish,
                                      recorder_t *r)
{
    im_wire_parser_t p;
    im_wire_handler_t handler = {.on_head = record_head, .on_body = record_body, .ctx = r};
    parse_result_t result = {0};

    memset(r, 0, sizeof(*r));
    im_buf_init(&r->body);
    im_wire_parser_init(&p, false);
    if (piece == 0) {
        piece = len;
    }
    for (size_t pos = 0; pos < len; pos += piece) {
        size_t n = len - pos < piece ? len - pos : piece;
        size_t used = im_wire_parser_feed(&p, &handler, data + pos, n);
        result.consumed += used;
        if (p.state == IM_WIRE_DONE || p.state == IM_WIRE_FAILED) {
            break;
        }
        assert_int_equal(used, n);
    }
    result.done_after_finish = finish ? im_wire_parser_finish(&p) : p.state == IM_WIRE_DONE;
    result.state = p.state;
    result.status = p.head.status;
    result.keep_alive = p.head.keep_alive;
    im_strlcpy(result.error, p.error, sizeof(result.error));
    im_wire_parser_release(&p);
    return result;
}

/* Checks that every split of reply parses to status and body. */
static void expect_reply(const char *reply, size_t len, bool finish, int status, const char *body,
                         bool keep_alive)
{
    for (size_t piece = 0; piece <= len; piece++) {
        recorder_t r;
        parse_result_t result = parse_in_pieces(reply, len, piece, finish, &r);
        if (result.state != IM_WIRE_DONE) {
            print_error("piece size %zu: state %d, error \"%s\"\n", piece, result.state,
                        result.error);
        }
        assert_int_equal(result.state, IM_WIRE_DONE);
        assert_true(result.done_after_finish);
        assert_int_equal(r.heads, 1);
        assert_int_equal(r.status, status);
        assert_int_equal(r.keep_alive, keep_alive);
        assert_int_equal(r.body.len, strlen(body));
        if (r.body.len > 0) {
            assert_memory_equal(r.body.data, body, r.body.len);
        }
        im_buf_release(&r.body);
    }
}

/* Checks that every split of reply fails with an error containing message. */
static void expect_rejected(const char *reply, size_t len, const char *message)
{
    for (size_t piece = 0; piece <= len; piece++) {
        recorder_t r;
        parse_result_t result = parse_in_pieces(reply, len, piece, true, &r);
        assert_int_equal(result.state, IM_WIRE_FAILED);
        assert_false(result.done_after_finish);
        if (!strstr(result.error, message)) {
            print_error("piece size %zu: error \"%s\" lacks \"%s\"\n", piece, result.error,
                        message);
        }
        assert_non_null(strstr(result.error, message));
        im_buf_release(&r.body);
    }
}

#define EXPECT_REPLY(text, finish, status, body, keep_alive)                                       \
    expect_reply(text, sizeof(text) - 1, finish, status, body, keep_alive)
#define EXPECT_REJECTED(text, message) expect_rejected(text, sizeof(text) - 1, message)

static void content_length_body(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "content-length: 13\r\n\r\n{\"Id\":\"abc\"}\n",
                 false, 200, "{\"Id\":\"abc\"}\n", true);
}

static void content_type_recorded(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nCONTENT-TYPE:  application/vnd.docker."
                                "multiplexed-stream \t\r\nContent-Length: 0\r\n\r\n";
    recorder_t r;
    parse_result_t result = parse_in_pieces(reply, sizeof(reply) - 1, 1, false, &r);

    assert_int_equal(result.state, IM_WIRE_DONE);
    assert_string_equal(r.content_type, "application/vnd.docker.multiplexed-stream");
    im_buf_release(&r.body);
}

static void chunked_with_extensions_trailers(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                 "5;name=value\r\nhello\r\n"
                 "1A ; x=\"y\"\r\n, world of chunked bodies!\r\n"
                 "0\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
                 false, 200, "hello, world of chunked bodies!", true);
}

static void chunked_without_trailers(void **state)
{
    EXPECT_REPLY("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "b\r\n{\"x\":\"404\"}\r\n0\r\n\r\n",
                 false, 404, "{\"x\":\"404\"}", true);
}

static void close_delimited_body(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
                 "raw bytes until the end",
                 true, 200, "raw bytes until the end", false);
}

static void close_delimited_not_done_early(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\n\r\nmore to come";
    recorder_t r;
    parse_result_t result = parse_in_pieces(reply, sizeof(reply) - 1, 0, false, &r);

    assert_int_equal(result.state, IM_WIRE_BODY_CLOSE);
    assert_false(result.done_after_finish);
    im_buf_release(&r.body);
}

static void connection_close_not_reused(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nOK",
                 false, 200, "OK", false);
}

static void http10_keep_alive(void **state)
{
    EXPECT_REPLY("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK", false, 200, "OK", false);
    EXPECT_REPLY("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nOK", false,
                 200, "OK", true);
}

static void no_content_statuses(void **state)
{
    EXPECT_REPLY("HTTP/1.1 204 No Content\r\n\r\n", false, 204, "", true);
    EXPECT_REPLY("HTTP/1.1 304 Not Modified\r\n\r\n", false, 304, "", true);
}

static void head_request_has_no_body(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    im_wire_parser_t p;
    recorder_t r = {0};
    im_wire_handler_t handler = {.on_head = record_head, .on_body = record_body, .ctx = &r};

    im_buf_init(&r.body);
    im_wire_parser_init(&p, true);
    assert_int_equal(im_wire_parser_feed(&p, &handler, reply, sizeof(reply) - 1),
                     sizeof(reply) - 1);
    assert_int_equal(p.state, IM_WIRE_DONE);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    im_wire_parser_release(&p);
    im_buf_release(&r.body);
}

static void interim_replies_skipped(void **state)
{
    EXPECT_REPLY("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
                 "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n{}\r\n",
                 false, 201, "{}\r\n", true);
}

static void upgrade_leaves_stream_bytes(void **state)
{
    static const char head[] = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker."
                               "raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
    static const char reply[] = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker."
                                "raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                                "\x01\x00\x00\x00\x00\x00\x00\x03hi\n";

    for (size_t piece = 0; piece < sizeof(reply); piece++) {
        recorder_t r;
        parse_result_t result = parse_in_pieces(reply, sizeof(reply) - 1, piece, false, &r);
        assert_int_equal(result.state, IM_WIRE_DONE);
        assert_int_equal(r.status, 101);
        assert_false(r.keep_alive);
        assert_int_equal(r.body.len, 0);
        // The parser stops right after the headers, so the caller keeps the rest.
        assert_int_equal(result.consumed, sizeof(head) - 1);
        im_buf_release(&r.body);
    }
}

static void header_block_over_cap(void **state)
{
    im_buf_t reply;

    im_buf_init(&reply);
    im_buf_appendf(&reply, "HTTP/1.1 200 OK\r\n");
    while (reply.len <= IM_WIRE_HEAD_MAX) {
        im_buf_appendf(&reply, "X-Filler: %0100d\r\n", 0);
    }
    im_buf_appendf(&reply, "\r\n");
    for (size_t piece = 0; piece <= 64; piece += 7) {
        recorder_t r;
        parse_result_t result = parse_in_pieces(reply.data, reply.len, piece, true, &r);
        assert_int_equal(result.state, IM_WIRE_FAILED);
        assert_non_null(strstr(result.error, "longer than 65536 bytes"));
        assert_int_equal(r.heads, 0);
        im_buf_release(&r.body);
    }
    im_buf_release(&reply);
}

static void content_length_hostile(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "not a non-negative");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "too large");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                    "two different Content-Length");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "not a non-negative");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "empty");
}

static void content_length_repeated_same(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello", false,
                 200, "hello", true);
}

static void content_length_huge_not_allocated(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab";
    recorder_t r;
    parse_result_t result = parse_in_pieces(reply, sizeof(reply) - 1, 1, false, &r);

    // The parser passes the body on as it comes; the receiver applies its own size limit.
    assert_int_equal(result.state, IM_WIRE_BODY_LENGTH);
    assert_int_equal(r.body.len, 2);
    im_buf_release(&r.body);
}

static void chunk_size_hostile(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "10000000000000000\r\n",
                    "overflows");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                    "not a hexadecimal number");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nab\r\n",
                    "not a hexadecimal number");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2x\r\nab\r\n",
                    "not a hexadecimal number");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
                    "not followed by CRLF");
}

static void chunk_line_over_cap(void **state)
{
    im_buf_t reply;
    recorder_t r;

    im_buf_init(&reply);
    im_buf_appendf(&reply, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
    while (reply.len < 3 * IM_WIRE_LINE_MAX) {
        im_buf_appendf(&reply, "ext=value;");
    }
    parse_result_t result = parse_in_pieces(reply.data, reply.len, 1, true, &r);
    assert_int_equal(result.state, IM_WIRE_FAILED);
    assert_non_null(strstr(result.error, "chunk-size line is longer than"));
    im_buf_release(&r.body);
    im_buf_release(&reply);
}

static void missing_crlf_rejected(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\nContent-Length: 0\n\n", "does not end with CRLF");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: 0\rX\r\n\r\n", "does not end with CRLF");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n",
                    "does not end with CRLF");
}

static void nul_bytes_rejected(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nX-A: b\0c\r\n\r\n", "NUL byte");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\0\r\nab\r\n",
                    "NUL byte");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \0\r\n\r\n",
                    "NUL byte");
}

static void status_line_hostile(void **state)
{
    EXPECT_REJECTED("HTTP/2 200 OK\r\n\r\n", "HTTP/1.x status line");
    EXPECT_REJECTED("HTTP/1.1 20 OK\r\n\r\n", "three digits");
    EXPECT_REJECTED("HTTP/1.1 2000 OK\r\n\r\n", "three digits");
    EXPECT_REJECTED("HTTP/1.1 099 OK\r\n\r\n", "three digits");
    EXPECT_REJECTED("SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.x status line");
    EXPECT_REJECTED("\r\nHTTP/1.1 200 OK\r\n\r\n", "HTTP/1.x status line");
    EXPECT_REJECTED("HTTP/1.x 200 OK\r\n\r\n", "HTTP/1.x status line");
}

static void header_lines_hostile(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", "folded");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "no colon");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\n: value\r\n\r\n", "no colon");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nBad Name: value\r\n\r\n", "invalid character");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                    "other than chunked");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
                    "\r\n\r\n",
                    "other than chunked");
}

static void truncated_replies_fail(void **state)
{
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "before the end");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                    "before the end");
    EXPECT_REJECTED("HTTP/1.1 200 OK\r\nContent-Le", "inside the reply headers");
}

static void chunked_and_length_not_reused(void **state)
{
    EXPECT_REPLY("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nok\r\n0\r\n\r\n",
                 false, 200, "ok", false);
}

static int stop_at_head(void *ctx, const im_wire_head_t *head)
{
    return 1;
}

static void handler_stop_ends_feed(void **state)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\n\r\nraw stream bytes";
    im_wire_parser_t p;
    im_wire_handler_t handler = {.on_head = stop_at_head};

    im_wire_parser_init(&p, false);
    size_t used = im_wire_parser_feed(&p, &handler, reply, sizeof(reply) - 1);
    assert_true(p.stopped);
    assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\n\r\n"));
    im_wire_parser_release(&p);
}

static void request_format(void **state)
{
    im_buf_t out;
    im_wire_request_t post = {
        .method = "POST", .target = "/v1.45/containers/abc/start", .host_header = "localhost"};
    im_wire_request_t put = {.method = "PUT",
                             .target = "/v1.45/x",
                             .host_header = "[::1]:2376",
                             .json_body = "{\"a\":1}",
                             .upgrade = true};

    im_buf_init(&out);
    im_wire_format_request(&post, &out);
    assert_string_equal(out.data, "POST /v1.45/containers/abc/start HTTP/1.1\r\nHost: localhost\r\n"
                                  "User-Agent: InfraMon/" IM_VERSION "\r\n"
                                  "Content-Length: 0\r\n\r\n");
    im_buf_reset(&out);
    im_wire_format_request(&put, &out);
    assert_string_equal(out.data, "PUT /v1.45/x HTTP/1.1\r\nHost: [::1]:2376\r\n"
                                  "User-Agent: InfraMon/" IM_VERSION "\r\n"
                                  "Content-Type: application/json\r\nContent-Length: 7\r\n"
                                  "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n{\"a\":1}");
    assert_null(strstr(out.data, "Expect"));
    im_buf_release(&out);
}

/* ---- exchanges with a local engine that never stops sending ---- */

/* Maximum time the endless engine sends. A client that misses its deadline then gets
 * IM_WIRE_CLOSED in the middle of the reply instead of hanging the test. */
#define ENDLESS_SEND_SECONDS 5

typedef struct {
    int listener;
} endless_engine_t;

/* Accepts one connection, reads the request and sends a chunked reply without end until
 * the client goes away or ENDLESS_SEND_SECONDS pass. */
static void *serve_endless_reply(void *arg)
{
    endless_engine_t *engine = arg;
    static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    char chunk[4096 + 16];
    char request[4096];
    int fd = accept(engine->listener, NULL, NULL);

    if (fd < 0) {
        return NULL;
    }
    if (read(fd, request, sizeof(request)) <= 0 ||
        send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) < 0) {
        close(fd);
        return NULL;
    }
    int len = snprintf(chunk, sizeof(chunk), "1000\r\n");
    memset(chunk + len, 'x', 4096);
    memcpy(chunk + len + 4096, "\r\n", 2);
    size_t chunk_len = (size_t)len + 4096 + 2;
    int64_t until = im_monotonic_ms() + ENDLESS_SEND_SECONDS * 1000;
    while (im_monotonic_ms() < until && send(fd, chunk, chunk_len, MSG_NOSIGNAL) > 0) {
    }
    close(fd);
    return NULL;
}

/* Consumes the body slowly, so that the socket always has data waiting. */
static int slow_body(void *ctx, const char *data, size_t len)
{
    size_t *total = ctx;

    *total += len;
    usleep(1000);
    return 0;
}

static void deadline_cuts_endless_reply(void **state)
{
    char path[] = "/tmp/im-wire-test-XXXXXX";
    assert_non_null(mkdtemp(path));
    char socket_path[sizeof(path) + 16];
    snprintf(socket_path, sizeof(socket_path), "%s/engine.sock", path);

    endless_engine_t engine = {.listener = socket(AF_UNIX, SOCK_STREAM, 0)};
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    im_strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));
    assert_int_equal(bind(engine.listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(engine.listener, 1), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, serve_endless_reply, &engine), 0);

    im_wire_target_t target = {.socket_path = socket_path};
    im_wire_conn_t *conn = NULL;
    char err[256] = "";
    assert_int_equal(im_wire_connect(&target, 1000, &conn, err, sizeof(err)), IM_OK);
    size_t total = 0;
    im_wire_request_t request = {.method = "GET", .target = "/logs", .host_header = "docker"};
    im_wire_handler_t handler = {.on_body = slow_body, .ctx = &total};
    im_wire_options_t options = {.deadline_ms = im_monotonic_ms() + 300};
    bool reusable = true;
    im_wire_outcome_t outcome =
        im_wire_exchange(conn, &request, &handler, &options, &reusable, err, sizeof(err));

    assert_int_equal(outcome, IM_WIRE_TIMEOUT);
    assert_non_null(strstr(err, "timed out"));
    assert_false(reusable);
    assert_true(total > 0);
    im_wire_close(conn);
    pthread_join(thread, NULL);
    close(engine.listener);
    unlink(socket_path);
    rmdir(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_body),
        cmocka_unit_test(content_type_recorded),
        cmocka_unit_test(chunked_with_extensions_trailers),
        cmocka_unit_test(chunked_without_trailers),
        cmocka_unit_test(close_delimited_body),
        cmocka_unit_test(close_delimited_not_done_early),
        cmocka_unit_test(connection_close_not_reused),
        cmocka_unit_test(http10_keep_alive),
        cmocka_unit_test(no_content_statuses),
        cmocka_unit_test(head_request_has_no_body),
        cmocka_unit_test(interim_replies_skipped),
        cmocka_unit_test(upgrade_leaves_stream_bytes),
        cmocka_unit_test(header_block_over_cap),
        cmocka_unit_test(content_length_hostile),
        cmocka_unit_test(content_length_repeated_same),
        cmocka_unit_test(content_length_huge_not_allocated),
        cmocka_unit_test(chunk_size_hostile),
        cmocka_unit_test(chunk_line_over_cap),
        cmocka_unit_test(missing_crlf_rejected),
        cmocka_unit_test(nul_bytes_rejected),
        cmocka_unit_test(status_line_hostile),
        cmocka_unit_test(header_lines_hostile),
        cmocka_unit_test(truncated_replies_fail),
        cmocka_unit_test(chunked_and_length_not_reused),
        cmocka_unit_test(handler_stop_ends_feed),
        cmocka_unit_test(request_format),
        cmocka_unit_test(deadline_cuts_endless_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
