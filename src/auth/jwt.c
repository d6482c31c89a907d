/* HS256 JSON Web Tokens (RFC 7519) on jansson and Nettle's HMAC-SHA256. */
#include "auth/jwt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "core/util.h"

#define CLOCK_SKEW_SECONDS 60

/* The header InfraMon writes. libjwt 1.10 wrote the same bytes, so tokens issued before
 * the move to Nettle stay valid and encode to the same text. */
#define JWT_HEADER_JSON "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Encodes len bytes as base64url and appends them to buf. */
static void append_base64url(im_buf_t *buf, const void *data, size_t len)
{
    char *text = im_malloc(IM_BASE64URL_LEN(len) + 1);
    im_base64url_encode(data, len, text);
    im_buf_append(buf, text, strlen(text));
    free(text);
}

static void hs256(const char *key, const char *data, size_t len,
                  unsigned char mac[SHA256_DIGEST_SIZE])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
    hmac_sha256_update(&ctx, len, (const uint8_t *)data);
    hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, mac);
    explicit_bzero(&ctx, sizeof(ctx));
}

int im_jwt_encode(const char *key, const im_jwt_claims_t *c, char **token)
{
    *token = NULL;
    /* json_pack fails on strings that are not valid UTF-8. */
    json_t *claims = json_pack("{s:s, s:I, s:s, s:I, s:I, s:s, s:s}", "sub", c->sub, "user_id",
                               (json_int_t)c->user_id, "type", c->type, "iat", (json_int_t)c->iat,
                               "exp", (json_int_t)c->exp, "jti", c->jti, "sid", c->sid);
    if (!claims) {
        return IM_ERR;
    }
    char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(claims);
    if (!payload) {
        return IM_ERR;
    }
    im_buf_t buf;
    im_buf_init(&buf);
    append_base64url(&buf, JWT_HEADER_JSON, strlen(JWT_HEADER_JSON));
    im_buf_append(&buf, ".", 1);
    append_base64url(&buf, payload, strlen(payload));
    free(payload);

    unsigned char mac[SHA256_DIGEST_SIZE];
    hs256(key, buf.data, buf.len, mac);
    im_buf_append(&buf, ".", 1);
    append_base64url(&buf, mac, sizeof(mac));
    *token = im_buf_detach(&buf, NULL);
    return IM_OK;
}

/* Writes alg to reason as rejected, cut short and with unprintable bytes replaced, since the
 * reason goes to the log. */
static void reject_alg(const char *alg, char *reason, size_t reason_len)
{
    char shown[33];
    im_strlcpy(shown, alg, sizeof(shown));
    for (char *p = shown; *p; p++) {
        if (!isprint((unsigned char)*p)) {
            *p = '?';
        }
    }
    snprintf(reason, reason_len, "algorithm \"%s\" is not accepted", shown);
}

/* Checks the header segment: a JSON object without duplicate keys whose alg is exactly
 * "HS256", with at most one other key, typ, which must be exactly "JWT". */
static int check_header(const char *text, size_t len, char *reason, size_t reason_len)
{
    char issued[IM_BASE64URL_LEN(sizeof(JWT_HEADER_JSON)) + 1];
    im_base64url_encode(JWT_HEADER_JSON, strlen(JWT_HEADER_JSON), issued);
    if (len == strlen(issued) && memcmp(text, issued, len) == 0) {
        return IM_OK;
    }
    unsigned char decoded[IM_JWT_MAX_LENGTH];
    size_t decoded_len = 0;
    json_t *header = NULL;
    if (im_base64url_decode(text, len, decoded, sizeof(decoded), &decoded_len)) {
        header = json_loadb((const char *)decoded, decoded_len, JSON_REJECT_DUPLICATES, NULL);
    }
    json_t *alg = json_object_get(header, "alg");
    json_t *typ = json_object_get(header, "typ");
    int rc = IM_EINVAL;
    if (!json_is_object(header)) {
        snprintf(reason, reason_len, "malformed token header");
    } else if (!json_is_string(alg)) {
        snprintf(reason, reason_len, "token header has no alg string");
    } else if (strcmp(json_string_value(alg), "HS256") != 0) {
        reject_alg(json_string_value(alg), reason, reason_len);
    } else if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)) {
        snprintf(reason, reason_len, "token header typ is not \"JWT\"");
    } else if (json_object_size(header) != (typ ? 2u : 1u)) {
        snprintf(reason, reason_len, "token header has keys other than alg and typ");
    } else {
        rc = IM_OK;
    }
    json_decref(header);
    return rc;
}

static bool signature_matches(const char *key, const char *signed_part, size_t signed_len,
                              const unsigned char signature[SHA256_DIGEST_SIZE])
{
    if (!key) {
        return false;
    }
    unsigned char mac[SHA256_DIGEST_SIZE];
    hs256(key, signed_part, signed_len, mac);
    return memeql_sec(mac, signature, sizeof(mac)) != 0;
}

