#include "collect/point_ring.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Bits of a point's change mask, the fields that change most often first so that a
 * typical mask fits the first LEB128 byte. */
enum {
    FIELD_TIME,
    FIELD_CPU,
    FIELD_MEMORY_USED,
    FIELD_NETWORK_RX,
    FIELD_NETWORK_TX,
    FIELD_RX_RATE,
    FIELD_TX_RATE,
    FIELD_BLOCK_READ,
    FIELD_BLOCK_WRITE,
    FIELD_PIDS,
    FIELD_MEMORY_LIMIT,
    FIELD_COUNT
};

/* The largest encoded point: a mask and FIELD_COUNT numbers of up to 10 LEB128 bytes. */
#define MAX_POINT_BYTES (2 + FIELD_COUNT * 10)

static uint64_t zigzag(uint64_t diff)
{
    uint64_t sign = (diff >> 63) ? UINT64_MAX : 0;
    return (diff << 1) ^ sign;
}

static uint64_t unzigzag(uint64_t value)
{
    return (value >> 1) ^ (0 - (value & 1));
}

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static float bits_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static uint8_t *put_number(uint8_t *p, uint64_t value)
{
    while (value >= 0x80) {
        *p++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *p++ = (uint8_t)value;
    return p;
}

/* Reads one LEB128 number from [*p, end); false when the bytes run out first. */
static bool get_number(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    uint64_t result = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t byte = *(*p)++;
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return true;
        }
    }
    return false;
}

/* The per-field numbers of point against prev, whose step from the point before it was
 * prev_step. Differences are taken in wrapping unsigned arithmetic, so every value
 * round-trips, a counter reset or a clock set back included. */
static void point_numbers(const im_sampler_point_t *point, const im_sampler_point_t *prev,
                          uint64_t prev_step, uint64_t numbers[FIELD_COUNT], uint64_t *step)
{
    *step = (uint64_t)point->time_ms - (uint64_t)prev->time_ms;
    numbers[FIELD_TIME] = zigzag(*step - prev_step);
    numbers[FIELD_CPU] = float_bits(point->cpu_percent) ^ float_bits(prev->cpu_percent);
    numbers[FIELD_MEMORY_USED] = zigzag(point->memory_used - prev->memory_used);
    numbers[FIELD_NETWORK_RX] = zigzag(point->network_rx - prev->network_rx);
    numbers[FIELD_NETWORK_TX] = zigzag(point->network_tx - prev->network_tx);
    numbers[FIELD_RX_RATE] = float_bits(point->network_rx_rate) ^ float_bits(prev->network_rx_rate);
    numbers[FIELD_TX_RATE] = float_bits(point->network_tx_rate) ^ float_bits(prev->network_tx_rate);
    numbers[FIELD_BLOCK_READ] = zigzag(point->block_read - prev->block_read);
    numbers[FIELD_BLOCK_WRITE] = zigzag(point->block_write - prev->block_write);
    numbers[FIELD_PIDS] = zigzag((uint64_t)point->pids - (uint64_t)prev->pids);
    numbers[FIELD_MEMORY_LIMIT] = zigzag(point->memory_limit - prev->memory_limit);
}

/* The inverse of point_numbers: rebuilds *point from prev and the numbers. */
static void apply_numbers(im_sampler_point_t *point, const im_sampler_point_t *prev,
                          uint64_t prev_step, const uint64_t numbers[FIELD_COUNT],
                          uint64_t *step)
{
    *step = prev_step + unzigzag(numbers[FIELD_TIME]);
    point->time_ms = (int64_t)((uint64_t)prev->time_ms + *step);
    point->cpu_percent = bits_float(float_bits(prev->cpu_percent) ^ (uint32_t)numbers[FIELD_CPU]);
    point->memory_used = prev->memory_used + unzigzag(numbers[FIELD_MEMORY_USED]);
    point->network_rx = prev->network_rx + unzigzag(numbers[FIELD_NETWORK_RX]);
    point->network_tx = prev->network_tx + unzigzag(numbers[FIELD_NETWORK_TX]);
    point->network_rx_rate =
        bits_float(float_bits(prev->network_rx_rate) ^ (uint32_t)numbers[FIELD_RX_RATE]);
    point->network_tx_rate =
        bits_float(float_bits(prev->network_tx_rate) ^ (uint32_t)numbers[FIELD_TX_RATE]);
    point->block_read = prev->block_read + unzigzag(numbers[FIELD_BLOCK_READ]);
    point->block_write = prev->block_write + unzigzag(numbers[FIELD_BLOCK_WRITE]);
    point->pids = (uint32_t)(prev->pids + unzigzag(numbers[FIELD_PIDS]));
    point->memory_limit = prev->memory_limit + unzigzag(numbers[FIELD_MEMORY_LIMIT]);
}

static im_point_block_t *block_at(const im_point_ring_t *ring, size_t index)
{
    return &ring->blocks[(ring->first_block + index) % ring->blocks_capacity];
}

