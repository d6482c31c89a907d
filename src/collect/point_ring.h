#ifndef IM_COLLECT_POINT_RING_H
#define IM_COLLECT_POINT_RING_H

/* A fixed-capacity ring of history points in a compact encoding. Each stored point keeps its
 * time and its five byte counters as signed 32-bit offsets from a base, a full 64-bit
 * reading that a run of points shares, and the memory limit only in that base. A point
 * whose offsets do not fit (a counter reset, a jump of 2 GiB or more, 24 days past the base
 * time, a new memory limit) starts a new base. Rates, percentages and the pid count are
 * kept as they are in im_sampler_point_t, so decoding returns every field unchanged. Not
 * thread-safe: the sampler's history lock guards it. */

#include <stddef.h>
#include <stdint.h>

#include "collect/sampler.h"

/* The full readings that the points of a run are offsets from. */
typedef struct {
    int64_t time_ms;
    uint64_t memory_limit;
    uint64_t counters[5]; /* memory used, network rx, network tx, block read, block write */
} im_point_base_t;

/* One stored point: 44 bytes, against 72 for im_sampler_point_t. */
typedef struct {
    int32_t time_offset_ms;
    float cpu_percent;
    float network_rx_rate;
    float network_tx_rate;
    uint32_t pids;
    int32_t counter_offsets[5];
    uint16_t base_sequence; /* low 16 bits of the base's sequence number */
} im_point_slot_t;

typedef struct {
    im_point_slot_t *slots; /* allocated on the first push */
    size_t capacity;
    size_t head; /* next slot to write */
    size_t count;
    /* Bases in creation order, oldest first, in a circular buffer that grows on demand. A
     * base lives while a stored point refers to it. */
    im_point_base_t *bases;
    size_t bases_capacity;
    size_t bases_first;
    size_t bases_count;
    uint32_t first_base_sequence; /* sequence number of bases[bases_first] */
} im_point_ring_t;

/* Appends point, overwriting the oldest one once the ring contains capacity points. The
 * capacity is fixed by the first call. */
void im_point_ring_push(im_point_ring_t *ring, size_t capacity, const im_sampler_point_t *point);

/* Decodes the points newer than since_ms, oldest first, into a new array *out (NULL when
 * the ring is empty; the caller frees it). Returns the count. */
size_t im_point_ring_copy(const im_point_ring_t *ring, int64_t since_ms, im_sampler_point_t **out);

/* Bytes the ring has allocated for slots and bases. */
size_t im_point_ring_bytes(const im_point_ring_t *ring);

void im_point_ring_free(im_point_ring_t *ring);

#endif
