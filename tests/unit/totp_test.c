/* Tests for TOTP (against the RFC 6238 SHA-1 test vectors), base32, the login throttle and
 * the password-hashing gate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth/apitoken.h"
#include "auth/throttle.h"
#include "auth/totp.h"
#include "core/util.h"

/* RFC 6238 appendix B: the SHA-1 key is the ASCII string "12345678901234567890" and the
 * expected values have 8 digits. */
static void totp_matches_rfc6238_sha1_vectors(void **state)
{
    static const struct {
        int64_t time;
        uint32_t code;
    } vectors[] = {
        {59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
        {1234567890, 89005924}, {2000000000, 69279037}, {20000000000, 65353130},
    };
    const unsigned char *key = (const unsigned char *)"12345678901234567890";
    for (size_t i = 0; i < IM_ARRAY_LEN(vectors); i++) {
        uint64_t step = (uint64_t)im_totp_step(vectors[i].time);
        assert_int_equal(im_totp_hotp(key, 20, step, 8), vectors[i].code);
        /* The 6-digit code is the same value's last 6 digits. */
        assert_int_equal(im_totp_hotp(key, 20, step, 6), vectors[i].code % 1000000);
    }
}

static void base32_round_trip(void **state)
{
    char text[64];
    im_base32_encode((const unsigned char *)"12345678901234567890", 20, text, sizeof(text));
    assert_string_equal(text, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    unsigned char back[32];
    assert_int_equal(im_base32_decode("gezdgnbvgy3tqojq GEZDGNBVGY3TQOJQ", back, sizeof(back)), 20);
    assert_memory_equal(back, "12345678901234567890", 20);
    assert_int_equal(im_base32_decode("GEZ1", back, sizeof(back)), -1);
    assert_int_equal(im_base32_decode("GEZDGNBVGY3TQOJQ", back, 4), -1);
}

static void verify_accepts_window_only(void **state)
{
    const char *secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const unsigned char *key = (const unsigned char *)"12345678901234567890";
    int64_t now = 1111111111;
    int64_t step = im_totp_step(now);
    char code[8];
    int64_t matched = 0;
    for (int64_t delta = -1; delta <= 1; delta++) {
        snprintf(code, sizeof(code), "%06u", im_totp_hotp(key, 20, (uint64_t)(step + delta), 6));
        assert_true(im_totp_verify(secret, code, now, 0, &matched));
        assert_int_equal(matched, step + delta);
    }
    snprintf(code, sizeof(code), "%06u", im_totp_hotp(key, 20, (uint64_t)(step + 2), 6));
    assert_false(im_totp_verify(secret, code, now, 0, &matched));
    snprintf(code, sizeof(code), "%06u", im_totp_hotp(key, 20, (uint64_t)(step - 2), 6));
    assert_false(im_totp_verify(secret, code, now, 0, &matched));
}

static void verify_rejects_replayed_step(void **state)
{
    const char *secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const unsigned char *key = (const unsigned char *)"12345678901234567890";
    int64_t now = 1234567890;
    int64_t step = im_totp_step(now);
    char code[8];
    snprintf(code, sizeof(code), "%06u", im_totp_hotp(key, 20, (uint64_t)step, 6));
    int64_t matched = 0;
    assert_false(im_totp_verify(secret, code, now, step, &matched));
    assert_true(im_totp_verify(secret, code, now, step - 1, &matched));
}

static void verify_rejects_malformed_codes(void **state)
{
    const char *secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    int64_t matched = 0;
    assert_false(im_totp_verify(secret, "", 59, 0, &matched));
    assert_false(im_totp_verify(secret, "12345", 59, 0, &matched));
    assert_false(im_totp_verify(secret, "1234567", 59, 0, &matched));
    assert_false(im_totp_verify(secret, "28708a", 59, 0, &matched));
    assert_false(im_totp_verify("not base32!", "287082", 59, 0, &matched));
    assert_false(im_totp_verify(NULL, "287082", 59, 0, &matched));
}

static void generated_secret_is_base32(void **state)
{
    char a[IM_TOTP_SECRET_CHARS + 1], b[IM_TOTP_SECRET_CHARS + 1];
    assert_int_equal(im_totp_generate_secret(a), IM_OK);
    assert_int_equal(im_totp_generate_secret(b), IM_OK);
    assert_int_equal(strlen(a), IM_TOTP_SECRET_CHARS);
    assert_string_not_equal(a, b);
    unsigned char key[32];
    assert_int_equal(im_base32_decode(a, key, sizeof(key)), IM_TOTP_SECRET_BYTES);
}

static void throttle_delay_grows_and_caps(void **state)
{
    im_throttle_rule_t rule = {5, 15, 300, 3600};
    assert_int_equal(im_throttle_delay_for(&rule, 5), 0);
    assert_int_equal(im_throttle_delay_for(&rule, 6), 15);
    assert_int_equal(im_throttle_delay_for(&rule, 7), 30);
    assert_int_equal(im_throttle_delay_for(&rule, 9), 120);
    assert_int_equal(im_throttle_delay_for(&rule, 11), 300);
    assert_int_equal(im_throttle_delay_for(&rule, 1000000), 300);
}

static void throttle_blocks_after_free_failures(void **state)
{
    im_throttle_rule_t rule = {3, 10, 40, 100};
    im_throttle_t *t = im_throttle_new(&rule, 64);
    bool started = false;
    int64_t now = 1000;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(im_throttle_fail(t, "alice", now, &started), i);
        assert_false(started);
        assert_int_equal(im_throttle_wait(t, "alice", now), 0);
    }
    assert_int_equal(im_throttle_fail(t, "alice", now, &started), 4);
    assert_true(started);
    assert_int_equal(im_throttle_wait(t, "alice", now), 10);
    assert_int_equal(im_throttle_wait(t, "alice", now + 10), 0);
    assert_int_equal(im_throttle_wait(t, "bob", now), 0);
    im_throttle_fail(t, "alice", now + 10, &started);
    assert_false(started);
    assert_int_equal(im_throttle_wait(t, "alice", now + 10), 20);
    /* The delay stays at the cap however many failures follow. */
    for (int i = 0; i < 50; i++) {
        im_throttle_fail(t, "alice", now + 30, NULL);
    }
    assert_int_equal(im_throttle_wait(t, "alice", now + 30), 40);
    im_throttle_free(t);
}

static void throttle_forgets_and_resets(void **state)
{
    im_throttle_rule_t rule = {1, 10, 10, 100};
    im_throttle_t *t = im_throttle_new(&rule, 64);
    im_throttle_fail(t, "k", 1000, NULL);
    im_throttle_fail(t, "k", 1000, NULL);
    assert_int_equal(im_throttle_count(t, "k", 1050), 2);
    assert_int_equal(im_throttle_count(t, "k", 1100), 0);
    im_throttle_fail(t, "k", 2000, NULL);
    im_throttle_fail(t, "k", 2000, NULL);
    assert_int_equal(im_throttle_wait(t, "k", 2000), 10);
    im_throttle_reset(t, "k");
    assert_int_equal(im_throttle_wait(t, "k", 2000), 0);
    assert_int_equal(im_throttle_count(t, "k", 2000), 0);
    im_throttle_free(t);
}

/* A spray of 100,000 keys fits in the fixed table, and a blocked key survives it better
 * than unblocked ones because eviction prefers unblocked entries. */
static void throttle_memory_bounded_under_spray(void **state)
{
    im_throttle_rule_t rule = {1, 300, 300, 3600};
    im_throttle_t *t = im_throttle_new(&rule, 1024);
    im_throttle_fail(t, "victim", 1000, NULL);
    im_throttle_fail(t, "victim", 1000, NULL);
    assert_int_equal(im_throttle_wait(t, "victim", 1000), 300);
    char key[32];
    int blocked_kept = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "spray-%d", i);
        im_throttle_fail(t, key, 1001, NULL);
    }
    blocked_kept = im_throttle_wait(t, "victim", 1001) > 0;
    assert_true(blocked_kept);
    im_throttle_free(t);
}

