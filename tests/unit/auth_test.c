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

/* Builds a token by hand, signed with OpenSSL's HMAC, so that the tests can forge headers
 * InfraMon never writes and cross-check its verifier against another implementation. */
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

/* A refresh token that libjwt 1.10 issued for sample_claims("refresh", 1700000000). */
#define LIBJWT_TOKEN                                                                               \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDA2MDAsImlhdCI6MTcwMDAwMDAwMCwian"      \
    "RpIjoianRpLTEiLCJzaWQiOiJzZXNzaW9uLTEiLCJzdWIiOiJhbGljZSIsInR5cGUiOiJyZWZyZXNoIiwidXNl"       \
    "cl9pZCI6N30.YGIRoFD5-cLR71d4r55RJX4FXOBepP5wBz4keQ1t2jU"

/* Tokens from the libjwt build keep working, and the same claims encode to the same bytes. */
static void jwt_libjwt_token_compatible(void **state)
{
    im_jwt_claims_t in = sample_claims("refresh", 1700000000), out;
    char reason[128];
    assert_int_equal(
        im_jwt_decode(key, NULL, LIBJWT_TOKEN, "refresh", 1700000100, &out, reason, sizeof(reason)),
        IM_OK);
    assert_string_equal(out.sub, "alice");
    assert_string_equal(out.sid, "session-1");
    assert_int_equal(out.iat, 1700000000);
    char *token = NULL;
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_string_equal(token, LIBJWT_TOKEN);
    free(token);
}

/* A token whose header, payload and HMAC come from OpenSSL and this file's own base64url
 * encoder, not from InfraMon's, verifies and yields its claims. */
static void jwt_openssl_signed_accepted(void **state)
{
    int64_t now = 1800000000;
    char *payload = payload_json("access", now - 5, now + 300);
    char *token = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key, EVP_sha256());
    im_jwt_claims_t out;
    char reason[128];
    assert_int_equal(im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
                     IM_OK);
    assert_string_equal(out.sub, "alice");
    assert_int_equal(out.user_id, 7);
    assert_string_equal(out.type, "access");
    assert_int_equal(out.iat, now - 5);
    assert_int_equal(out.exp, now + 300);
    assert_string_equal(out.jti, "j");
    assert_string_equal(out.sid, "s");
    /* Signed with another key by the same code: rejected, so the acceptance above comes from
     * the key. */
    char *other =
        forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, "not-the-key", EVP_sha256());
    assert_int_equal(im_jwt_decode(key, NULL, other, "access", now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    assert_string_equal(reason, "invalid signature");
    free(other);
    free(token);
    free(payload);
}

static void assert_token_rejected(const char *token, const char *reason_part)
{
    im_jwt_claims_t out;
    char reason[128] = "";
    int rc = im_jwt_decode(key, NULL, token, "access", im_now(), &out, reason, sizeof(reason));
    if (rc != IM_EINVAL || !strstr(reason, reason_part)) {
        print_error("token %s: rc %d, reason \"%s\", expected a reason containing \"%s\"\n", token,
                    rc, reason, reason_part);
    }
    assert_int_equal(rc, IM_EINVAL);
    assert_non_null(strstr(reason, reason_part));
    assert_string_equal(out.sub, "");
}

/* Splits a valid token into its three segments. */
static void valid_segments(char **header, char **payload, char **signature)
{
    im_jwt_claims_t in = sample_claims("access", im_now());
    char *token = NULL;
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    char *first = strchr(token, '.');
    char *second = strchr(first + 1, '.');
    *header = im_strndup(token, (size_t)(first - token));
    *payload = im_strndup(first + 1, (size_t)(second - first - 1));
    *signature = im_strdup(second + 1);
    free(token);
}

static void jwt_segment_count_checked(void **state)
{
    char *header, *payload, *signature;
    valid_segments(&header, &payload, &signature);
    const char *expected = "three segments";
    char *cases[] = {
        im_asprintf("%s", header),
        im_asprintf("%s.%s", header, payload),
        im_asprintf("%s%s%s", header, payload, signature),
        im_asprintf("%s.%s.%s.", header, payload, signature),
        im_asprintf("%s.%s.%s.%s", header, payload, signature, signature),
        im_asprintf("%s.%s.%s..", header, payload, signature),
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        assert_token_rejected(cases[i], expected);
        free(cases[i]);
    }
    /* The valid token itself passes, so each case fails on its segments. */
    char *whole = im_asprintf("%s.%s.%s", header, payload, signature);
    im_jwt_claims_t out;
    char reason[128];
    assert_int_equal(
        im_jwt_decode(key, NULL, whole, "access", im_now(), &out, reason, sizeof(reason)), IM_OK);
    free(whole);
    free(header);
    free(payload);
    free(signature);
}

static void jwt_empty_segments_rejected(void **state)
{
    char *header, *payload, *signature;
    valid_segments(&header, &payload, &signature);
    char *cases[] = {
        im_asprintf(".%s.%s", payload, signature),
        im_asprintf("%s..%s", header, signature),
        im_asprintf("%s.%s.", header, payload),
        im_strdup(".."),
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        assert_token_rejected(cases[i], "empty segment");
        free(cases[i]);
    }
    free(header);
    free(payload);
    free(signature);
}

/* A correctly signed token longer than IM_JWT_MAX_LENGTH is rejected for its length, and
 * one just under the limit with the same padding claim is accepted. */
static void jwt_overlong_rejected(void **state)
{
    int64_t now = im_now();
    size_t sizes[] = {2800, 3200};
    for (size_t i = 0; i < IM_ARRAY_LEN(sizes); i++) {
        char *filler = im_malloc(sizes[i] + 1);
        memset(filler, 'x', sizes[i]);
        filler[sizes[i]] = '\0';
        char *payload =
            im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                        "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\",\"pad\":\"%s\"}",
                        (long long)now, (long long)(now + 600), filler);
        char *token = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key, EVP_sha256());
        im_jwt_claims_t out;
        char reason[128];
        int rc = im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason));
        if (i == 0) {
            assert_true(strlen(token) <= IM_JWT_MAX_LENGTH);
            assert_int_equal(rc, IM_OK);
        } else {
            assert_true(strlen(token) > IM_JWT_MAX_LENGTH);
            assert_int_equal(rc, IM_EINVAL);
            assert_non_null(strstr(reason, "longer than"));
        }
        free(token);
        free(payload);
        free(filler);
    }
}

