#ifndef IM_COLLECT_POINT_RING_H
#define IM_COLLECT_POINT_RING_H

/* A ring of the newest history points of one container (or the host), packed so that 100
 * containers' 15 minutes at 1 s cost about a megabyte instead of four.
 *
 * Points are stored in blocks of IM_POINT_BLOCK_POINTS. Inside a block each point is
 * written as its difference from the one before (the first from an all-zero point): a
 * LEB128 mask of the fields that changed, then one LEB128 number per changed field. Times
 * are stored as the change of the step between points, counters and the pid count as
 * zigzag-coded wrapping differences, and the float rates as the XOR of their bit patterns
 * with the previous ones. A steady point therefore takes two or three bytes, and decoding
 * gives back every bit of every field, NaN included.
 *
 * The ring drops its oldest whole block once the others contain capacity points, so it
 * stores up to capacity + IM_POINT_BLOCK_POINTS - 1 points. Copies return only the newest
 * capacity of them. Not thread-safe: the sampler's history lock guards it. */

#include <stddef.h>
#include <stdint.h>

#include "collect/sampler.h"

#define IM_POINT_BLOCK_POINTS 64

typedef struct {
    uint8_t *bytes;
    uint32_t used;      /* encoded bytes */
    uint32_t allocated; /* size of bytes */
    uint32_t count;     /* points in the block */
} im_point_block_t;

typedef struct {
    im_point_block_t *blocks; /* circular, allocated on the first push */
    size_t blocks_capacity;
    size_t first_block;
    size_t block_count;
    size_t capacity; /* points a copy returns at most */
    size_t count;    /* points stored in every block */
    im_sampler_point_t last; /* the newest point, which the next one is encoded against */
    int64_t last_step_ms;    /* time between the two newest points of the newest block */
} im_point_ring_t;

/* Appends point, dropping the oldest block once the rest hold capacity points. The capacity
 * is fixed by the first call. */
void im_point_ring_push(im_point_ring_t *ring, size_t capacity, const im_sampler_point_t *point);

/* Decodes the newest capacity points that are newer than since_ms, oldest first, into a new
 * array *out that the caller frees. Returns the count; *out is NULL when the ring is empty. */
size_t im_point_ring_copy(const im_point_ring_t *ring, int64_t since_ms, im_sampler_point_t **out);

/* Bytes the ring has allocated for its blocks. */
size_t im_point_ring_bytes(const im_point_ring_t *ring);

void im_point_ring_free(im_point_ring_t *ring);

#endif
