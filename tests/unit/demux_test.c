/* Tests of the stdout/stderr stream demultiplexer.
 *
 * The fixtures in fixtures/demux/ were recorded from dockerd 20.10.24 (API 1.41) with
 * curl --unix-socket: *.bin is the response body and *.headers the response headers.
 *   logs_multiplexed  GET /containers/{id}/logs of a non-TTY container that printed three
 *                     lines to each stream and a last line without a newline
 *   logs_tty          the same program in a TTY container (raw bytes, CR LF line ends)
 *   exec_big_frame    exec output of a 40,000-byte line: frames of 8,192 and 31,808 bytes
 *   exec_split_utf8   "café €\n" written in three pieces, so that both characters are
 *                     split across frames
 *   exec_invalid_utf8 invalid UTF-8 on stdout and a stderr line without a newline
 *   logs_long_line_timestamps
 *                     GET /containers/{id}/logs?timestamps=1 of a 40,000-byte line and
 *                     "after": the json-file driver stored the line in 16 KiB pieces, each
 *                     sent as a frame with its own timestamp prefix
 * Each is replayed whole, byte by byte and in uneven chunks, since the engine's reads
 * split frames anywhere. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engine/demux.h"

#define FIXTURES  "fixtures/demux/"
#define MAX_LINES 64

typedef struct {
    im_stream_kind_t stream;
    char *text;
    size_t len;
    bool complete;
} recorded_line_t;

typedef struct {
    recorded_line_t lines[MAX_LINES];
    size_t count;
    size_t stop_after; /* 0: never ask to stop */
    size_t chunk_bytes[3];
} recorder_t;

static int record_line(void *ctx, im_stream_kind_t stream, const char *line, size_t len,
                       bool complete)
{
    recorder_t *r = ctx;

    assert_true(r->count < MAX_LINES);
    assert_int_equal(line[len], '\0');
    r->lines[r->count].stream = stream;
    r->lines[r->count].text = im_strndup(line, len);
    r->lines[r->count].len = len;
    r->lines[r->count].complete = complete;
    r->count++;
    return r->stop_after && r->count >= r->stop_after;
}

static int record_chunk(void *ctx, im_stream_kind_t stream, const char *data, size_t len)
{
    recorder_t *r = ctx;
    r->chunk_bytes[stream] += len;
    return 0;
}

static void recorder_release(recorder_t *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->lines[i].text);
    }
    memset(r, 0, sizeof(*r));
}

static char *load_fixture(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *data = im_malloc((size_t)size);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return data;
}

/* Returns the Content-Type recorded with a fixture, or NULL. The caller frees it. */
static char *fixture_content_type(const char *name)
{
    char path[256];
    char line[512];
    char *type = NULL;

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        if (strncasecmp(line, "Content-Type: ", 14) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            type = im_strdup(line + 14);
        }
    }
    fclose(f);
    return type;
}

/* Replays data in pieces of chunk bytes (0: all at once) into a line demultiplexer. */
static int replay_lines(const char *data, size_t len, size_t chunk, im_demux_mode_t mode,
                        size_t max_line, recorder_t *r)
{
    im_demux_t d;
    int rc = IM_OK;

    im_demux_init_lines(&d, mode, max_line, record_line, r);
    for (size_t pos = 0; pos < len && rc == IM_OK;) {
        size_t n = chunk ? chunk : len;
        n = n < len - pos ? n : len - pos;
        rc = im_demux_feed(&d, data + pos, n);
        pos += n;
    }
    if (rc == IM_OK) {
        rc = im_demux_finish(&d);
    }
    im_demux_release(&d);
    return rc;
}

static void expect_line(const recorder_t *r, size_t index, im_stream_kind_t stream,
                        const char *text, bool complete)
{
    assert_true(index < r->count);
    assert_int_equal(r->lines[index].stream, stream);
    assert_string_equal(r->lines[index].text, text);
    assert_int_equal(r->lines[index].len, strlen(text));
    assert_int_equal(r->lines[index].complete, complete);
}

static const size_t chunk_sizes[] = {0, 1, 2, 3, 5, 7, 8, 9, 13, 4096};

static void check_multiplexed_logs(const recorder_t *r)
{
    assert_int_equal(r->count, 7);
    expect_line(r, 0, IM_STREAM_STDOUT, "out 1", true);
    expect_line(r, 1, IM_STREAM_STDOUT, "out 2", true);
    expect_line(r, 2, IM_STREAM_STDOUT, "out 3", true);
    expect_line(r, 3, IM_STREAM_STDERR, "err 1", true);
    expect_line(r, 4, IM_STREAM_STDERR, "err 2", true);
    expect_line(r, 5, IM_STREAM_STDERR, "err 3", true);
    expect_line(r, 6, IM_STREAM_STDOUT, "tail without newline", false);
}

