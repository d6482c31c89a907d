#ifndef IM_CORE_UTIL_H
#define IM_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Status codes shared by every module: 0 is success, failures are negative. */
#define IM_OK           0
#define IM_ERR          -1 /* generic failure, details in the caller's message buffer */
#define IM_ENOTFOUND    -2 /* the object does not exist */
#define IM_ECONFLICT    -3 /* the object exists or its state forbids the request */
#define IM_EINVAL       -4 /* invalid input */
#define IM_EUNAVAILABLE -5 /* a dependency (engine, database) cannot be reached */
#define IM_EUPSTREAM    -6 /* a dependency returned an error */
#define IM_EDENIED      -7 /* authentication failed */
#define IM_EFORBIDDEN   -8 /* authenticated, but not allowed */

#define IM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IM_WARN_UNUSED  __attribute__((warn_unused_result))

/* Allocation helpers that abort the process when memory is exhausted. */
void *im_malloc(size_t size);
void *im_calloc(size_t count, size_t size);
void *im_realloc(void *ptr, size_t size);
char *im_strdup(const char *s);
char *im_strndup(const char *s, size_t n);
char *im_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated after im_buf_append*. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} im_buf_t;

void im_buf_init(im_buf_t *buf);
void im_buf_append(im_buf_t *buf, const void *data, size_t len);
void im_buf_appendf(im_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void im_buf_reset(im_buf_t *buf);
/* Hands the data over to the caller (who frees it) and leaves the buffer empty. */
char *im_buf_detach(im_buf_t *buf, size_t *len);
void im_buf_release(im_buf_t *buf);

/* Fills buf with cryptographically secure random bytes; aborts if the CSPRNG fails. */
void im_random_bytes(void *buf, size_t len);
/* Writes 2*len lowercase hex digits and a NUL to out. */
void im_hex_encode(const void *data, size_t len, char *out);
/* Writes a random URL-safe token of nbytes of entropy (base64url, no padding) to out. */
void im_random_token(char *out, size_t out_size, size_t nbytes);
/* Base64 (RFC 4648): im_base64_* use the standard alphabet with '=' padding, and
 * im_base64url_* the URL-safe alphabet without padding. The encoders write
 * IM_BASE64_LEN(len) or IM_BASE64URL_LEN(len) characters and a NUL to out. The decoders
 * accept only the encoder's exact output: no whitespace, no other alphabet, padding only
 * where it is due, and zero unused bits. They return false on any other text or when the
 * result does not fit in out_size, and may have written to out by then. */
#define IM_BASE64_LEN(len)    (4 * (((len) + 2) / 3))
#define IM_BASE64URL_LEN(len) (((len)*4 + 2) / 3)
void im_base64_encode(const void *data, size_t len, char *out);
void im_base64url_encode(const void *data, size_t len, char *out);
bool im_base64_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                      size_t *out_len);
bool im_base64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                         size_t *out_len);
/* Writes the SHA-256 of data as 64 hex digits and a NUL to out. */
void im_sha256_hex(const void *data, size_t len, char out[65]);
/* Compares two buffers in time independent of their content. */
bool im_const_time_eq(const void *a, const void *b, size_t len);

/* Current wall-clock time in seconds and in milliseconds, and a monotonic clock in ms. */
int64_t im_now(void);
int64_t im_now_ms(void);
int64_t im_monotonic_ms(void);
/* Formats a Unix time as ISO-8601 UTC with a Z ("2026-01-02T03:04:05Z") into out[32]. */
void im_time_iso8601(int64_t unix_seconds, char out[32]);
/* Parses RFC 3339 ("2026-01-02T03:04:05.123Z", "+02:00" offsets) into nanoseconds since the
 * epoch. Returns false when the text is not a valid timestamp. */
bool im_time_parse_rfc3339(const char *text, int64_t *unix_nanos);

/* Parses a whole string as a base-10 integer in [min, max]; false on any junk. */
bool im_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out);
/* Parses "true/false/1/0/yes/no/on/off" (any case); false when it matches none of them. */
bool im_parse_bool(const char *text, bool *out);

/* Copies src into dst of size dst_size, truncating and always NUL-terminating. */
size_t im_strlcpy(char *dst, const char *src, size_t dst_size);
bool im_str_starts_with(const char *s, const char *prefix);
bool im_str_ends_with(const char *s, const char *suffix);

#endif
