/* Stdout/stderr stream demultiplexer and the line layer on top of it. */
#include "engine/demux.h"

#include <string.h>
#include <strings.h>

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

void im_demux_init_chunks(im_demux_t *d, im_demux_mode_t mode, im_demux_chunk_fn on_chunk,
                          void *ctx)
{
    memset(d, 0, sizeof(*d));
    d->mode = mode;
    d->on_chunk = on_chunk;
    d->ctx = ctx;
    d->max_line = IM_DEMUX_DEFAULT_MAX_LINE;
    for (size_t i = 0; i < IM_ARRAY_LEN(d->partial); i++) {
        im_buf_init(&d->partial[i]);
    }
    im_buf_init(&d->scratch);
}

void im_demux_init_lines(im_demux_t *d, im_demux_mode_t mode, size_t max_line,
                         im_demux_line_fn on_line, void *ctx)
{
    im_demux_init_chunks(d, mode, NULL, ctx);
    d->on_line = on_line;
    d->max_line = max_line ? max_line : IM_DEMUX_DEFAULT_MAX_LINE;
}

void im_demux_strip_continuation(im_demux_t *d)
{
    d->strip_continuation = true;
}

void im_demux_release(im_demux_t *d)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(d->partial); i++) {
        im_buf_release(&d->partial[i]);
    }
    im_buf_release(&d->scratch);
}

im_demux_mode_t im_demux_mode_for(const char *content_type, bool tty)
{
    if (tty) {
        return IM_DEMUX_RAW;
    }
    if (content_type && strncasecmp(content_type, "application/vnd.docker.multiplexed-stream",
                                    strlen("application/vnd.docker.multiplexed-stream")) == 0) {
        return IM_DEMUX_MULTIPLEXED;
    }
    // Docker before API 1.42 labels multiplexed non-TTY streams raw-stream too, so any
    // other type is sniffed.
    return IM_DEMUX_AUTO;
}

bool im_demux_is_header(const uint8_t header[IM_DEMUX_HEADER_SIZE])
{
    return header[0] <= IM_STREAM_STDERR && header[1] == 0 && header[2] == 0 && header[3] == 0;
}

/* ---- UTF-8 repair ------------------------------------------------------------------------ */

/* Returns the length of the valid UTF-8 sequence at p (1 to 4), or 0 when invalid, in which
 * case *skip is the length of the maximal invalid subpart to replace. */
static size_t utf8_sequence(const unsigned char *p, size_t avail, size_t *skip)
{
    unsigned char c = p[0];
    size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;

    *skip = 1;
    if (c >= 0x01 && c <= 0x7F) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; // no overlong forms
        hi = c == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80; // no overlong forms
        hi = c == 0xF4 ? 0x8F : 0xBF; // nothing above U+10FFFF
    } else {
        return 0; // NUL, a stray continuation byte, C0, C1 or F5..FF
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned char min = i == 1 ? lo : 0x80;
        unsigned char max = i == 1 ? hi : 0xBF;
        if (i >= avail || p[i] < min || p[i] > max) {
            *skip = i;
            return 0;
        }
    }
    return need + 1;
}

void im_utf8_sanitize(im_buf_t *out, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t run_start = 0;
    size_t i = 0;

    while (i < len) {
        size_t skip = 0;
        size_t n = utf8_sequence(p + i, len - i, &skip);
        if (n) {
            i += n;
            continue;
        }
        im_buf_append(out, p + run_start, i - run_start);
        im_buf_append(out, REPLACEMENT, strlen(REPLACEMENT));
        i += skip;
        run_start = i;
    }
    im_buf_append(out, p + run_start, len - run_start);
}

/* ---- line layer -------------------------------------------------------------------------- */

static int emit_line(im_demux_t *d, im_stream_kind_t stream, const char *data, size_t len,
                     bool complete)
{
    if (complete && len > 0 && data[len - 1] == '\r') {
        len--;
    }
    im_buf_reset(&d->scratch);
    im_utf8_sanitize(&d->scratch, data, len);
    if (d->on_line(d->ctx, stream, d->scratch.data, d->scratch.len, complete)) {
        d->stopped = true;
        return IM_ECONFLICT;
    }
    return IM_OK;
}

