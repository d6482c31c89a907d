/* Tests for the per-client sliding-window rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/config.h"
#include "http/ratelimit.h"

static void address(unsigned char out[16], unsigned n)
{
    char text[32];
    snprintf(text, sizeof(text), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    assert_true(im_ip_parse(text, out));
}

static void limit_reached_then_rejected(void **state)
{
    im_ratelimit_t *rl = im_ratelimit_new(100, 60, 1024);
    unsigned char a[16];
    address(a, 1);
    im_ratelimit_result_t r;
    int64_t t = 1000000; /* the start of a window */
    for (int i = 0; i < 100; i++) {
        im_ratelimit_hit(rl, a, t + i, &r);
        assert_true(r.allowed);
        assert_int_equal(r.limit, 100);
        assert_int_equal(r.remaining, 99 - i);
    }
    im_ratelimit_hit(rl, a, t + 200, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_true(r.retry_after_seconds >= 1);
    assert_true(r.retry_after_seconds <= 60);
    im_ratelimit_free(rl);
}

static void clients_counted_separately(void **state)
{
    im_ratelimit_t *rl = im_ratelimit_new(2, 60, 1024);
    unsigned char a[16], b[16];
    address(a, 1);
    address(b, 2);
    im_ratelimit_result_t r;
    im_ratelimit_hit(rl, a, 0, &r);
    im_ratelimit_hit(rl, a, 1, &r);
    im_ratelimit_hit(rl, a, 2, &r);
    assert_false(r.allowed);
    im_ratelimit_hit(rl, b, 3, &r);
    assert_true(r.allowed);
    im_ratelimit_free(rl);
}

static void window_slides(void **state)
{
    im_ratelimit_t *rl = im_ratelimit_new(10, 10, 1024);
    unsigned char a[16];
    address(a, 1);
    im_ratelimit_result_t r;
    for (int i = 0; i < 10; i++) {
        im_ratelimit_hit(rl, a, 0, &r);
    }
    im_ratelimit_hit(rl, a, 0, &r);
    assert_false(r.allowed);
    /* Half-way into the next window half of the previous window still counts: 5 allowed. */
    int allowed = 0;
    for (int i = 0; i < 10; i++) {
        im_ratelimit_hit(rl, a, 15000, &r);
        allowed += r.allowed;
    }
    assert_int_equal(allowed, 5);
    /* Two windows later nothing of the burst counts. */
    im_ratelimit_hit(rl, a, 40000, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 9);
    im_ratelimit_free(rl);
}

static void address_spray_stays_bounded(void **state)
{
    im_ratelimit_t *rl = im_ratelimit_new(5, 60, 256);
    im_ratelimit_result_t r;
    unsigned char a[16];
    for (unsigned i = 0; i < 200000; i++) {
        address(a, i);
        im_ratelimit_hit(rl, a, i, &r);
        assert_true(r.allowed);
    }
    assert_true(im_ratelimit_size(rl) <= 256);
    /* A busy client still gets limited while the spray goes on around it. */
    unsigned char busy[16];
    address(busy, 999999);
    int rejected = 0;
    for (unsigned i = 0; i < 50; i++) {
        im_ratelimit_hit(rl, busy, 300000 + i, &r);
        rejected += !r.allowed;
        address(a, 500000 + i);
        im_ratelimit_hit(rl, a, 300000 + i, &r);
    }
    assert_true(rejected >= 40);
    im_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limit_reached_then_rejected),
        cmocka_unit_test(clients_counted_separately),
        cmocka_unit_test(window_slides),
        cmocka_unit_test(address_spray_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
