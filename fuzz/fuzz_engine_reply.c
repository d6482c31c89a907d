/* Fuzzes the HTTP/1.1 reply parser that reads everything the engine sends back. The first
 * input byte picks the read size and whether the request was HEAD, so that the header block,
 * chunk framing and trailers are split at every position. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "engine/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_head(void *ctx, const im_wire_head_t *head)
{
    if (head->status < 100 || head->status > 999 || head->minor_version > 9 ||
        strlen(head->content_type) >= sizeof(head->content_type)) {
        __builtin_trap();
    }
    return 0;
}

static int count_body(void *ctx, const char *data, size_t len)
{
    size_t *total = ctx;

    if (len == 0) {
        __builtin_trap();
    }
    *total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t control = data[0];
    size_t chunk = (size_t)(control & 0x7f) + 1;
    size_t body_bytes = 0;
    im_wire_parser_t p;
    im_wire_handler_t handler = {.on_head = check_head, .on_body = count_body, .ctx = &body_bytes};

    data++;
    size--;
    im_wire_parser_init(&p, (control & 0x80) != 0);
    for (size_t pos = 0; pos < size; pos += chunk) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        size_t used = im_wire_parser_feed(&p, &handler, (const char *)data + pos, n);
        if (used > n || (used < n && p.state != IM_WIRE_DONE && p.state != IM_WIRE_FAILED)) {
            __builtin_trap();
        }
        if (p.state == IM_WIRE_DONE || p.state == IM_WIRE_FAILED) {
            break;
        }
    }
    im_wire_parser_finish(&p);
    /* The parser buffers at most one header block or line, and never more body than it got. */
    if (p.line.len > IM_WIRE_HEAD_MAX || body_bytes > size) {
        __builtin_trap();
    }
    im_wire_parser_release(&p);
    return 0;
}
