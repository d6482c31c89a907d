#ifndef IM_HTTP_RATELIMIT_H
#define IM_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A per-client sliding-window request limiter with a fixed memory footprint: when the table
 * is full, the least recently seen client in the probed slots is evicted, so an attacker
 * spraying addresses cannot grow memory. */
typedef struct im_ratelimit im_ratelimit_t;

typedef struct {
    bool allowed;
    int limit;
    int remaining;
    int reset_seconds;       /* until the current window ends */
    int retry_after_seconds; /* when not allowed: until one more request would be allowed */
} im_ratelimit_result_t;

/* Creates a limiter of max_requests per window_seconds with room for capacity clients
 * (rounded up to a power of two). */
im_ratelimit_t *im_ratelimit_new(int max_requests, int window_seconds, size_t capacity);
void im_ratelimit_free(im_ratelimit_t *limiter);

/* Counts one request from the client whose 16-byte address is addr at now_ms and reports
 * whether it is within the limit. Thread-safe. */
void im_ratelimit_hit(im_ratelimit_t *limiter, const unsigned char addr[16], int64_t now_ms,
                      im_ratelimit_result_t *result);

/* Number of clients currently tracked (for tests and self-metrics). */
size_t im_ratelimit_size(im_ratelimit_t *limiter);

#endif