static void drop_oldest_block(im_point_ring_t *ring)
{
    im_point_block_t *oldest = block_at(ring, 0);
    ring->count -= oldest->count;
    free(oldest->bytes);
    memset(oldest, 0, sizeof(*oldest));
    ring->first_block = (ring->first_block + 1) % ring->blocks_capacity;
    ring->block_count--;
}

/* Returns the block the next point goes to, starting a new one when the newest is full. */
static im_point_block_t *writable_block(im_point_ring_t *ring)
{
    if (ring->block_count > 0) {
        im_point_block_t *newest = block_at(ring, ring->block_count - 1);
        if (newest->count < IM_POINT_BLOCK_POINTS) {
            return newest;
        }
        /* A full block no longer grows: hand its spare room back. */
        newest->bytes = im_realloc(newest->bytes, newest->used);
        newest->allocated = newest->used;
    }
    if (ring->block_count == ring->blocks_capacity) {
        drop_oldest_block(ring); /* unreachable with the capacity set in push */
    }
    ring->block_count++;
    im_point_block_t *block = block_at(ring, ring->block_count - 1);
    memset(block, 0, sizeof(*block));
    memset(&ring->last, 0, sizeof(ring->last));
    ring->last_step_ms = 0;
    return block;
}

void im_point_ring_push(im_point_ring_t *ring, size_t capacity, const im_sampler_point_t *point)
{
    if (!ring->blocks) {
        ring->capacity = capacity ? capacity : 1;
        /* The blocks holding capacity points, one partly dropped and one being written. */
        ring->blocks_capacity = ring->capacity / IM_POINT_BLOCK_POINTS + 3;
        ring->blocks = im_calloc(ring->blocks_capacity, sizeof(*ring->blocks));
    }
    im_point_block_t *block = writable_block(ring);
    if (block->allocated - block->used < MAX_POINT_BYTES) {
        size_t size = block->allocated ? (size_t)block->allocated * 2 : 4 * MAX_POINT_BYTES;
        block->bytes = im_realloc(block->bytes, size);
        block->allocated = (uint32_t)size;
    }

    uint64_t numbers[FIELD_COUNT];
    uint64_t step;
    point_numbers(point, &ring->last, (uint64_t)ring->last_step_ms, numbers, &step);
    uint64_t mask = 0;
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (numbers[i] != 0) {
            mask |= 1u << i;
        }
    }
    uint8_t *p = put_number(block->bytes + block->used, mask);
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (numbers[i] != 0) {
            p = put_number(p, numbers[i]);
        }
    }
    block->used = (uint32_t)(p - block->bytes);
    block->count++;
    ring->count++;
    ring->last = *point;
    ring->last_step_ms = (int64_t)step;

    while (ring->block_count > 1 && ring->count - block_at(ring, 0)->count >= ring->capacity) {
        drop_oldest_block(ring);
    }
}

/* Decodes the points of block into out, skipping the first *skip of them (and counting
 * *skip down) and those at or before since_ms. Returns the number written. */
static size_t decode_block(const im_point_block_t *block, int64_t since_ms, size_t *skip,
                           im_sampler_point_t *out)
{
    const uint8_t *p = block->bytes;
    const uint8_t *end = block->bytes + block->used;
    im_sampler_point_t prev = {0};
    uint64_t prev_step = 0;
    size_t written = 0;
    for (uint32_t i = 0; i < block->count; i++) {
        uint64_t mask;
        uint64_t numbers[FIELD_COUNT] = {0};
        if (!get_number(&p, end, &mask)) {
            break;
        }
        for (int f = 0; f < FIELD_COUNT; f++) {
            if ((mask & (1u << f)) && !get_number(&p, end, &numbers[f])) {
                return written;
            }
        }
        im_sampler_point_t point = {0};
        uint64_t step;
        apply_numbers(&point, &prev, prev_step, numbers, &step);
        prev = point;
        prev_step = step;
        if (*skip > 0) {
            (*skip)--;
        } else if (point.time_ms > since_ms) {
            out[written++] = point;
        }
    }
    return written;
}

size_t im_point_ring_copy(const im_point_ring_t *ring, int64_t since_ms, im_sampler_point_t **out)
{
    *out = NULL;
    if (ring->count == 0) {
        return 0;
    }
    size_t newest_count = ring->count < ring->capacity ? ring->count : ring->capacity;
    size_t skip = ring->count - newest_count;
    im_sampler_point_t *copy = im_malloc(newest_count * sizeof(*copy));
    size_t n = 0;
    for (size_t i = 0; i < ring->block_count; i++) {
        n += decode_block(block_at(ring, i), since_ms, &skip, copy + n);
    }
    *out = copy;
    return n;
}

size_t im_point_ring_bytes(const im_point_ring_t *ring)
{
    size_t bytes = ring->blocks_capacity * sizeof(*ring->blocks);
    for (size_t i = 0; i < ring->block_count; i++) {
        bytes += block_at(ring, i)->allocated;
    }
    return bytes;
}

void im_point_ring_free(im_point_ring_t *ring)
{
    for (size_t i = 0; i < ring->block_count; i++) {
        free(block_at(ring, i)->bytes);
    }
    free(ring->blocks);
    memset(ring, 0, sizeof(*ring));
}