/* Correctly signed tokens whose header is not an object of alg "HS256" and an optional typ
 * "JWT", and nothing else. */
static void jwt_hostile_headers_rejected(void **state)
{
    int64_t now = im_now();
    char *payload = payload_json("access", now, now + 600);
    static const struct {
        const char *header;
        const char *reason;
    } cases[] = {
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "\"none\" is not accepted"},
        {"{\"alg\":\"None\",\"typ\":\"JWT\"}", "\"None\" is not accepted"},
        {"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "\"HS512\" is not accepted"},
        {"{\"alg\":\"HS384\",\"typ\":\"JWT\"}", "\"HS384\" is not accepted"},
        {"{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "\"hs256\" is not accepted"},
        {"{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "\"RS256\" is not accepted"},
        {"{\"alg\":\"ES256\",\"typ\":\"JWT\"}", "\"ES256\" is not accepted"},
        {"{\"alg\":\"HS256 \",\"typ\":\"JWT\"}", "\"HS256 \" is not accepted"},
        {"{\"alg\":\"\",\"typ\":\"JWT\"}", "\"\" is not accepted"},
        {"{\"alg\":\"HS256\\u0000\",\"typ\":\"JWT\"}", "malformed token header"},
        {"{\"alg\":\"none\\n\",\"typ\":\"JWT\"}", "\"none?\" is not accepted"},
        {"{\"alg\":null,\"typ\":\"JWT\"}", "no alg string"},
        {"{\"alg\":256,\"typ\":\"JWT\"}", "no alg string"},
        {"{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}", "no alg string"},
        {"{\"typ\":\"JWT\"}", "no alg string"},
        {"{}", "no alg string"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"1\"}", "keys other than"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"b64\"],\"b64\":false}", "keys other than"},
        {"{\"alg\":\"HS256\",\"jku\":\"http://127.0.0.1/k\"}", "keys other than"},
        {"{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "typ"},
        {"{\"alg\":\"HS256\",\"typ\":null}", "typ"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWT\"}", "malformed token header"},
        {"{\"alg\":\"HS256\",\"alg\":\"HS256\",\"typ\":\"JWT\"}", "malformed token header"},
        {"{\"alg\":\"none\",\"alg\":\"HS256\",\"typ\":\"JWT\"}", "malformed token header"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\"", "malformed token header"},
        {"[\"HS256\"]", "malformed token header"},
        {"not json", "malformed token header"},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}x", "malformed token header"},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char *token = forge(cases[i].header, payload, key, EVP_sha256());
        assert_token_rejected(token, cases[i].reason);
        free(token);
    }
    /* Key order, whitespace and a missing typ do not matter: these correctly signed tokens
     * are accepted, so the rejections above come from the header's content. */
    const char *accepted[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\"}",
        "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
        "{\"alg\": \"HS256\", \"typ\": \"JWT\"}",
        " {\"alg\":\"HS256\"}\n",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(accepted); i++) {
        char *token = forge(accepted[i], payload, key, EVP_sha256());
        im_jwt_claims_t out;
        char reason[128];
        assert_int_equal(
            im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)), IM_OK);
        free(token);
    }
    free(payload);
}