/* Cuts a piece of at most max bytes that does not end inside a UTF-8 sequence. */
static size_t piece_length(const char *data, size_t max)
{
    size_t cut = max;
    for (int back = 0; back < 3 && cut > 0; back++) {
        unsigned char c = (unsigned char)data[cut];
        if ((c & 0xC0) != 0x80) {
            return cut;
        }
        cut--;
    }
    return cut > 0 ? cut : max;
}

/* Delivers over-long unfinished lines in pieces until what is left is short enough. */
static int flush_long_partial(im_demux_t *d, im_stream_kind_t stream)
{
    im_buf_t *partial = &d->partial[stream];
    size_t consumed = 0;
    int rc = IM_OK;

    while (partial->len - consumed > d->max_line) {
        size_t n = piece_length(partial->data + consumed, d->max_line);
        rc = emit_line(d, stream, partial->data + consumed, n, false);
        consumed += n;
        if (rc) {
            break;
        }
    }
    if (consumed) {
        memmove(partial->data, partial->data + consumed, partial->len - consumed);
        partial->len -= consumed;
        partial->data[partial->len] = '\0';
    }
    return rc;
}

static int deliver(im_demux_t *d, im_stream_kind_t stream, const char *data, size_t len)
{
    if (len > 0) {
        d->line_open[stream] = data[len - 1] != '\n';
    }
    if (d->on_chunk) {
        if (len && d->on_chunk(d->ctx, stream, data, len)) {
            d->stopped = true;
            return IM_ECONFLICT;
        }
        return IM_OK;
    }
    im_buf_t *partial = &d->partial[stream];
    while (len > 0) {
        const char *newline = memchr(data, '\n', len);
        if (!newline) {
            im_buf_append(partial, data, len);
            return flush_long_partial(d, stream);
        }
        size_t take = (size_t)(newline - data);
        int rc = IM_OK;
        if (partial->len == 0 && take <= d->max_line) {
            rc = emit_line(d, stream, data, take, true);
        } else {
            im_buf_append(partial, data, take);
            rc = flush_long_partial(d, stream);
            if (rc == IM_OK) {
                rc = emit_line(d, stream, partial->data, partial->len, true);
            }
            im_buf_reset(partial);
        }
        if (rc) {
            return rc;
        }
        data += take + 1;
        len -= take + 1;
    }
    return IM_OK;
}

/* ---- framing ----------------------------------------------------------------------------- */

/* Ends a held-back prefix: dropped when it is "TIMESTAMP ", otherwise delivered as data. */
static int finish_prefix(im_demux_t *d, bool saw_space)
{
    int64_t ignored = 0;

    d->prefix_pending = false;
    if (saw_space) {
        d->prefix[d->prefix_len - 1] = '\0';
        if (im_time_parse_rfc3339(d->prefix, &ignored)) {
            return IM_OK;
        }
        d->prefix[d->prefix_len - 1] = ' ';
    }
    return deliver(d, d->frame_stream, d->prefix, d->prefix_len);
}

/* Passes frame payload on, holding back the first bytes of a continuation frame until it is
 * clear whether they are a timestamp prefix. */
static int deliver_payload(im_demux_t *d, const char *data, size_t len, bool frame_ends)
{
    while (d->prefix_pending && len > 0) {
        char c = *data++;
        len--;
        d->prefix[d->prefix_len++] = c;
        if (c == ' ' || d->prefix_len == sizeof(d->prefix) - 1) {
            int rc = finish_prefix(d, c == ' ');
            if (rc) {
                return rc;
            }
        }
    }
    if (d->prefix_pending && frame_ends) {
        int rc = finish_prefix(d, false);
        if (rc) {
            return rc;
        }
    }
    return len ? deliver(d, d->frame_stream, data, len) : IM_OK;
}

