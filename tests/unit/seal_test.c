/* Tests for the encryption at rest of TOTP secrets (AES-256-GCM under an HKDF key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Values sealed by the OpenSSL 3.0 build of InfraMon (commit 2d01c7a) under KEY_TEXT. A
 * database written by that build must keep opening, so these must never change. */
#define OPENSSL_KEY_HEX "a96331cb6bc9769471a7cf5c5dee7b52da17af70361c617ce48be2594f689242"
static const char *const openssl_sealed_secret[] = {
    "v1:ZJAw40s0Ic5U7zcaLMNsnc/gC9HZi+v7PJN+jOcIgBtxLN1TRws0ePcRendWP2pESw1x5EGosP5a0m1E",
    "v1:7Ya//wFDLBpov5E2/R9YYjT6EW6vWF8b7hbDJG4nRvTU5jxeR7hH7Alhde7dCFATZFG6ijJri1zuDwy4",
};
/* The empty string sealed with associated data "totp:42". */
#define OPENSSL_SEALED_EMPTY "v1:BVGE2cY6IW77dhS7+hmkODK6NvvT/hiMLFBqBw=="

static void openssl_build_values_open(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char hex[2 * IM_SEAL_KEY_BYTES + 1];
    im_hex_encode(key.bytes, sizeof(key.bytes), hex);
    assert_string_equal(hex, OPENSSL_KEY_HEX);

    char plain[65];
    for (size_t i = 0; i < IM_ARRAY_LEN(openssl_sealed_secret); i++) {
        assert_int_equal(
            im_seal_open(&key, "totp:1", openssl_sealed_secret[i], plain, sizeof(plain)), IM_OK);
        assert_string_equal(plain, SECRET);
        assert_int_equal(
            im_seal_open(&key, "totp:2", openssl_sealed_secret[i], plain, sizeof(plain)),
            IM_EDENIED);
    }
    assert_int_equal(im_seal_open(&key, "totp:42", OPENSSL_SEALED_EMPTY, plain, sizeof(plain)),
                     IM_OK);
    assert_string_equal(plain, "");
}

/* Sealing SECRET again with the nonce of an OpenSSL-built value gives the same text, so the
 * two builds write the same format and not merely a format that both can read. */
static void seal_matches_openssl_build_bytes(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    const char *recorded = openssl_sealed_secret[0];
    unsigned char raw[128];
    size_t raw_len = 0;
    assert_true(im_base64_decode(recorded + 3, strlen(recorded + 3), raw, sizeof(raw), &raw_len));
    assert_int_equal(raw_len, IM_SEAL_NONCE_BYTES + strlen(SECRET) + IM_SEAL_TAG_BYTES);

    unsigned char again[128];
    memcpy(again, raw, IM_SEAL_NONCE_BYTES);
    unsigned char *cipher = again + IM_SEAL_NONCE_BYTES;
    im_aes256_gcm_encrypt(key.bytes, again, "totp:1", 6, (const unsigned char *)SECRET,
                          strlen(SECRET), cipher, cipher + strlen(SECRET));
    char text[160];
    memcpy(text, IM_SEAL_PREFIX, 3);
    im_base64_encode(again, raw_len, text + 3);
    assert_string_equal(text, recorded);
}

static void hex_decode(const char *hex, unsigned char *out, size_t len)
{
    assert_int_equal(strlen(hex), 2 * len);
    for (size_t i = 0; i < len; i++) {
        unsigned value = 0;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &value), 1);
        out[i] = (unsigned char)value;
    }
}

static void assert_hex_equal(const unsigned char *bytes, size_t len, const char *expected)
{
    char hex[256];
    assert_true(2 * len < sizeof(hex));
    im_hex_encode(bytes, len, hex);
    assert_string_equal(hex, expected);
}

/* RFC 5869 appendix A.1 (salt and info) and A.3 (empty salt and info), both SHA-256. The
 * expected values were also checked against Python cryptography 48.0. */