/* Headers that decode to the accepted JSON but are not its canonical base64url. */
static void jwt_noncanonical_header_rejected(void **state)
{
    char *header, *payload, *signature;
    valid_segments(&header, &payload, &signature);
    /* The canonical header is 36 characters, a whole number of groups, so padding can only
     * be appended. */
    assert_int_equal(strlen(header), 36);
    char *cases[] = {
        im_asprintf("%s=.%s.%s", header, payload, signature),
        im_asprintf("%s==.%s.%s", header, payload, signature),
        im_asprintf(" %s.%s.%s", header, payload, signature),
        im_asprintf("%s .%s.%s", header, payload, signature),
        im_asprintf("%s\n.%s.%s", header, payload, signature),
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        assert_token_rejected(cases[i], "header");
        free(cases[i]);
    }
    free(header);
    free(payload);
    free(signature);
}

static void jwt_bad_payloads_rejected(void **state)
{
    int64_t now = im_now();
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *valid = payload_json("access", now, now + 600);
    char *cases[] = {
        im_strdup("not json"),
        im_strdup("[\"alice\"]"),
        im_strdup("\"alice\""),
        im_strdup("{}"),
        im_strndup(valid, strlen(valid) - 1),
        /* Duplicate keys: the second sub would win in a lenient parser. */
        im_asprintf("{\"sub\":\"alice\",\"sub\":\"root\",%s", valid + 1),
        im_asprintf("{\"sub\":\"alice\",\"user_id\":\"7\",\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":%lld.5,\"jti\":\"j\",\"sid\":\"s\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":\"%lld\",\"jti\":\"j\",\"sid\":\"s\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"alice\\u0000root\",\"user_id\":7,\"type\":\"access\","
                    "\"iat\":%lld,\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":%lld,\"jti\":\"j\"}",
                    (long long)now, (long long)now + 600),
        im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                    "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\",\"nbf\":\"0\"}",
                    (long long)now, (long long)now + 600),
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char *token = forge(header, cases[i], key, EVP_sha256());
        assert_token_rejected(token, "ma");
        free(token);
        free(cases[i]);
    }
    /* A payload that is not base64url at all. */
    char *token = forge(header, valid, key, EVP_sha256());
    char *dot = strchr(token, '.');
    dot[1] = '+';
    assert_token_rejected(token, "");
    free(token);
    free(valid);
}

static void jwt_future_nbf_rejected(void **state)
{
    int64_t now = im_now();
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *later = im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                              "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\",\"nbf\":%lld}",
                              (long long)now, (long long)now + 600, (long long)now + 300);
    char *token = forge(header, later, key, EVP_sha256());
    assert_token_rejected(token, "nbf");
    free(token);
    char *past = im_asprintf("{\"sub\":\"alice\",\"user_id\":7,\"type\":\"access\",\"iat\":%lld,"
                             "\"exp\":%lld,\"jti\":\"j\",\"sid\":\"s\",\"nbf\":%lld}",
                             (long long)now, (long long)now + 600, (long long)now - 1);
    token = forge(header, past, key, EVP_sha256());
    im_jwt_claims_t out;
    char reason[128];
    assert_int_equal(im_jwt_decode(key, NULL, token, "access", now, &out, reason, sizeof(reason)),
                     IM_OK);
    free(token);
    free(past);
    free(later);
}

/* Appends the signature bytes, encoded by this file's base64url encoder, to "header.payload.". */
static char *with_signature(const char *header, const char *payload, const unsigned char *mac,
                            size_t mac_len)
{
    im_buf_t token;
    im_buf_init(&token);
    im_buf_appendf(&token, "%s.%s.", header, payload);
    base64url(mac, mac_len, &token);
    return im_buf_detach(&token, NULL);
}