static void test_logs_multiplexed_any_split(void **state)
{
    size_t len = 0;
    char *data = load_fixture("logs_multiplexed.bin", &len);

    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        recorder_t r = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_MULTIPLEXED, 0, &r),
                         IM_OK);
        check_multiplexed_logs(&r);
        recorder_release(&r);
    }
    free(data);
}

static void test_logs_without_content_type_sniffed(void **state)
{
    size_t len = 0;
    char *data = load_fixture("logs_multiplexed.bin", &len);
    char *type = fixture_content_type("logs_multiplexed.headers");

    // Like Podman, dockerd 20.10 sends no multiplexed-stream type here.
    assert_int_equal(im_demux_mode_for(type, false), IM_DEMUX_AUTO);
    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        recorder_t r = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_AUTO, 0, &r), IM_OK);
        check_multiplexed_logs(&r);
        recorder_release(&r);
    }
    free(type);
    free(data);
}

static void check_tty_logs(const recorder_t *r)
{
    assert_int_equal(r->count, 7);
    expect_line(r, 0, IM_STREAM_STDOUT, "out 1", true);
    expect_line(r, 1, IM_STREAM_STDOUT, "err 1", true);
    expect_line(r, 4, IM_STREAM_STDOUT, "out 3", true);
    expect_line(r, 5, IM_STREAM_STDOUT, "err 3", true);
    expect_line(r, 6, IM_STREAM_STDOUT, "tail without newline", false);
}

static void test_logs_tty_raw(void **state)
{
    size_t len = 0;
    char *data = load_fixture("logs_tty.bin", &len);

    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        recorder_t raw = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_RAW, 0, &raw), IM_OK);
        check_tty_logs(&raw);
        recorder_release(&raw);
        // Sniffing reaches the same result, since TTY output starts with text.
        recorder_t sniffed = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_AUTO, 0, &sniffed),
                         IM_OK);
        check_tty_logs(&sniffed);
        recorder_release(&sniffed);
    }
    free(data);
}

static void test_big_frame_one_line(void **state)
{
    size_t len = 0;
    char *data = load_fixture("exec_big_frame.bin", &len);
    char *expected = im_malloc(40001);

    memset(expected, 'x', 40000);
    expected[40000] = '\0';
    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        recorder_t r = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_AUTO, 0, &r), IM_OK);
        assert_int_equal(r.count, 2);
        expect_line(&r, 0, IM_STREAM_STDOUT, expected, true);
        expect_line(&r, 1, IM_STREAM_STDOUT, "after", true);
        recorder_release(&r);
    }
    free(expected);
    free(data);
}

static void test_long_line_split_in_pieces(void **state)
{
    size_t len = 0;
    char *data = load_fixture("exec_big_frame.bin", &len);
    recorder_t r = {0};

    assert_int_equal(replay_lines(data, len, 1000, IM_DEMUX_AUTO, 16384, &r), IM_OK);
    assert_int_equal(r.count, 4);
    assert_int_equal(r.lines[0].len, 16384);
    assert_false(r.lines[0].complete);
    assert_int_equal(r.lines[1].len, 16384);
    assert_false(r.lines[1].complete);
    assert_int_equal(r.lines[2].len, 40000 - 2 * 16384);
    assert_true(r.lines[2].complete);
    expect_line(&r, 3, IM_STREAM_STDOUT, "after", true);
    recorder_release(&r);
    free(data);
}

/* Replays with continuation timestamps stripped, as the logs endpoint reads. */
static int replay_log_lines(const char *data, size_t len, size_t chunk, recorder_t *r)
{
    im_demux_t d;
    int rc = IM_OK;

    im_demux_init_lines(&d, IM_DEMUX_AUTO, 0, record_line, r);
    im_demux_strip_continuation(&d);
    for (size_t pos = 0; pos < len && rc == IM_OK; pos += chunk) {
        size_t n = chunk < len - pos ? chunk : len - pos;
        rc = im_demux_feed(&d, data + pos, n);
    }
    if (rc == IM_OK) {
        rc = im_demux_finish(&d);
    }
    im_demux_release(&d);
    return rc;
}

