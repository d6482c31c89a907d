#include "auth/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "core/util.h"

#define CLOCK_SKEW_SECONDS 60

int im_jwt_encode(const char *key, const im_jwt_claims_t *c, char **token)
{
    jwt_t *jwt = NULL;
    int rc = IM_ERR;
    *token = NULL;
    if (jwt_new(&jwt) != 0) {
        goto out;
    }
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key, (int)strlen(key)) != 0 ||
        jwt_add_grant(jwt, "sub", c->sub) != 0 ||
        jwt_add_grant_int(jwt, "user_id", (long)c->user_id) != 0 ||
        jwt_add_grant(jwt, "type", c->type) != 0 || jwt_add_grant_int(jwt, "iat", (long)c->iat) ||
        jwt_add_grant_int(jwt, "exp", (long)c->exp) != 0 || jwt_add_grant(jwt, "jti", c->jti) ||
        jwt_add_grant(jwt, "sid", c->sid) != 0) {
        goto out;
    }
    char *encoded = jwt_encode_str(jwt);
    if (!encoded) {
        goto out;
    }
    *token = im_strdup(encoded);
    free(encoded);
    rc = IM_OK;
out:
    jwt_free(jwt);
    return rc;
}

/* Decodes the base64url header segment and checks that alg is exactly "HS256": libjwt 1.10
 * also accepts a lower-case "hs256" and other HMAC sizes under the same key. */
static int check_header(const char *token, char *reason, size_t reason_len)
{
    const char *dot = strchr(token, '.');
    if (!dot || dot == token || dot - token > 512) {
        snprintf(reason, reason_len, "malformed token");
        return IM_EINVAL;
    }
    size_t len = (size_t)(dot - token);
    unsigned char decoded[512];
    size_t out = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = token[i];
        int v;
        if (ch >= 'A' && ch <= 'Z') {
            v = ch - 'A';
        } else if (ch >= 'a' && ch <= 'z') {
            v = ch - 'a' + 26;
        } else if (ch >= '0' && ch <= '9') {
            v = ch - '0' + 52;
        } else if (ch == '-') {
            v = 62;
        } else if (ch == '_') {
            v = 63;
        } else {
            snprintf(reason, reason_len, "malformed token header");
            return IM_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            decoded[out++] = (unsigned char)(acc >> bits);
        }
    }
    json_error_t jerr;
    json_t *header = json_loadb((const char *)decoded, out, JSON_REJECT_DUPLICATES, &jerr);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    int rc = IM_OK;
    if (!alg || strcmp(alg, "HS256") != 0) {
        snprintf(reason, reason_len, "algorithm %s is not accepted", alg ? alg : "(missing)");
        rc = IM_EINVAL;
    }
    json_decref(header);
    return rc;
}

static bool copy_grant(jwt_t *jwt, const char *name, char *out, size_t size)
{
    const char *value = jwt_get_grant(jwt, name);
    if (!value || !*value || strlen(value) >= size) {
        return false;
    }
    im_strlcpy(out, value, size);
    return true;
}

static bool get_int_grant(jwt_t *jwt, const char *name, int64_t *out)
{
    errno = 0;
    long value = jwt_get_grant_int(jwt, name);
    if (errno != 0) {
        return false;
    }
    *out = value;
    return true;
}

static int verify_with_key(const char *key, const char *token, jwt_t **jwt)
{
    *jwt = NULL;
    if (!key) {
        return IM_EINVAL;
    }
    if (jwt_decode(jwt, token, (const unsigned char *)key, (int)strlen(key)) != 0 || !*jwt) {
        return IM_EINVAL;
    }
    if (jwt_get_alg(*jwt) != JWT_ALG_HS256) {
        jwt_free(*jwt);
        *jwt = NULL;
        return IM_EINVAL;
    }
    return IM_OK;
}

int im_jwt_decode(const char *key, const char *previous_key, const char *token,
                  const char *expected_type, int64_t now, im_jwt_claims_t *c, char *reason,
                  size_t reason_len)
{
    memset(c, 0, sizeof(*c));
    if (strlen(token) > IM_JWT_MAX_LENGTH) {
        snprintf(reason, reason_len, "token longer than %d bytes", IM_JWT_MAX_LENGTH);
        return IM_EINVAL;
    }
    int rc = check_header(token, reason, reason_len);
    if (rc) {
        return rc;
    }
    jwt_t *jwt = NULL;
    if (verify_with_key(key, token, &jwt) != IM_OK &&
        verify_with_key(previous_key, token, &jwt) != IM_OK) {
        snprintf(reason, reason_len, "invalid signature or encoding");
        return IM_EINVAL;
    }
    rc = IM_EINVAL;
    if (!copy_grant(jwt, "sub", c->sub, sizeof(c->sub)) ||
        !copy_grant(jwt, "type", c->type, sizeof(c->type)) ||
        !copy_grant(jwt, "jti", c->jti, sizeof(c->jti)) ||
        !copy_grant(jwt, "sid", c->sid, sizeof(c->sid)) ||
        !get_int_grant(jwt, "user_id", &c->user_id) || !get_int_grant(jwt, "iat", &c->iat) ||
        !get_int_grant(jwt, "exp", &c->exp)) {
        snprintf(reason, reason_len, "missing or malformed claims");
        goto out;
    }
    if (strcmp(c->type, expected_type) != 0) {
        snprintf(reason, reason_len, "a %s token was used where a %s token is expected", c->type,
                 expected_type);
        goto out;
    }
    if (c->exp <= now) {
        snprintf(reason, reason_len, "token expired");
        goto out;
    }
    if (c->iat > now + CLOCK_SKEW_SECONDS) {
        snprintf(reason, reason_len, "token issued in the future");
        goto out;
    }
    rc = IM_OK;
out:
    jwt_free(jwt);
    return rc;
}
