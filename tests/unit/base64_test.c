/* Tests for the strict base64 and base64url codecs and the random helpers in core/util.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/util.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain;
    const char *encoded;
} rfc4648_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void base64_matches_rfc4648_vectors(void **state)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(rfc4648_vectors); i++) {
        const char *plain = rfc4648_vectors[i].plain;
        const char *encoded = rfc4648_vectors[i].encoded;
        char text[16];
        im_base64_encode(plain, strlen(plain), text);
        assert_string_equal(text, encoded);
        assert_int_equal(strlen(text), IM_BASE64_LEN(strlen(plain)));

        unsigned char back[16];
        size_t back_len = 99;
        assert_true(im_base64_decode(encoded, strlen(encoded), back, sizeof(back), &back_len));
        assert_int_equal(back_len, strlen(plain));
        assert_memory_equal(back, plain, back_len);
    }
}

static void base64url_matches_rfc4648_vectors(void **state)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(rfc4648_vectors); i++) {
        const char *plain = rfc4648_vectors[i].plain;
        char expected[16];
        im_strlcpy(expected, rfc4648_vectors[i].encoded, sizeof(expected));
        char *pad = strchr(expected, '=');
        if (pad) {
            *pad = '\0';
        }
        char text[16];
        im_base64url_encode(plain, strlen(plain), text);
        assert_string_equal(text, expected);
        assert_int_equal(strlen(text), IM_BASE64URL_LEN(strlen(plain)));

        unsigned char back[16];
        size_t back_len = 99;
        assert_true(im_base64url_decode(text, strlen(text), back, sizeof(back), &back_len));
        assert_int_equal(back_len, strlen(plain));
        assert_memory_equal(back, plain, back_len);
    }
}

/* Bytes 0xfb 0xff encode to characters 62 and 63 of each alphabet. */
static void base64_alphabets_differ(void **state)
{
    const unsigned char data[] = {0xfb, 0xff, 0xbf};
    char text[8];
    im_base64_encode(data, sizeof(data), text);
    assert_string_equal(text, "+/+/");
    im_base64url_encode(data, sizeof(data), text);
    assert_string_equal(text, "-_-_");

    unsigned char back[8];
    size_t back_len = 0;
    assert_false(im_base64_decode("-_-_", 4, back, sizeof(back), &back_len));
    assert_false(im_base64url_decode("+/+/", 4, back, sizeof(back), &back_len));
    assert_true(im_base64url_decode("-_-_", 4, back, sizeof(back), &back_len));
    assert_memory_equal(back, data, sizeof(data));
}

static void base64url_rejects_hostile_text(void **state)
{
    const char *inputs[] = {
        "Zg==",                      /* padding */
        "Zg=",                       /* partial padding */
        "Zm9v=",                     /* padding after a whole group */
        "Z",                         /* a final group of one character carries no whole byte */
        "Zm9vY",                     /* the same after a whole group */
        "Zh",                        /* "f" with a nonzero unused bit */
        "Zm9=",                      /* padding inside the text */
        "Zm 9v",                     /* space */
        "Zm9v\n", "Zm\t9v", "Zm9v+", /* standard alphabet */
        "Zm9/",   "Zm.v",   "Zm9v\x80",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(inputs); i++) {
        unsigned char back[16];
        size_t back_len = 0;
        assert_false(
            im_base64url_decode(inputs[i], strlen(inputs[i]), back, sizeof(back), &back_len));
    }
}

static void base64_rejects_hostile_text(void **state)
{
    const char *inputs[] = {
        "Zg",       /* missing padding */
        "Zg=",      /* short padding */
        "Zg===",    /* long padding */
        "====",     /* only padding */
        "Z===",     /* one character and three pads */
        "Zh==",     /* "f" with a nonzero unused bit */
        "Zm9=",     /* "fo" with nonzero unused bits */
        "Zm=v",     /* padding inside a group */
        "Zg==Zg==", /* padding before the end */
        " Zm9v",    /* leading space */
        "Zm9v\n",   /* trailing newline */
        "Zm9-",     /* URL-safe alphabet */
        "Zm9_",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(inputs); i++) {
        unsigned char back[16];
        size_t back_len = 0;
        assert_false(im_base64_decode(inputs[i], strlen(inputs[i]), back, sizeof(back), &back_len));
    }
}