static int feed_multiplexed(im_demux_t *d, const uint8_t *p, size_t len)
{
    while (len > 0) {
        if (d->frame_left == 0) {
            size_t take = IM_DEMUX_HEADER_SIZE - d->header_len;
            take = take < len ? take : len;
            memcpy(d->header + d->header_len, p, take);
            d->header_len += take;
            p += take;
            len -= take;
            if (d->header_len < IM_DEMUX_HEADER_SIZE) {
                return IM_OK;
            }
            if (!im_demux_is_header(d->header)) {
                d->failed = true;
                return IM_EINVAL;
            }
            d->header_len = 0;
            d->frame_stream = (im_stream_kind_t)d->header[0];
            d->frame_left = (uint32_t)d->header[4] << 24 | (uint32_t)d->header[5] << 16 |
                            (uint32_t)d->header[6] << 8 | (uint32_t)d->header[7];
            d->prefix_pending = d->strip_continuation && d->on_line && d->frame_left > 0 &&
                                d->line_open[d->frame_stream];
            d->prefix_len = 0;
            continue;
        }
        size_t take = d->frame_left < len ? d->frame_left : len;
        d->frame_left -= (uint32_t)take;
        int rc = deliver_payload(d, (const char *)p, take, d->frame_left == 0);
        if (rc) {
            return rc;
        }
        p += take;
        len -= take;
    }
    return IM_OK;
}

int im_demux_feed(im_demux_t *d, const void *data, size_t len)
{
    const uint8_t *p = data;

    if (d->failed) {
        return IM_EINVAL;
    }
    if (d->stopped) {
        return IM_ECONFLICT;
    }
    if (d->mode == IM_DEMUX_AUTO) {
        // Hold the first bytes back in the header buffer until 8 have arrived.
        size_t take = IM_DEMUX_HEADER_SIZE - d->header_len;
        take = take < len ? take : len;
        memcpy(d->header + d->header_len, p, take);
        d->header_len += take;
        p += take;
        len -= take;
        if (d->header_len < IM_DEMUX_HEADER_SIZE) {
            return IM_OK;
        }
        uint8_t first[IM_DEMUX_HEADER_SIZE];
        memcpy(first, d->header, sizeof(first));
        d->header_len = 0;
        d->mode = im_demux_is_header(first) ? IM_DEMUX_MULTIPLEXED : IM_DEMUX_RAW;
        int rc = im_demux_feed(d, first, sizeof(first));
        if (rc) {
            return rc;
        }
    }
    if (d->mode == IM_DEMUX_RAW) {
        return deliver(d, IM_STREAM_STDOUT, (const char *)p, len);
    }
    return feed_multiplexed(d, p, len);
}

int im_demux_finish(im_demux_t *d)
{
    int rc = IM_OK;
    bool truncated = false;

    if (d->failed) {
        return IM_EINVAL;
    }
    if (d->stopped) {
        return IM_ECONFLICT;
    }
    if (d->mode == IM_DEMUX_AUTO && d->header_len > 0) {
        // Fewer than 8 bytes in all: too short to be a frame, so they are raw output.
        d->mode = IM_DEMUX_RAW;
        size_t held = d->header_len;
        d->header_len = 0;
        rc = deliver(d, IM_STREAM_STDOUT, (const char *)d->header, held);
        if (rc) {
            return rc;
        }
    }
    truncated = d->mode == IM_DEMUX_MULTIPLEXED && (d->header_len > 0 || d->frame_left > 0);
    for (int stream = IM_STREAM_STDOUT; d->on_line && stream <= IM_STREAM_STDERR; stream++) {
        im_buf_t *partial = &d->partial[stream];
        if (partial->len == 0) {
            continue;
        }
        rc = emit_line(d, (im_stream_kind_t)stream, partial->data, partial->len, false);
        im_buf_reset(partial);
        if (rc) {
            return rc;
        }
    }
    return truncated ? IM_EINVAL : IM_OK;
}
