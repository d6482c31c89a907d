/* Tests of the packed in-memory history ring. Every bit of every field of a point must
 * survive the encoding: counters near 2^64, counter resets, large jumps, NaN and infinite
 * rates, memory limit changes, long gaps and a clock set back. Copies return only the
 * newest capacity points, and a steady point costs a few bytes. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collect/point_ring.h"

#define START_MS ((int64_t)1767225600000) /* 2026-01-01T00:00:00Z */

static im_sampler_point_t make_point(int64_t time_ms, uint64_t counter)
{
    im_sampler_point_t point = {
        .time_ms = time_ms,
        .cpu_percent = 12.5f,
        .network_rx_rate = 1000.0f,
        .network_tx_rate = 2000.0f,
        .pids = 7,
        .memory_used = counter + 1,
        .memory_limit = 512ull << 20,
        .network_rx = counter + 2,
        .network_tx = counter + 3,
        .block_read = counter + 4,
        .block_write = counter + 5,
    };
    return point;
}

static void assert_point_equal(const im_sampler_point_t *expected, const im_sampler_point_t *got)
{
    assert_int_equal(got->time_ms, expected->time_ms);
    assert_memory_equal(&got->cpu_percent, &expected->cpu_percent, sizeof(float));
    assert_memory_equal(&got->network_rx_rate, &expected->network_rx_rate, sizeof(float));
    assert_memory_equal(&got->network_tx_rate, &expected->network_tx_rate, sizeof(float));
    assert_int_equal(got->pids, expected->pids);
    assert_int_equal(got->memory_used, expected->memory_used);
    assert_int_equal(got->memory_limit, expected->memory_limit);
    assert_int_equal(got->network_rx, expected->network_rx);
    assert_int_equal(got->network_tx, expected->network_tx);
    assert_int_equal(got->block_read, expected->block_read);
    assert_int_equal(got->block_write, expected->block_write);
}

/* Pushes points into a ring of capacity and checks that copying returns them unchanged. */
static void check_round_trip(const im_sampler_point_t *points, size_t count, size_t capacity)
{
    im_point_ring_t ring = {0};
    for (size_t i = 0; i < count; i++) {
        im_point_ring_push(&ring, capacity, &points[i]);
    }
    im_sampler_point_t *copy = NULL;
    size_t n = im_point_ring_copy(&ring, 0, &copy);
    size_t kept = count < capacity ? count : capacity;
    assert_int_equal(n, kept);
    for (size_t i = 0; i < n; i++) {
        assert_point_equal(&points[count - kept + i], &copy[i]);
    }
    free(copy);
    im_point_ring_free(&ring);
}

/* A point of an idle container: the clock jitters by a few milliseconds and nothing
 * else moves, except the network counters now and then. */
static void test_steady_points_are_small(void **state)
{
    (void)state;
    enum { COUNT = 900 };
    im_point_ring_t ring = {0};
    int64_t time_ms = START_MS;
    for (int i = 0; i < COUNT; i++) {
        time_ms += 1000 + (i % 7) - 3;
        im_sampler_point_t point = make_point(time_ms, (uint64_t)(i / 60) * 1500);
        im_point_ring_push(&ring, COUNT, &point);
    }
    size_t bytes = im_point_ring_bytes(&ring);
    /* An im_sampler_point_t takes 72 bytes. */
    assert_true(bytes < COUNT * 4);
    assert_true(bytes > COUNT); /* every point takes at least its mask and time */
    im_point_ring_free(&ring);
}

static void test_empty_ring(void **state)
{
    (void)state;
    im_point_ring_t ring = {0};
    im_sampler_point_t *copy = (im_sampler_point_t *)&ring;
    assert_int_equal(im_point_ring_copy(&ring, 0, &copy), 0);
    assert_null(copy);
    im_point_ring_free(&ring);
}

static void test_large_counters(void **state)
{
    (void)state;
    im_sampler_point_t points[4];
    for (int i = 0; i < 4; i++) {
        points[i] = make_point(START_MS + i * 1000, UINT64_MAX - 100 + (uint64_t)i * 10);
    }
    points[3].block_write = UINT64_MAX;
    check_round_trip(points, 4, 10);
}

static void test_counter_reset(void **state)
{
    (void)state;
    im_sampler_point_t points[3] = {
        make_point(START_MS, 50ull << 32),
        make_point(START_MS + 1000, 0),
        make_point(START_MS + 2000, 10),
    };
    check_round_trip(points, 3, 10);
}

static void test_offset_limits(void **state)
{
    (void)state;
    uint64_t base = 1ull << 40;
    im_sampler_point_t points[5] = {
        make_point(START_MS, base),
        make_point(START_MS + 1000, base + INT32_MAX),
        make_point(START_MS + 2000, base - (uint64_t)INT32_MAX - 1),
        make_point(START_MS + 3000, base + (uint64_t)INT32_MAX + 1),
        make_point(START_MS + 4000, UINT64_MAX), /* the largest backward step next */
    };
    check_round_trip(points, 5, 10);
}

