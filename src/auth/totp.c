#include "auth/totp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "core/util.h"

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint32_t im_totp_hotp(const unsigned char *key, size_t key_len, uint64_t counter, int digits)
{
    unsigned char message[8];
    for (int i = 7; i >= 0; i--) {
        message[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    struct hmac_sha1_ctx ctx;
    unsigned char mac[SHA1_DIGEST_SIZE];
    hmac_sha1_set_key(&ctx, key_len, key);
    hmac_sha1_update(&ctx, sizeof(message), message);
    hmac_sha1_digest(&ctx, sizeof(mac), mac);
    explicit_bzero(&ctx, sizeof(ctx));
    /* Dynamic truncation (RFC 4226 section 5.3): the low nibble of the last byte picks
     * four bytes, of which the top bit is dropped. */
    unsigned offset = mac[sizeof(mac) - 1] & 0x0f;
    uint32_t binary = ((uint32_t)(mac[offset] & 0x7f) << 24) | ((uint32_t)mac[offset + 1] << 16) |
                      ((uint32_t)mac[offset + 2] << 8) | (uint32_t)mac[offset + 3];
    uint32_t modulus = 1;
    for (int i = 0; i < digits; i++) {
        modulus *= 10;
    }
    return binary % modulus;
}

int64_t im_totp_step(int64_t now)
{
    return now / IM_TOTP_STEP_SECONDS;
}

void im_base32_encode(const unsigned char *data, size_t len, char *out, size_t out_size)
{
    size_t written = 0;
    uint32_t buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | data[i];
        bits += 8;
        while (bits >= 5 && written + 1 < out_size) {
            out[written++] = base32_alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && written + 1 < out_size) {
        out[written++] = base32_alphabet[(buffer << (5 - bits)) & 31];
    }
    if (out_size) {
        out[written] = '\0';
    }
}

int im_base32_decode(const char *text, unsigned char *out, size_t out_size)
{
    uint32_t buffer = 0;
    int bits = 0;
    size_t written = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ' ' || *p == '=') {
            continue;
        }
        const char *found = strchr(base32_alphabet, toupper((unsigned char)*p));
        if (!found || !*found) {
            return -1;
        }
        buffer = (buffer << 5) | (uint32_t)(found - base32_alphabet);
        bits += 5;
        if (bits >= 8) {
            if (written == out_size) {
                return -1;
            }
            out[written++] = (unsigned char)((buffer >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return (int)written;
}

int im_totp_generate_secret(char out[IM_TOTP_SECRET_CHARS + 1])
{
    unsigned char key[IM_TOTP_SECRET_BYTES];
    im_random_bytes(key, sizeof(key));
    im_base32_encode(key, sizeof(key), out, IM_TOTP_SECRET_CHARS + 1);
    explicit_bzero(key, sizeof(key));
    return IM_OK;
}

bool im_totp_verify(const char *secret, const char *code, int64_t now, int64_t after_step,
                    int64_t *matched_step)
{
    if (!secret || !code || strlen(code) != IM_TOTP_DIGITS) {
        return false;
    }
    for (const char *p = code; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
    }
    unsigned char key[64];
    int key_len = im_base32_decode(secret, key, sizeof(key));
    if (key_len <= 0) {
        return false;
    }
    int64_t current = im_totp_step(now);
    bool matched = false;
    for (int64_t step = current - IM_TOTP_WINDOW_STEPS; step <= current + IM_TOTP_WINDOW_STEPS;
         step++) {
        char expected[16];
        snprintf(expected, sizeof(expected), "%0*u", IM_TOTP_DIGITS,
                 (unsigned)im_totp_hotp(key, (size_t)key_len, (uint64_t)step, IM_TOTP_DIGITS));
        if (memeql_sec(expected, code, IM_TOTP_DIGITS) && step > after_step && !matched) {
            matched = true;
            *matched_step = step;
        }
    }
    explicit_bzero(key, sizeof(key));
    return matched;
}
