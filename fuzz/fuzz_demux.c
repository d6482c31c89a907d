/* Fuzzes the stdout/stderr stream demultiplexer and its line layer, which parse whatever
 * the engine sends for logs, exec and attach streams. The first input byte picks the mode
 * and the read sizes, so that frames and characters are split at every position. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "engine/demux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_line(void *ctx, im_stream_kind_t stream, const char *line, size_t len,
                      bool complete)
{
    size_t *max_len = ctx;

    /* Every line is a C string of its length, no longer than the configured maximum. */
    if (line[len] != '\0' || strlen(line) != len || stream > IM_STREAM_STDERR ||
        len > *max_len * 3) {
        __builtin_trap();
    }
    return 0;
}

static int count_chunk(void *ctx, im_stream_kind_t stream, const char *data, size_t len)
{
    if (stream > IM_STREAM_STDERR || len == 0) {
        __builtin_trap();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t control = data[0];
    im_demux_mode_t mode = (im_demux_mode_t)(control % 3);
    size_t chunk = (size_t)(control >> 2) + 1;
    /* A small maximum line length makes the splitting paths reachable. */
    size_t max_line = (control & 0x80) ? 7 : 0;
    size_t effective_max = max_line ? max_line : IM_DEMUX_DEFAULT_MAX_LINE;
    im_demux_t d;

    data++;
    size--;
    if (control & 0x40) {
        im_demux_init_chunks(&d, mode, count_chunk, NULL);
    } else {
        im_demux_init_lines(&d, mode, max_line, check_line, &effective_max);
    }
    int rc = IM_OK;
    for (size_t pos = 0; pos < size && rc == IM_OK; pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        rc = im_demux_feed(&d, data + pos, n);
    }
    if (rc == IM_OK) {
        rc = im_demux_finish(&d);
    }
    im_demux_release(&d);
    return 0;
}