static void test_nan_and_absent_values(void **state)
{
    (void)state;
    im_sampler_point_t points[2] = {make_point(START_MS, 0), make_point(START_MS + 1000, 0)};
    points[0].network_rx_rate = NAN;
    points[0].cpu_percent = -1.0f;
    points[1].cpu_percent = INFINITY;
    points[1].memory_used = 0;
    points[1].memory_limit = 0;
    points[1].pids = UINT32_MAX;
    check_round_trip(points, 2, 10);

    im_point_ring_t ring = {0};
    im_point_ring_push(&ring, 10, &points[0]);
    im_sampler_point_t *copy = NULL;
    assert_int_equal(im_point_ring_copy(&ring, 0, &copy), 1);
    assert_true(isnan(copy[0].network_rx_rate));
    free(copy);
    im_point_ring_free(&ring);
}

static void test_limit_change_and_time_gap(void **state)
{
    (void)state;
    im_sampler_point_t points[4] = {
        make_point(START_MS, 100),
        make_point(START_MS + 1000, 200),
        make_point(START_MS + 1000 + 30LL * 24 * 3600 * 1000, 300), /* 30 days later */
        make_point(START_MS + 2000 + 30LL * 24 * 3600 * 1000, 400),
    };
    points[1].memory_limit = 0;
    points[2].time_ms = START_MS - 5000; /* a clock set back */
    check_round_trip(points, 4, 10);
}

static void test_wrap_keeps_newest_capacity(void **state)
{
    (void)state;
    /* A capacity that is not a multiple of the block size, pushed past it many times. */
    enum { CAPACITY = 100, COUNT = 1000 };
    im_sampler_point_t points[COUNT];
    for (int i = 0; i < COUNT; i++) {
        /* Every third point resets the counters. */
        uint64_t counter = (i % 3 == 0) ? 0 : (uint64_t)i << 34;
        points[i] = make_point(START_MS + i * 1000, counter);
    }
    im_point_ring_t ring = {0};
    for (int i = 0; i < COUNT; i++) {
        im_point_ring_push(&ring, CAPACITY, &points[i]);
        assert_true(ring.block_count <= ring.blocks_capacity);
        assert_true(ring.count < CAPACITY + IM_POINT_BLOCK_POINTS);
        im_sampler_point_t *copy = NULL;
        size_t n = im_point_ring_copy(&ring, 0, &copy);
        assert_int_equal(n, i + 1 < CAPACITY ? i + 1 : CAPACITY);
        assert_point_equal(&points[i], &copy[n - 1]);
        assert_point_equal(&points[i + 1 - n], &copy[0]);
        free(copy);
    }
    im_point_ring_free(&ring);
    check_round_trip(points, COUNT, CAPACITY);
}

static void test_copy_since(void **state)
{
    (void)state;
    im_point_ring_t ring = {0};
    for (int i = 0; i < 10; i++) {
        im_sampler_point_t point = make_point(START_MS + i * 1000, (uint64_t)i);
        im_point_ring_push(&ring, 10, &point);
    }
    im_sampler_point_t *copy = NULL;
    size_t n = im_point_ring_copy(&ring, START_MS + 6000, &copy);
    assert_int_equal(n, 3);
    assert_int_equal(copy[0].time_ms, START_MS + 7000);
    assert_int_equal(copy[2].network_rx, 9 + 2);
    free(copy);
    im_point_ring_free(&ring);
}

/* Fields of random bit patterns, so that every branch of the encoding gets large,
 * negative and NaN differences. */
static void test_random_points_round_trip(void **state)
{
    (void)state;
    enum { CAPACITY = 300, COUNT = 2000 };
    static im_sampler_point_t points[COUNT];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < COUNT; i++) {
        uint64_t r[8];
        for (int k = 0; k < 8; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            r[k] = seed ^ (seed >> 29);
        }
        uint32_t cpu_bits = (uint32_t)r[0];
        uint32_t rx_bits = (uint32_t)(r[0] >> 32);
        points[i] = (im_sampler_point_t){
            .time_ms = (int64_t)(r[1] >> 1), /* copies skip times before 1970 */
            .pids = (uint32_t)r[2],
            .memory_used = r[3],
            .memory_limit = (i % 5) ? r[4] : 0,
            .network_rx = r[5],
            .network_tx = r[6],
            .block_read = r[7],
            .block_write = r[2] >> 32,
        };
        memcpy(&points[i].cpu_percent, &cpu_bits, sizeof(float));
        memcpy(&points[i].network_rx_rate, &rx_bits, sizeof(float));
        points[i].network_tx_rate = (i % 2) ? NAN : -0.0f;
    }
    check_round_trip(points, COUNT, CAPACITY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_points_are_small),
        cmocka_unit_test(test_empty_ring),
        cmocka_unit_test(test_large_counters),
        cmocka_unit_test(test_counter_reset),
        cmocka_unit_test(test_offset_limits),
        cmocka_unit_test(test_nan_and_absent_values),
        cmocka_unit_test(test_limit_change_and_time_gap),
        cmocka_unit_test(test_wrap_keeps_newest_capacity),
        cmocka_unit_test(test_copy_since),
        cmocka_unit_test(test_random_points_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