static void hkdf_matches_rfc5869_vectors(void **state)
{
    (void)state;
    unsigned char ikm[22];
    memset(ikm, 0x0b, sizeof(ikm));
    unsigned char salt[13], info[10], okm[42];
    for (size_t i = 0; i < sizeof(salt); i++) {
        salt[i] = (unsigned char)i;
    }
    for (size_t i = 0; i < sizeof(info); i++) {
        info[i] = (unsigned char)(0xf0 + i);
    }
    im_hkdf_sha256(salt, sizeof(salt), ikm, sizeof(ikm), info, sizeof(info), okm, sizeof(okm));
    assert_hex_equal(okm, sizeof(okm),
                     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8"
                     "87185865");
    im_hkdf_sha256("", 0, ikm, sizeof(ikm), "", 0, okm, sizeof(okm));
    assert_hex_equal(okm, sizeof(okm),
                     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4"
                     "b61a96c8");
}

/* AES-256 vectors with a 96-bit IV, published as test cases 13, 14 and 16 of the GCM
 * specification by McGrew and Viega. The expected values were also checked against Python
 * cryptography 48.0. */
static void gcm_matches_specification_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *iv, *plain, *aad, *cipher, *tag;
    } vectors[] = {
        {"0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
        {"0000000000000000000000000000000000000000000000000000000000000000",
         "000000000000000000000000", "00000000000000000000000000000000", "",
         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
         "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
         "2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
         "1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(vectors); i++) {
        unsigned char key[32], iv[12], plain[64], aad[32], cipher[64], tag[16], back[64];
        size_t plain_len = strlen(vectors[i].plain) / 2;
        size_t aad_len = strlen(vectors[i].aad) / 2;
        hex_decode(vectors[i].key, key, sizeof(key));
        hex_decode(vectors[i].iv, iv, sizeof(iv));
        hex_decode(vectors[i].plain, plain, plain_len);
        hex_decode(vectors[i].aad, aad, aad_len);
        im_aes256_gcm_encrypt(key, iv, aad, aad_len, plain, plain_len, cipher, tag);
        assert_hex_equal(cipher, plain_len, vectors[i].cipher);
        assert_hex_equal(tag, sizeof(tag), vectors[i].tag);

        assert_true(im_aes256_gcm_decrypt(key, iv, aad, aad_len, cipher, plain_len, back, tag));
        assert_memory_equal(back, plain, plain_len);
        tag[15] ^= 1;
        assert_false(im_aes256_gcm_decrypt(key, iv, aad, aad_len, cipher, plain_len, back, tag));
    }
}

/* Base64 that an OpenSSL build's lenient decoder would read, but that no build writes, is
 * rejected before decryption. */
static void noncanonical_base64_invalid(void **state)
{
    (void)state;
    im_seal_key_t key;
    derive(KEY_TEXT, &key);
    char plain[65];
    char text[128];
    /* The recorded empty-string value ends in "Bw==": "Bx==" sets an unused bit. */
    im_strlcpy(text, OPENSSL_SEALED_EMPTY, sizeof(text));
    text[strlen(text) - 3] = 'x';
    assert_int_equal(im_seal_open(&key, "totp:42", text, plain, sizeof(plain)), IM_EINVAL);
    snprintf(text, sizeof(text), "%s\n", OPENSSL_SEALED_EMPTY);
    assert_int_equal(im_seal_open(&key, "totp:42", text, plain, sizeof(plain)), IM_EINVAL);
    snprintf(text, sizeof(text), "v1: %s", OPENSSL_SEALED_EMPTY + 3);
    assert_int_equal(im_seal_open(&key, "totp:42", text, plain, sizeof(plain)), IM_EINVAL);
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
        cmocka_unit_test(openssl_build_values_open),
        cmocka_unit_test(seal_matches_openssl_build_bytes),
        cmocka_unit_test(hkdf_matches_rfc5869_vectors),
        cmocka_unit_test(gcm_matches_specification_vectors),
        cmocka_unit_test(noncanonical_base64_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
