#ifndef IM_ENGINE_DEMUX_H
#define IM_ENGINE_DEMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/*
 * Demultiplexer for the Engine API's attach, logs and exec streams.
 *
 * A container without a TTY sends its output multiplexed in frames. Each frame is an 8-byte
 * header followed by the payload. The header is the stream type (0 stdin, 1 stdout,
 * 2 stderr), three zero bytes and the payload size as a big-endian uint32. A container with a TTY
 * sends raw bytes with no headers. Docker labels the first with Content-Type
 * application/vnd.docker.multiplexed-stream (API 1.42 and later); older engines and Podman send no
 * such type, so the mode can also be decided by looking at the first 8 bytes.
 *
 * Frames may be split across reads, and one line may span many frames (the json-file log
 * driver cuts lines at 16 KiB). The line layer joins them, splits on '\n', drops a trailing
 * '\r' (TTY output), and replaces invalid UTF-8 with U+FFFD after joining, so a character
 * split across frames survives.
 */

#define IM_DEMUX_HEADER_SIZE 8
/* Lines longer than this are delivered in pieces of at most this many bytes. */
#define IM_DEMUX_DEFAULT_MAX_LINE ((size_t)64 * 1024)

typedef enum {
    IM_DEMUX_AUTO = 0,    /* decide from the first 8 bytes */
    IM_DEMUX_MULTIPLEXED, /* 8-byte frame headers */
    IM_DEMUX_RAW,         /* TTY: bytes as they are, reported as stdout */
} im_demux_mode_t;

typedef enum {
    IM_STREAM_STDIN = 0,
    IM_STREAM_STDOUT = 1,
    IM_STREAM_STDERR = 2,
} im_stream_kind_t;

/* Receives one payload chunk of a stream. Returns 0 to go on, nonzero to stop. */
typedef int (*im_demux_chunk_fn)(void *ctx, im_stream_kind_t stream, const char *data, size_t len);

/* Receives one line: valid UTF-8, without its '\n' (or '\r\n'), NUL-terminated at len.
 * complete is false for a piece of an over-long line and for a last line without a newline.
 * Returns 0 to go on, nonzero to stop. */
typedef int (*im_demux_line_fn)(void *ctx, im_stream_kind_t stream, const char *line, size_t len,
                                bool complete);

typedef struct {
    im_demux_mode_t mode;
    uint8_t header[IM_DEMUX_HEADER_SIZE];
    size_t header_len;
    uint32_t frame_left; /* payload bytes of the current frame still to come */
    im_stream_kind_t frame_stream;
    bool failed;
    bool stopped;
    /* Exactly one of these is set. */
    im_demux_chunk_fn on_chunk;
    im_demux_line_fn on_line;
    void *ctx;
    /* Line layer: the unfinished line of stdout and of stderr. */
    im_buf_t partial[3];
    size_t max_line;
    im_buf_t scratch; /* the sanitised copy of a line */
    /* Logs read with timestamps=1: a frame that continues an unfinished line starts with
     * the timestamp of its piece, which is dropped (see im_demux_strip_continuation). */
    bool strip_continuation;
    bool prefix_pending;
    bool line_open[3]; /* the last byte delivered on a stream was not a newline */
    char prefix[40];
    size_t prefix_len;
} im_demux_t;

/* Sets up a demultiplexer that reports payload chunks as they arrive (no line splitting,
 * no UTF-8 repair). */
void im_demux_init_chunks(im_demux_t *d, im_demux_mode_t mode, im_demux_chunk_fn on_chunk,
                          void *ctx);

/* Sets up a demultiplexer that reports whole lines. max_line 0 means
 * IM_DEMUX_DEFAULT_MAX_LINE. */
void im_demux_init_lines(im_demux_t *d, im_demux_mode_t mode, size_t max_line,
                         im_demux_line_fn on_line, void *ctx);

/* Makes a multiplexed log stream read with timestamps=1 come out as whole lines. The
 * json-file driver of dockerd 20.10 stores a line longer than 16 KiB as pieces, and the
 * logs endpoint sends each piece as a frame with its own "TIMESTAMP " prefix and no newline
 * until the last. With this set, the prefix of every frame that continues an unfinished
 * line is dropped, so the line keeps only its first timestamp.
 * NOTE: a TTY log has no frames, so its pieces keep their inner timestamps. */
void im_demux_strip_continuation(im_demux_t *d);

/* Frees the line buffers. */
void im_demux_release(im_demux_t *d);

/* Picks the mode for a response: RAW for a TTY container, MULTIPLEXED for
 * application/vnd.docker.multiplexed-stream, otherwise AUTO (sniffing). The raw-stream type
 * is not trusted, because dockerd 20.10 (API 1.41) sends it with multiplexed non-TTY exec
 * and attach streams. content_type may be NULL. */
im_demux_mode_t im_demux_mode_for(const char *content_type, bool tty);

/* Feeds bytes from the engine. Returns IM_OK, IM_EINVAL when a frame header is malformed
 * (the stream is not multiplexed after all, or is corrupt; nothing more is reported), or
 * IM_ECONFLICT when a callback asked to stop. */
int im_demux_feed(im_demux_t *d, const void *data, size_t len) IM_WARN_UNUSED;

/* Ends the stream: reports bytes held back for sniffing and each unfinished last line
 * (complete false). Returns as im_demux_feed() does; a stream that ends inside a frame
 * header or payload returns IM_EINVAL after reporting what it had. */
int im_demux_finish(im_demux_t *d) IM_WARN_UNUSED;

/* Returns true when an 8-byte prefix looks like a multiplexed frame header. */
bool im_demux_is_header(const uint8_t header[IM_DEMUX_HEADER_SIZE]);

/* Appends data to out with every invalid UTF-8 sequence (overlong forms, surrogates, code
 * points above U+10FFFF, truncated sequences) replaced by U+FFFD, one per maximal invalid
 * subpart as the Unicode standard recommends. NUL bytes are replaced too, so out stays a C
 * string. */
void im_utf8_sanitize(im_buf_t *out, const char *data, size_t len);

#endif