static void gate_turns_away_when_full(void **state)
{
    im_gate_t gate;
    im_gate_init(&gate, 2);
    assert_true(im_gate_enter(&gate));
    assert_true(im_gate_enter(&gate));
    assert_false(im_gate_enter(&gate));
    im_gate_leave(&gate);
    assert_true(im_gate_enter(&gate));
    im_gate_init(&gate, 0);
    assert_true(im_gate_enter(&gate));
    assert_false(im_gate_enter(&gate));
}

static void api_token_shape(void **state)
{
    char token[IM_APITOKEN_LEN + 1];
    im_apitoken_generate(token);
    assert_int_equal(strlen(token), IM_APITOKEN_LEN);
    assert_true(im_apitoken_is_candidate(token));
    assert_true(im_apitoken_well_formed(token));
    token[10] = '.';
    assert_false(im_apitoken_well_formed(token));
    assert_false(im_apitoken_well_formed("imt_short"));
    assert_false(im_apitoken_is_candidate("eyJhbGciOiJIUzI1NiJ9.e30.x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(totp_matches_rfc6238_sha1_vectors),
        cmocka_unit_test(base32_round_trip),
        cmocka_unit_test(verify_accepts_window_only),
        cmocka_unit_test(verify_rejects_replayed_step),
        cmocka_unit_test(verify_rejects_malformed_codes),
        cmocka_unit_test(generated_secret_is_base32),
        cmocka_unit_test(throttle_delay_grows_and_caps),
        cmocka_unit_test(throttle_blocks_after_free_failures),
        cmocka_unit_test(throttle_forgets_and_resets),
        cmocka_unit_test(throttle_memory_bounded_under_spray),
        cmocka_unit_test(gate_turns_away_when_full),
        cmocka_unit_test(api_token_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
