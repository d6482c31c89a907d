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

/* Signs claims with HS256 under key. On success *token is a malloc'd string. */
int im_jwt_encode(const char *key, const im_jwt_claims_t *claims, char **token);

/* Verifies token with key, then with previous_key (may be NULL) during a key rotation.
 * Accepts only a header of exactly alg "HS256", a valid signature, an unexpired exp, an iat
 * not in the future (60 s of clock skew allowed), the expected type, and non-empty sub, jti
 * and sid. On failure returns IM_EINVAL with the reason, for logs only, in reason. */
int im_jwt_decode(const char *key, const char *previous_key, const char *token,
                  const char *expected_type, int64_t now, im_jwt_claims_t *claims, char *reason,
                  size_t reason_len);

#endif
