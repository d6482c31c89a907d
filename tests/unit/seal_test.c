/* Tests for the encryption at rest of TOTP secrets (AES-256-GCM under an HKDF key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/seal.h"
#include "core/util.h"

#define SECRET    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#define KEY_TEXT  "first-secret-key-with-at-least-32-characters"
#define KEY2_TEXT "second-secret-key-with-at-least-32-characters"

static void derive(const char *text, im_seal_key_t *key)
{
    assert_int_equal(im_seal_key_derive(text, key), IM_OK);
}

static void round_trip_restores_secret(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char sealed[128];
    assert_int_equal(im_seal(&key, "totp:1", SECRET, sealed, sizeof(sealed)), IM_OK);
    assert_true(im_seal_is_sealed(sealed));
    assert_int_equal(strlen(sealed), IM_SEAL_TEXT_LEN(strlen(SECRET)));
    assert_null(strstr(sealed, SECRET));
    char plain[65];
    assert_int_equal(im_seal_open(&key, "totp:1", sealed, plain, sizeof(plain)), IM_OK);
    assert_string_equal(plain, SECRET);
}

static void nonce_differs_per_seal(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char first[128], second[128];
    assert_int_equal(im_seal(&key, "totp:1", SECRET, first, sizeof(first)), IM_OK);
    assert_int_equal(im_seal(&key, "totp:1", SECRET, second, sizeof(second)), IM_OK);
    assert_string_not_equal(first, second);
}

static void derivation_is_stable_and_key_specific(void **state)
{
    (void)state;
    im_seal_key_t a, b, c;
    derive(KEY_TEXT, &a);
    derive(KEY_TEXT, &b);
    derive(KEY2_TEXT, &c);
    assert_memory_equal(a.bytes, b.bytes, sizeof(a.bytes));
    assert_memory_not_equal(a.bytes, c.bytes, sizeof(a.bytes));
}

static void other_key_or_row_denied(void **state)
{
    (void)state;
    im_seal_key_t key, other;
    derive(KEY_TEXT, &key);
    derive(KEY2_TEXT, &other);
    char sealed[128], plain[65];
    assert_int_equal(im_seal(&key, "totp:1", SECRET, sealed, sizeof(sealed)), IM_OK);
    assert_int_equal(im_seal_open(&other, "totp:1", sealed, plain, sizeof(plain)), IM_EDENIED);
    assert_int_equal(im_seal_open(&key, "totp:2", sealed, plain, sizeof(plain)), IM_EDENIED);
}

static void changed_text_denied(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char sealed[128], plain[65];
    assert_int_equal(im_seal(&key, "totp:1", SECRET, sealed, sizeof(sealed)), IM_OK);
    size_t len = strlen(sealed);
    /* Change one base64 character in the nonce, the ciphertext and the tag in turn. */
    size_t positions[] = {4, len / 2, len - 3};
    for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
        char changed[128];
        memcpy(changed, sealed, len + 1);
        changed[positions[i]] = changed[positions[i]] == 'A' ? 'B' : 'A';
        assert_int_equal(im_seal_open(&key, "totp:1", changed, plain, sizeof(plain)),
                         IM_EDENIED);
    }
}

static void malformed_text_invalid(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char plain[65];
    const char *cases[] = {SECRET, "v1:", "v1:abc", "v1:!!!!", "v1:AAAA", "v2:AAAAAAAA"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(im_seal_open(&key, "totp:1", cases[i], plain, sizeof(plain)), IM_EINVAL);
    }
}

static void small_buffers_rejected(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char sealed[128], plain[8];
    assert_int_equal(im_seal(&key, "totp:1", SECRET, sealed, IM_SEAL_TEXT_LEN(strlen(SECRET))),
                     IM_EINVAL);
    assert_int_equal(im_seal(&key, "totp:1", SECRET, sealed, sizeof(sealed)), IM_OK);
    assert_int_equal(im_seal_open(&key, "totp:1", sealed, plain, sizeof(plain)), IM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_restores_secret),
        cmocka_unit_test(nonce_differs_per_seal),
        cmocka_unit_test(derivation_is_stable_and_key_specific),
        cmocka_unit_test(other_key_or_row_denied),
        cmocka_unit_test(changed_text_denied),
        cmocka_unit_test(malformed_text_invalid),
        cmocka_unit_test(small_buffers_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
