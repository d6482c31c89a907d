/* Tests for JWT issuing and verification and for bcrypt password hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"
#include "auth/password.h"
#include "core/util.h"

static const char *key = "unit-test-key-0123456789abcdefghijklmnop";

static im_jwt_claims_t sample_claims(const char *type, int64_t now)
{
    im_jwt_claims_t c = {0};
    strcpy(c.sub, "alice");
    c.user_id = 7;
    strcpy(c.type, type);
    c.iat = now;
    c.exp = now + 600;
    strcpy(c.jti, "jti-1");
    strcpy(c.sid, "session-1");
    return c;
}

static void base64url(const unsigned char *data, size_t len, im_buf_t *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            im_buf_append(out, &alphabet[(acc >> bits) & 63], 1);
        }
    }
    if (bits) {
        im_buf_append(out, &alphabet[(acc << (6 - bits)) & 63], 1);
    }
}

/* Builds a token by hand so that the tests can forge headers libjwt would never write. */
static char *forge(const char *header, const char *payload, const char *sign_key, const EVP_MD *md)
{
    im_buf_t token;
    im_buf_init(&token);
    base64url((const unsigned char *)header, strlen(header), &token);
    im_buf_append(&token, ".", 1);
    base64url((const unsigned char *)payload, strlen(payload), &token);
    if (md) {
        unsigned char mac[64];
        unsigned int mac_len = 0;
        HMAC(md, sign_key, (int)strlen(sign_key), (const unsigned char *)token.data, token.len, mac,
             &mac_len);
        im_buf_append(&token, ".", 1);
        base64url(mac, mac_len, &token);
    } else {
        im_buf_append(&token, ".", 1);
    }
    return im_buf_detach(&token, NULL);
}

static char *payload_json(const char *type, int64_t iat, int64_t exp)
{
    return im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"%s\",\"iat\":%lld,"
                       "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\"}",
                       type, (long long)iat, (long long)exp);
}

static void jwt_round_trip(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
                     IM_OK);
    assert_string_equal(out.sub, "alice");
    assert_int_equal(out.user_id, 7);
    assert_string_equal(out.jti, "jti-1");
    assert_string_equal(out.sid, "session-1");
    assert_int_equal(out.exp, now + 600);
    free(token);
}

static void jwt_wrong_key_rejected(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode("another-key-0123456789abcdefghijklmnop", NULL, token, "access",
                                   now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    free(token);
}

static void jwt_previous_key_accepted(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode("the-new-key-0123456789abcdefghijklmnop", key, token, "access",
                                   now, &out, reason, sizeof(reason)),
                     IM_OK);
    free(token);
}

static void jwt_expired_rejected(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now - 1000), out;
    in.exp = now - 1;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    assert_non_null(strstr(reason, "expired"));
    free(token);
}

static void jwt_refresh_as_access_rejected(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("refresh", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    free(token);
}

static void jwt_forged_algorithms_rejected(void **state)
{
    int64_t now = im_now();
    char *payload = payload_json("access", now, now + 600);
    char reason[128];
    im_jwt_claims_t out;
    struct {
        const char *header;
        const EVP_MD *md;
    } cases[] = {
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}", NULL},
        {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", EVP_sha512()},
        {"{\"alg\":\"hs256\",\"typ\":\"JWT\"}", EVP_sha256()},
        {"{\"alg\":\"HS384\",\"typ\":\"JWT\"}", EVP_sha384()},
        {"{\"typ\":\"JWT\"}", EVP_sha256()},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char *token = forge(cases[i].header, payload, key, cases[i].md);
        assert_int_equal(
            im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
            IM_EINVAL);
        free(token);
    }
    /* The same hand-built token with alg HS256 is accepted, so the rejections above come
     * from the algorithm and not from the forging. */
    char *good = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key, EVP_sha256());
    assert_int_equal(im_jwt_decode(key, NULL, good, "access", now, &out, reason, sizeof(reason)),
                     IM_OK);
    free(good);
    free(payload);
}

static void jwt_changed_payload_rejected(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    char *payload = payload_json("access", now, now + 600);
    char *other = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key, EVP_sha256());
    /* Splice the signature of the real token onto another payload. */
    char *sig = strrchr(token, '.');
    char *dot = strrchr(other, '.');
    *dot = '\0';
    char *spliced = im_asprintf("%s%s", other, sig);
    assert_int_equal(im_jwt_decode(key, NULL, spliced, "access", now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    free(spliced);
    free(other);
    free(payload);
    free(token);
}

static void jwt_garbage_rejected(void **state)
{
    const char *inputs[] = {"", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "%%%.%%%.%%%"};
    char reason[128];
    im_jwt_claims_t out;
    for (size_t i = 0; i < IM_ARRAY_LEN(inputs); i++) {
        assert_int_equal(
            im_jwt_decode(key, NULL, inputs[i], "access", im_now(), &out, reason, sizeof(reason)),
            IM_EINVAL);
    }
}

static void password_hash_and_verify(void **state)
{
    char hash[IM_PASSWORD_HASH_MAX];
    /* Cost 4 keeps the test fast; the cost itself is libxcrypt's business. */
    assert_int_equal(im_password_hash("correct horse battery", 4, hash), IM_OK);
    assert_true(strncmp(hash, "$2b$04$", 7) == 0);
    assert_true(im_password_verify("correct horse battery", hash));
    assert_false(im_password_verify("correct horse batterY", hash));
    assert_false(im_password_verify("", hash));
    assert_false(im_password_verify("correct horse battery", "not-a-hash"));
    assert_false(im_password_verify("correct horse battery", NULL));
}

static void password_default_cost_is_12(void **state)
{
    char hash[IM_PASSWORD_HASH_MAX];
    assert_int_equal(im_password_hash("any password at all", IM_BCRYPT_COST, hash), IM_OK);
    assert_true(strncmp(hash, "$2b$12$", 7) == 0);
}

static void password_length_rules(void **state)
{
    char err[128];
    char long_password[80];
    memset(long_password, 'x', 73);
    long_password[73] = '\0';
    assert_false(im_password_acceptable("short", err, sizeof(err)));
    assert_false(im_password_acceptable(long_password, err, sizeof(err)));
    assert_non_null(strstr(err, "72"));
    long_password[72] = '\0';
    assert_true(im_password_acceptable(long_password, err, sizeof(err)));
    assert_true(im_password_acceptable("p@ss w0rd 'quoted' \"; DROP", err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_round_trip),
        cmocka_unit_test(jwt_wrong_key_rejected),
        cmocka_unit_test(jwt_previous_key_accepted),
        cmocka_unit_test(jwt_expired_rejected),
        cmocka_unit_test(jwt_refresh_as_access_rejected),
        cmocka_unit_test(jwt_forged_algorithms_rejected),
        cmocka_unit_test(jwt_changed_payload_rejected),
        cmocka_unit_test(jwt_garbage_rejected),
        cmocka_unit_test(password_hash_and_verify),
        cmocka_unit_test(password_default_cost_is_12),
        cmocka_unit_test(password_length_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