static void test_long_log_line_pieces_joined(void **state)
{
    size_t len = 0;
    char *data = load_fixture("logs_long_line_timestamps.bin", &len);
    const char *timestamp = "2026-12-04T16:42:05.505531210Z ";
    size_t ts_len = strlen(timestamp);
    char *expected = im_malloc(ts_len + 40001);

    memcpy(expected, timestamp, ts_len);
    memset(expected + ts_len, 'x', 40000);
    expected[ts_len + 40000] = '\0';
    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        size_t chunk = chunk_sizes[i] ? chunk_sizes[i] : len;
        recorder_t r = {0};
        assert_int_equal(replay_log_lines(data, len, chunk, &r), IM_OK);
        assert_int_equal(r.count, 2);
        expect_line(&r, 0, IM_STREAM_STDOUT, expected, true);
        expect_line(&r, 1, IM_STREAM_STDOUT, "2026-12-04T16:42:05.505699958Z after", true);
        recorder_release(&r);
    }
    // Without stripping, the pieces' own timestamps end up inside the line.
    recorder_t plain = {0};
    assert_int_equal(replay_lines(data, len, 0, IM_DEMUX_AUTO, 0, &plain), IM_OK);
    assert_int_equal(plain.count, 2);
    assert_int_equal(plain.lines[0].len, 3 * ts_len + 40000);
    recorder_release(&plain);
    free(expected);
    free(data);
}

static void test_continuation_without_timestamp_kept(void **state)
{
    /* A continuation frame that does not start with a timestamp is passed on whole. */
    static const char data[] = "\x01\x00\x00\x00\x00\x00\x00\x04"
                               "abc "
                               "\x01\x00\x00\x00\x00\x00\x00\x08"
                               "not a ts"
                               "\x01\x00\x00\x00\x00\x00\x00\x02"
                               "x\n";
    recorder_t r = {0};

    assert_int_equal(replay_log_lines(data, sizeof(data) - 1, 1, &r), IM_OK);
    assert_int_equal(r.count, 1);
    expect_line(&r, 0, IM_STREAM_STDOUT, "abc not a tsx", true);
    recorder_release(&r);
}

static void test_utf8_split_across_frames(void **state)
{
    size_t len = 0;
    char *data = load_fixture("exec_split_utf8.bin", &len);

    for (size_t i = 0; i < IM_ARRAY_LEN(chunk_sizes); i++) {
        recorder_t r = {0};
        assert_int_equal(replay_lines(data, len, chunk_sizes[i], IM_DEMUX_AUTO, 0, &r), IM_OK);
        assert_int_equal(r.count, 1);
        expect_line(&r, 0, IM_STREAM_STDOUT, "caf\xc3\xa9 \xe2\x82\xac", true);
        recorder_release(&r);
    }
    free(data);
}

static void test_invalid_utf8_replaced(void **state)
{
    size_t len = 0;
    char *data = load_fixture("exec_invalid_utf8.bin", &len);
    recorder_t r = {0};

    assert_int_equal(replay_lines(data, len, 3, IM_DEMUX_AUTO, 0, &r), IM_OK);
    assert_int_equal(r.count, 2);
    // One U+FFFD per maximal invalid subpart: FF, FE, C0, AF, ED (A0 breaks it), A0, 80.
    expect_line(&r, 0, IM_STREAM_STDOUT,
                "bad \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end",
                true);
    expect_line(&r, 1, IM_STREAM_STDERR, "err no newline", false);
    recorder_release(&r);
    free(data);
}

static void test_sanitize_cases(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"a\0b", 3,
         "a\xef\xbf\xbd"
         "b"},
        {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},                 /* U+1F600 */
        {"\xf0\x9f\x98", 3, "\xef\xbf\xbd"},                         /* truncated at the end */
        {"\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
        {"\xf4\x90\x80\x80", 4,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
        {"\xc3(", 2, "\xef\xbf\xbd("},
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        im_buf_t out;
        im_buf_init(&out);
        im_utf8_sanitize(&out, cases[i].in, cases[i].len);
        im_buf_append(&out, "", 0);
        assert_string_equal(out.data, cases[i].out);
        im_buf_release(&out);
    }
}

