#ifndef IM_AUTH_JWT_H
#define IM_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#define IM_JWT_MAX_LENGTH 4096

/* The claims InfraMon puts in its tokens. */
typedef struct {
    char sub[64]; /* username */
    int64_t user_id;
    char type[16]; /* "access" or "refresh" */
    int64_t iat;
    int64_t exp;
    char jti[48]; /* random token id */
    char sid[48]; /* login session (refresh-token family) */
} im_jwt_claims_t;

/* Signs claims with HS256 under key. On success *token is a malloc'd string. Returns IM_ERR
 * when a string claim is not valid UTF-8. */
int im_jwt_encode(const char *key, const im_jwt_claims_t *claims, char **token);

/* Verifies token with key, then with previous_key (may be NULL) during a key rotation.
 * The token must be three canonical base64url segments (no padding or whitespace). The
 * header must be a JSON object without duplicate keys whose alg is exactly "HS256", with
 * no other key than an optional typ of exactly "JWT". The signature must be a 32-byte
 * HMAC-SHA256, compared in constant time. The payload is JSON without duplicate keys:
 * sub, type, jti and sid non-empty strings, user_id, iat and exp integers. exp must not have passed, iat and any nbf must not be in the future (60 s of
 * clock skew allowed), and type must equal expected_type. On failure returns IM_EINVAL
 * with the reason, for logs only, in reason. */
int im_jwt_decode(const char *key, const char *previous_key, const char *token,
                  const char *expected_type, int64_t now, im_jwt_claims_t *claims, char *reason,
                  size_t reason_len);

#endif