static void base64_decode_checks_room(void **state)
{
    unsigned char back[6];
    size_t back_len = 0;
    assert_true(im_base64_decode("Zm9vYmFy", 8, back, 6, &back_len));
    assert_int_equal(back_len, 6);
    assert_false(im_base64_decode("Zm9vYmFy", 8, back, 5, &back_len));
    assert_true(im_base64url_decode("Zm9vYmE", 7, back, 5, &back_len));
    assert_int_equal(back_len, 5);
    assert_false(im_base64url_decode("Zm9vYmE", 7, back, 4, &back_len));
}

/* Every byte string up to 5 bytes long round-trips for a sample of byte values, and its
 * encoding is the only one accepted: changing the last character breaks the decode or the
 * bytes. */
static void base64url_round_trip_all_lengths(void **state)
{
    for (size_t len = 0; len <= 5; len++) {
        for (int value = 0; value < 256; value += 17) {
            unsigned char data[5];
            for (size_t i = 0; i < len; i++) {
                data[i] = (unsigned char)(value + 31 * (int)i);
            }
            char text[16];
            im_base64url_encode(data, len, text);
            unsigned char back[8];
            size_t back_len = 0;
            assert_true(im_base64url_decode(text, strlen(text), back, sizeof(back), &back_len));
            assert_int_equal(back_len, len);
            assert_memory_equal(back, data, len);
            if (len == 0) {
                continue;
            }
            char *last = &text[strlen(text) - 1];
            *last = *last == 'A' ? 'B' : 'A';
            bool decoded = im_base64url_decode(text, strlen(text), back, sizeof(back), &back_len);
            assert_false(decoded && memcmp(back, data, len) == 0);
        }
    }
}

static void random_token_is_base64url(void **state)
{
    char first[64], second[64];
    im_random_token(first, sizeof(first), 18);
    im_random_token(second, sizeof(second), 18);
    assert_int_equal(strlen(first), 24);
    assert_string_not_equal(first, second);
    unsigned char raw[32];
    size_t raw_len = 0;
    assert_true(im_base64url_decode(first, strlen(first), raw, sizeof(raw), &raw_len));
    assert_int_equal(raw_len, 18);

    /* A short buffer gets a truncated, still NUL-terminated token. */
    char small[9];
    im_random_token(small, sizeof(small), 18);
    assert_int_equal(strlen(small), 8);
}

static void random_bytes_fill_large_buffers(void **state)
{
    /* 4096 bytes of zeros from a working CSPRNG have probability 2^-32768. The size is above
     * the 256 bytes that getrandom(2) guarantees to return in one call. */
    static unsigned char buf[4096];
    static const unsigned char zeros[4096];
    im_random_bytes(buf, sizeof(buf));
    assert_memory_not_equal(buf, zeros, sizeof(buf));
    assert_memory_not_equal(buf + sizeof(buf) - 32, zeros, 32);
}

static void const_time_eq_compares_bytes(void **state)
{
    assert_true(im_const_time_eq("abcdef", "abcdef", 6));
    assert_false(im_const_time_eq("abcdef", "abcdeg", 6));
    assert_false(im_const_time_eq("xbcdef", "abcdef", 6));
    assert_true(im_const_time_eq("abcdef", "abcxyz", 3));
    assert_true(im_const_time_eq("", "", 0));
}

/* FIPS 180-2 appendix B.1 example: SHA-256("abc"). */
static void sha256_hex_matches_fips_vector(void **state)
{
    char hex[65];
    im_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64_matches_rfc4648_vectors),
        cmocka_unit_test(base64url_matches_rfc4648_vectors),
        cmocka_unit_test(base64_alphabets_differ),
        cmocka_unit_test(base64url_rejects_hostile_text),
        cmocka_unit_test(base64_rejects_hostile_text),
        cmocka_unit_test(base64_decode_checks_room),
        cmocka_unit_test(base64url_round_trip_all_lengths),
        cmocka_unit_test(random_token_is_base64url),
        cmocka_unit_test(random_bytes_fill_large_buffers),
        cmocka_unit_test(const_time_eq_compares_bytes),
        cmocka_unit_test(sha256_hex_matches_fips_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