static void test_chunks_mode_counts_bytes(void **state)
{
    size_t len = 0;
    char *data = load_fixture("exec_invalid_utf8.bin", &len);
    recorder_t r = {0};
    im_demux_t d;

    im_demux_init_chunks(&d, IM_DEMUX_AUTO, record_chunk, &r);
    for (size_t pos = 0; pos < len; pos++) {
        assert_int_equal(im_demux_feed(&d, data + pos, 1), IM_OK);
    }
    assert_int_equal(im_demux_finish(&d), IM_OK);
    assert_int_equal(r.chunk_bytes[IM_STREAM_STDOUT], 18);
    assert_int_equal(r.chunk_bytes[IM_STREAM_STDERR], 14);
    im_demux_release(&d);
    free(data);
}

static void test_mode_for_content_type(void **state)
{
    assert_int_equal(im_demux_mode_for("application/vnd.docker.multiplexed-stream", false),
                     IM_DEMUX_MULTIPLEXED);
    assert_int_equal(im_demux_mode_for("application/vnd.docker.raw-stream", false), IM_DEMUX_AUTO);
    assert_int_equal(im_demux_mode_for(NULL, false), IM_DEMUX_AUTO);
    assert_int_equal(im_demux_mode_for("application/vnd.docker.multiplexed-stream", true),
                     IM_DEMUX_RAW);
}

static void test_corrupt_header_rejected(void **state)
{
    static const char data[] = "\x01\x00\x00\x00\x00\x00\x00\x03"
                               "ok\n"
                               "\x07\x01\x00\x00\x00\x00\x00\x01"
                               "x";
    recorder_t r = {0};

    assert_int_equal(replay_lines(data, sizeof(data) - 1, 0, IM_DEMUX_MULTIPLEXED, 0, &r),
                     IM_EINVAL);
    assert_int_equal(r.count, 1);
    expect_line(&r, 0, IM_STREAM_STDOUT, "ok", true);
    recorder_release(&r);
}

static void test_truncated_frame_reported(void **state)
{
    static const char data[] = "\x02\x00\x00\x00\x00\x00\x00\x10"
                               "partial";
    recorder_t r = {0};

    assert_int_equal(replay_lines(data, sizeof(data) - 1, 0, IM_DEMUX_AUTO, 0, &r), IM_EINVAL);
    assert_int_equal(r.count, 1);
    expect_line(&r, 0, IM_STREAM_STDERR, "partial", false);
    recorder_release(&r);
}

static void test_short_stream_is_raw(void **state)
{
    recorder_t r = {0};

    assert_int_equal(replay_lines("hi", 2, 0, IM_DEMUX_AUTO, 0, &r), IM_OK);
    assert_int_equal(r.count, 1);
    expect_line(&r, 0, IM_STREAM_STDOUT, "hi", false);
    recorder_release(&r);
}

static void test_callback_stops_stream(void **state)
{
    size_t len = 0;
    char *data = load_fixture("logs_multiplexed.bin", &len);
    recorder_t r = {.stop_after = 2};

    assert_int_equal(replay_lines(data, len, 0, IM_DEMUX_AUTO, 0, &r), IM_ECONFLICT);
    assert_int_equal(r.count, 2);
    recorder_release(&r);
    free(data);
}

static void test_empty_frames_and_lines(void **state)
{
    static const char data[] = "\x01\x00\x00\x00\x00\x00\x00\x00"
                               "\x01\x00\x00\x00\x00\x00\x00\x02"
                               "\n\n";
    recorder_t r = {0};

    assert_int_equal(replay_lines(data, sizeof(data) - 1, 1, IM_DEMUX_AUTO, 0, &r), IM_OK);
    assert_int_equal(r.count, 2);
    expect_line(&r, 0, IM_STREAM_STDOUT, "", true);
    expect_line(&r, 1, IM_STREAM_STDOUT, "", true);
    recorder_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logs_multiplexed_any_split),
        cmocka_unit_test(test_logs_without_content_type_sniffed),
        cmocka_unit_test(test_logs_tty_raw),
        cmocka_unit_test(test_big_frame_one_line),
        cmocka_unit_test(test_long_line_split_in_pieces),
        cmocka_unit_test(test_long_log_line_pieces_joined),
        cmocka_unit_test(test_continuation_without_timestamp_kept),
        cmocka_unit_test(test_utf8_split_across_frames),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_sanitize_cases),
        cmocka_unit_test(test_chunks_mode_counts_bytes),
        cmocka_unit_test(test_mode_for_content_type),
        cmocka_unit_test(test_corrupt_header_rejected),
        cmocka_unit_test(test_truncated_frame_reported),
        cmocka_unit_test(test_short_stream_is_raw),
        cmocka_unit_test(test_callback_stops_stream),
        cmocka_unit_test(test_empty_frames_and_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
