#include "collect/point_ring.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define COUNTER_COUNT 5

static void point_counters(const im_sampler_point_t *point, uint64_t out[COUNTER_COUNT])
{
    out[0] = point->memory_used;
    out[1] = point->network_rx;
    out[2] = point->network_tx;
    out[3] = point->block_read;
    out[4] = point->block_write;
}

/* Stores value - base in *offset when it fits in an int32_t, in two's complement arithmetic
 * so that no step overflows. */
static bool offset_fits(uint64_t value, uint64_t base, int32_t *offset)
{
    if (value >= base) {
        uint64_t diff = value - base;
        if (diff > (uint64_t)INT32_MAX) {
            return false;
        }
        *offset = (int32_t)diff;
        return true;
    }
    uint64_t diff = base - value;
    if (diff > (uint64_t)INT32_MAX + 1) {
        return false;
    }
    *offset = (int32_t)(-(int64_t)diff);
    return true;
}

static bool time_fits(int64_t time_ms, int64_t base_ms, int32_t *offset)
{
    /* Both are wall-clock milliseconds, far from the int64_t limits, so the subtraction
     * cannot overflow. */
    int64_t diff = time_ms - base_ms;
    if (diff < INT32_MIN || diff > INT32_MAX) {
        return false;
    }
    *offset = (int32_t)diff;
    return true;
}

static im_point_base_t *base_at(const im_point_ring_t *ring, size_t index)
{
    return &ring->bases[(ring->bases_first + index) % ring->bases_capacity];
}

/* Fills slot's offsets from the newest base; false when a field does not fit. */
static bool encode_offsets(const im_point_ring_t *ring, const im_sampler_point_t *point,
                           im_point_slot_t *slot)
{
    if (ring->bases_count == 0) {
        return false;
    }
    const im_point_base_t *base = base_at(ring, ring->bases_count - 1);
    if (base->memory_limit != point->memory_limit) {
        return false;
    }
    if (!time_fits(point->time_ms, base->time_ms, &slot->time_offset_ms)) {
        return false;
    }
    uint64_t counters[COUNTER_COUNT];
    point_counters(point, counters);
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        if (!offset_fits(counters[i], base->counters[i], &slot->counter_offsets[i])) {
            return false;
        }
    }
    return true;
}

static void append_base(im_point_ring_t *ring, const im_sampler_point_t *point)
{
    if (ring->bases_count == ring->bases_capacity) {
        size_t capacity = ring->bases_capacity ? ring->bases_capacity * 2 : 1;
        im_point_base_t *bases = im_malloc(capacity * sizeof(*bases));
        for (size_t i = 0; i < ring->bases_count; i++) {
            bases[i] = *base_at(ring, i);
        }
        free(ring->bases);
        ring->bases = bases;
        ring->bases_capacity = capacity;
        ring->bases_first = 0;
    }
    im_point_base_t *base = base_at(ring, ring->bases_count);
    base->time_ms = point->time_ms;
    base->memory_limit = point->memory_limit;
    point_counters(point, base->counters);
    ring->bases_count++;
}

static size_t oldest_slot(const im_point_ring_t *ring)
{
    return (ring->head + ring->capacity - ring->count) % ring->capacity;
}

/* Drops the bases older than the one the oldest stored point refers to. */
static void drop_unused_bases(im_point_ring_t *ring)
{
    uint16_t oldest = ring->slots[oldest_slot(ring)].base_sequence;
    while (ring->bases_count > 1 && (uint16_t)ring->first_base_sequence != oldest) {
        ring->bases_first = (ring->bases_first + 1) % ring->bases_capacity;
        ring->bases_count--;
        ring->first_base_sequence++;
    }
}

void im_point_ring_push(im_point_ring_t *ring, size_t capacity, const im_sampler_point_t *point)
{
    if (!ring->slots) {
        ring->slots = im_calloc(capacity, sizeof(*ring->slots));
        ring->capacity = capacity;
    }
    im_point_slot_t slot = {
        .cpu_percent = point->cpu_percent,
        .network_rx_rate = point->network_rx_rate,
        .network_tx_rate = point->network_tx_rate,
        .pids = point->pids,
    };
    if (!encode_offsets(ring, point, &slot)) {
        append_base(ring, point);
        bool fits = encode_offsets(ring, point, &slot);
        (void)fits; /* a point always fits the base made from it, with all offsets 0 */
    }
    slot.base_sequence = (uint16_t)(ring->first_base_sequence + ring->bases_count - 1);
    ring->slots[ring->head] = slot;
    ring->head = (ring->head + 1) % ring->capacity;
    if (ring->count < ring->capacity) {
        ring->count++;
    }
    drop_unused_bases(ring);
}

static void decode_slot(const im_point_ring_t *ring, const im_point_slot_t *slot,
                        im_sampler_point_t *out)
{
    /* At most capacity bases are alive, far fewer than 65536, so the 16-bit difference
     * identifies the base. */
    uint16_t index = (uint16_t)(slot->base_sequence - (uint16_t)ring->first_base_sequence);
    const im_point_base_t *base = base_at(ring, index);
    uint64_t counters[COUNTER_COUNT];
    for (size_t i = 0; i < COUNTER_COUNT; i++) {
        /* Adding the sign-extended offset in unsigned arithmetic undoes offset_fits. */
        counters[i] = base->counters[i] + (uint64_t)(int64_t)slot->counter_offsets[i];
    }
    *out = (im_sampler_point_t){
        .time_ms = base->time_ms + slot->time_offset_ms,
        .cpu_percent = slot->cpu_percent,
        .network_rx_rate = slot->network_rx_rate,
        .network_tx_rate = slot->network_tx_rate,
        .pids = slot->pids,
        .memory_used = counters[0],
        .memory_limit = base->memory_limit,
        .network_rx = counters[1],
        .network_tx = counters[2],
        .block_read = counters[3],
        .block_write = counters[4],
    };
}

size_t im_point_ring_copy(const im_point_ring_t *ring, int64_t since_ms, im_sampler_point_t **out)
{
    *out = NULL;
    if (ring->count == 0) {
        return 0;
    }
    im_sampler_point_t *copy = im_malloc(ring->count * sizeof(*copy));
    size_t n = 0;
    size_t start = oldest_slot(ring);
    for (size_t i = 0; i < ring->count; i++) {
        decode_slot(ring, &ring->slots[(start + i) % ring->capacity], &copy[n]);
        if (copy[n].time_ms > since_ms) {
            n++;
        }
    }
    *out = copy;
    return n;
}

size_t im_point_ring_bytes(const im_point_ring_t *ring)
{
    return ring->capacity * sizeof(*ring->slots) + ring->bases_capacity * sizeof(*ring->bases);
}

void im_point_ring_free(im_point_ring_t *ring)
{
    free(ring->slots);
    free(ring->bases);
    memset(ring, 0, sizeof(*ring));
}