static void jwt_signature_form_checked(void **state)
{
    char *header, *payload, *signature;
    valid_segments(&header, &payload, &signature);
    unsigned char mac[40];
    size_t mac_len = 0;
    assert_true(im_base64url_decode(signature, strlen(signature), mac, sizeof(mac), &mac_len));
    assert_int_equal(mac_len, 32);
    assert_int_equal(strlen(signature), 43);
    mac[32] = 0;

    /* Wrong lengths: truncated, one byte more, and a 64-byte HS512-sized value. */
    unsigned char long_mac[64];
    memcpy(long_mac, mac, 32);
    memcpy(long_mac + 32, mac, 32);
    char *short_token = with_signature(header, payload, mac, 16);
    char *almost_token = with_signature(header, payload, mac, 31);
    char *longer_token = with_signature(header, payload, mac, 33);
    char *double_token = with_signature(header, payload, long_mac, 64);
    assert_token_rejected(short_token, "expected 32 bytes");
    assert_token_rejected(almost_token, "expected 32 bytes");
    assert_token_rejected(longer_token, "expected 32 bytes");
    assert_token_rejected(double_token, "expected 32 bytes");

    /* The same 32 bytes in other base64 spellings. The last of 43 characters carries two
     * unused bits: setting one gives text that a lenient decoder maps to the same MAC. */
    char *padded = im_asprintf("%s.%s.%s=", header, payload, signature);
    char *spaced = im_asprintf("%s.%s.%s ", header, payload, signature);
    char *unused_bit = im_asprintf("%s.%s.%s", header, payload, signature);
    char *last = &unused_bit[strlen(unused_bit) - 1];
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alphabet[(strchr(alphabet, *last) - alphabet) | 1];
    assert_token_rejected(padded, "expected 32 bytes");
    assert_token_rejected(spaced, "expected 32 bytes");
    assert_token_rejected(unused_bit, "expected 32 bytes");

    /* Standard-alphabet spelling of a signature that contains '-' or '_' characters. */
    char *standard = im_asprintf("%s.%s.%s", header, payload, signature);
    bool changed = false;
    for (char *p = strrchr(standard, '.') + 1; *p; p++) {
        if (*p == '-' || *p == '_') {
            *p = *p == '-' ? '+' : '/';
            changed = true;
        }
    }
    if (changed) {
        assert_token_rejected(standard, "expected 32 bytes");
    }

    free(standard);
    free(unused_bit);
    free(spaced);
    free(padded);
    free(double_token);
    free(longer_token);
    free(almost_token);
    free(short_token);
    free(header);
    free(payload);
    free(signature);
}

static void jwt_neither_key_rejected(void **state)
{
    int64_t now = im_now();
    im_jwt_claims_t in = sample_claims("access", now), out;
    char *token = NULL;
    char reason[128];
    assert_int_equal(im_jwt_encode(key, &in, &token), IM_OK);
    assert_int_equal(im_jwt_decode("new-key-0123456789abcdefghijklmnopqrst",
                                   "old-key-0123456789abcdefghijklmnopqrst", token, "access", now,
                                   &out, reason, sizeof(reason)),
                     IM_EINVAL);
    assert_string_equal(reason, "invalid signature");
    assert_int_equal(im_jwt_decode("new-key-0123456789abcdefghijklmnopqrst", NULL, token, "access",
                                   now, &out, reason, sizeof(reason)),
                     IM_EINVAL);
    free(token);
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
        cmocka_unit_test(jwt_libjwt_token_compatible),
        cmocka_unit_test(jwt_openssl_signed_accepted),
        cmocka_unit_test(jwt_segment_count_checked),
        cmocka_unit_test(jwt_empty_segments_rejected),
        cmocka_unit_test(jwt_overlong_rejected),
        cmocka_unit_test(jwt_hostile_headers_rejected),
        cmocka_unit_test(jwt_noncanonical_header_rejected),
        cmocka_unit_test(jwt_bad_payloads_rejected),
        cmocka_unit_test(jwt_future_nbf_rejected),
        cmocka_unit_test(jwt_signature_form_checked),
        cmocka_unit_test(jwt_neither_key_rejected),
        cmocka_unit_test(password_hash_and_verify),
        cmocka_unit_test(password_default_cost_is_12),
        cmocka_unit_test(password_length_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