static bool copy_string_claim(json_t *claims, const char *name, char *out, size_t size)
{
    json_t *value = json_object_get(claims, name);
    const char *text = json_string_value(value);
    /* jansson already rejects \u0000 without JSON_ALLOW_NUL. The length check keeps a NUL
     * from cutting the C copy short should that flag ever be set. */
    if (!text || !*text || json_string_length(value) != strlen(text) || strlen(text) >= size) {
        return false;
    }
    im_strlcpy(out, text, size);
    return true;
}

static bool get_int_claim(json_t *claims, const char *name, int64_t *out)
{
    json_t *value = json_object_get(claims, name);
    if (!json_is_integer(value)) {
        return false;
    }
    *out = (int64_t)json_integer_value(value);
    return true;
}

/* Decodes the payload segment into claims c and checks the token type and times. */
static int check_claims(const char *text, size_t len, const char *expected_type, int64_t now,
                        im_jwt_claims_t *c, char *reason, size_t reason_len)
{
    unsigned char decoded[IM_JWT_MAX_LENGTH];
    size_t decoded_len = 0;
    json_t *claims = NULL;
    if (im_base64url_decode(text, len, decoded, sizeof(decoded), &decoded_len)) {
        claims = json_loadb((const char *)decoded, decoded_len, JSON_REJECT_DUPLICATES, NULL);
    }
    int rc = IM_EINVAL;
    int64_t not_before = 0;
    json_t *nbf = json_object_get(claims, "nbf");
    if (!json_is_object(claims)) {
        snprintf(reason, reason_len, "malformed token payload");
    } else if (!copy_string_claim(claims, "sub", c->sub, sizeof(c->sub)) ||
               !copy_string_claim(claims, "type", c->type, sizeof(c->type)) ||
               !copy_string_claim(claims, "jti", c->jti, sizeof(c->jti)) ||
               !copy_string_claim(claims, "sid", c->sid, sizeof(c->sid)) ||
               !get_int_claim(claims, "user_id", &c->user_id) ||
               !get_int_claim(claims, "iat", &c->iat) || !get_int_claim(claims, "exp", &c->exp) ||
               (nbf && !get_int_claim(claims, "nbf", &not_before))) {
        snprintf(reason, reason_len, "missing or malformed claims");
    } else if (strcmp(c->type, expected_type) != 0) {
        snprintf(reason, reason_len, "a %s token was used where a %s token is expected", c->type,
                 expected_type);
    } else if (c->exp <= now) {
        snprintf(reason, reason_len, "token expired");
    } else if (c->iat > now + CLOCK_SKEW_SECONDS) {
        snprintf(reason, reason_len, "token issued in the future");
    } else if (nbf && not_before > now + CLOCK_SKEW_SECONDS) {
        snprintf(reason, reason_len, "token not valid yet (nbf)");
    } else {
        rc = IM_OK;
    }
    json_decref(claims);
    explicit_bzero(decoded, sizeof(decoded));
    return rc;
}

int im_jwt_decode(const char *key, const char *previous_key, const char *token,
                  const char *expected_type, int64_t now, im_jwt_claims_t *c, char *reason,
                  size_t reason_len)
{
    memset(c, 0, sizeof(*c));
    size_t len = strlen(token);
    if (len > IM_JWT_MAX_LENGTH) {
        snprintf(reason, reason_len, "token longer than %d bytes", IM_JWT_MAX_LENGTH);
        return IM_EINVAL;
    }
    const char *first_dot = strchr(token, '.');
    const char *second_dot = first_dot ? strchr(first_dot + 1, '.') : NULL;
    if (!second_dot || strchr(second_dot + 1, '.')) {
        snprintf(reason, reason_len, "malformed token: expected three segments separated by dots");
        return IM_EINVAL;
    }
    const char *payload = first_dot + 1;
    const char *signature_text = second_dot + 1;
    size_t header_len = (size_t)(first_dot - token);
    size_t payload_len = (size_t)(second_dot - payload);
    size_t signature_len = strlen(signature_text);
    if (header_len == 0 || payload_len == 0 || signature_len == 0) {
        snprintf(reason, reason_len, "malformed token: empty segment");
        return IM_EINVAL;
    }
    int rc = check_header(token, header_len, reason, reason_len);
    if (rc != IM_OK) {
        return rc;
    }
    /* Room for one byte more than a SHA-256 MAC, so that a longer signature fails the length
     * check below instead of the decode. */
    unsigned char signature[SHA256_DIGEST_SIZE + 1];
    size_t decoded_len = 0;
    if (!im_base64url_decode(signature_text, signature_len, signature, sizeof(signature),
                             &decoded_len) ||
        decoded_len != SHA256_DIGEST_SIZE) {
        snprintf(reason, reason_len, "malformed signature: expected 32 bytes in base64url");
        return IM_EINVAL;
    }
    size_t signed_len = (size_t)(second_dot - token);
    if (!signature_matches(key, token, signed_len, signature) &&
        !signature_matches(previous_key, token, signed_len, signature)) {
        snprintf(reason, reason_len, "invalid signature");
        return IM_EINVAL;
    }
    rc = check_claims(payload, payload_len, expected_type, now, c, reason, reason_len);
    if (rc != IM_OK) {
        memset(c, 0, sizeof(*c));
    }
    return rc;
}
