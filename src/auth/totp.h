#ifndef IM_AUTH_TOTP_H
#define IM_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Time-based one-time passwords (RFC 6238) with HMAC-SHA-1, the variant that
 * authenticator apps implement: 30-second steps, 6 digits. */
#define IM_TOTP_STEP_SECONDS 30
#define IM_TOTP_DIGITS       6
/* A code of the step before or after the current one is accepted too (clock drift). */
#define IM_TOTP_WINDOW_STEPS 1
/* A secret is 20 random bytes, which base32 writes as 32 characters. */
#define IM_TOTP_SECRET_BYTES 20
#define IM_TOTP_SECRET_CHARS 32

/* Returns the HOTP value (RFC 4226) of key for counter, reduced to digits digits (6..8). */
uint32_t im_totp_hotp(const unsigned char *key, size_t key_len, uint64_t counter, int digits);

/* Returns the time step that contains unix time now. */
int64_t im_totp_step(int64_t now);

/* Writes a new random secret in base32 (RFC 4648, no padding) to out. Returns IM_OK, and
 * aborts the process like im_random_bytes when the kernel's random generator fails. */
int im_totp_generate_secret(char out[IM_TOTP_SECRET_CHARS + 1]);

/* Encodes len bytes as base32 without padding into out (out_size >= 8 * len / 5 + 2). */
void im_base32_encode(const unsigned char *data, size_t len, char *out, size_t out_size);

/* Decodes base32 (upper or lower case, no padding, spaces ignored) into out. Returns the
 * number of bytes, or -1 for an invalid character or a too small out. */
int im_base32_decode(const char *text, unsigned char *out, size_t out_size);

/* Checks a 6-digit code against the base32 secret at time now, allowing
 * IM_TOTP_WINDOW_STEPS steps of drift either way. Steps at or before after_step are not
 * accepted, so a code cannot be used twice. On success stores the matching step in
 * *matched_step and returns true. The comparison of each candidate takes constant time. */
bool im_totp_verify(const char *secret, const char *code, int64_t now, int64_t after_step,
                    int64_t *matched_step);

#endif
