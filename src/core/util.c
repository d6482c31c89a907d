#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "inframon: out of memory allocating %zu bytes\n", size);
    abort();
}

void *im_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

void *im_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        out_of_memory(count * size);
    }
    return p;
}

void *im_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) {
        out_of_memory(size);
    }
    return p;
}

char *im_strdup(const char *s)
{
    return im_strndup(s, strlen(s));
}

char *im_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = im_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *im_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    char *p = im_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void im_buf_init(im_buf_t *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

static void buf_reserve(im_buf_t *buf, size_t extra)
{
    if (buf->len + extra + 1 <= buf->cap) {
        return;
    }
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + extra + 1) {
        cap *= 2;
    }
    buf->data = im_realloc(buf->data, cap);
    buf->cap = cap;
}

void im_buf_append(im_buf_t *buf, const void *data, size_t len)
{
    buf_reserve(buf, len);
    if (len) {
        memcpy(buf->data + buf->len, data, len);
    }
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void im_buf_appendf(im_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    buf_reserve(buf, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

void im_buf_reset(im_buf_t *buf)
{
    buf->len = 0;
    if (buf->data) {
        buf->data[0] = '\0';
    }
}

char *im_buf_detach(im_buf_t *buf, size_t *len)
{
    if (!buf->data) {
        im_buf_append(buf, "", 0);
    }
    char *data = buf->data;
    if (len) {
        *len = buf->len;
    }
    im_buf_init(buf);
    return data;
}

void im_buf_release(im_buf_t *buf)
{
    free(buf->data);
    im_buf_init(buf);
}

void im_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        /* getrandom(2) blocks only until the kernel's pool is first seeded at boot, and
         * may return fewer bytes than requested when a signal arrives. */
        ssize_t got = getrandom(p, len, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "inframon: getrandom failed (%s), no secure randomness available\n",
                    strerror(errno));
            abort();
        }
        p += got;
        len -= (size_t)got;
    }
}

void im_hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

void im_random_token(char *out, size_t out_size, size_t nbytes)
{
    unsigned char raw[96];
    char text[IM_BASE64URL_LEN(sizeof(raw)) + 1];
    if (nbytes > sizeof(raw)) {
        nbytes = sizeof(raw);
    }
    im_random_bytes(raw, nbytes);
    im_base64url_encode(raw, nbytes, text);
    im_strlcpy(out, text, out_size);
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(text, sizeof(text));
}

void im_sha256_hex(const void *data, size_t len, char out[65])
{
    struct sha256_ctx ctx;
    unsigned char digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof(digest), digest);
    im_hex_encode(digest, sizeof(digest), out);
}

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void base64_encode_with(const char *alphabet, bool pad, const void *data, size_t len,
                               char *out)
{
    const unsigned char *p = data;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t group = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alphabet[group >> 18];
        out[o++] = alphabet[(group >> 12) & 63];
        out[o++] = alphabet[(group >> 6) & 63];
        out[o++] = alphabet[group & 63];
    }
    size_t rest = len - i;
    if (rest > 0) {
        uint32_t group = (uint32_t)p[i] << 16 | (rest == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = alphabet[group >> 18];
        out[o++] = alphabet[(group >> 12) & 63];
        if (rest == 2) {
            out[o++] = alphabet[(group >> 6) & 63];
        } else if (pad) {
            out[o++] = '=';
        }
        if (pad) {
            out[o++] = '=';
        }
    }
    out[o] = '\0';
}

void im_base64_encode(const void *data, size_t len, char *out)
{
    base64_encode_with(base64_alphabet, true, data, len, out);
}

void im_base64url_encode(const void *data, size_t len, char *out)
{
    base64_encode_with(base64url_alphabet, false, data, len, out);
}

static int base64_digit(char ch, bool url)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == (url ? '-' : '+')) {
        return 62;
    }
    if (ch == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

/* Decodes len characters of text (URL-safe alphabet when url is true, else the standard one)
 * after the caller has removed the padding. Rejects a final group of one character and unused low
 * bits that are not zero, so that each byte string has exactly one accepted encoding. */
static bool base64_decode_digits(const char *text, size_t len, bool url, unsigned char *out,
                                 size_t out_size, size_t *out_len)
{
    if (len % 4 == 1) {
        return false;
    }
    size_t needed = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (needed > out_size) {
        return false;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int digit = base64_digit(text[i], url);
        if (digit < 0) {
            return false;
        }
        acc = (acc << 6) | (uint32_t)digit;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return false;
    }
    *out_len = n;
    return true;
}

bool im_base64_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                      size_t *out_len)
{
    if (len % 4 != 0) {
        return false;
    }
    size_t digits = len;
    for (int i = 0; i < 2 && digits > 0 && text[digits - 1] == '='; i++) {
        digits--;
    }
    return base64_decode_digits(text, digits, false, out, out_size, out_len);
}

bool im_base64url_decode(const char *text, size_t len, unsigned char *out, size_t out_size,
                         size_t *out_len)
{
    return base64_decode_digits(text, len, true, out, out_size, out_len);
}

bool im_const_time_eq(const void *a, const void *b, size_t len)
{
    return memeql_sec(a, b, len) != 0;
}

int64_t im_now(void)
{
    return (int64_t)time(NULL);
}

int64_t im_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t im_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void im_time_iso8601(int64_t unix_seconds, char out[32])
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = v;
    return true;
}

bool im_time_parse_rfc3339(const char *text, int64_t *unix_nanos)
{
    const char *p = text;
    int year, month, day, hour, minute, second;
    if (!parse_digits(&p, 4, &year) || *p++ != '-' || !parse_digits(&p, 2, &month) || *p++ != '-' ||
        !parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' ')) {
        return false;
    }
    p++;
    if (!parse_digits(&p, 2, &hour) || *p++ != ':' || !parse_digits(&p, 2, &minute) ||
        *p++ != ':' || !parse_digits(&p, 2, &second)) {
        return false;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return false;
    }
    int64_t nanos = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                nanos = nanos * 10 + (*p - '0');
            }
            digits++;
            p++;
        }
        if (digits == 0) {
            return false;
        }
        for (; digits < 9; digits++) {
            nanos *= 10;
        }
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (!parse_digits(&p, 2, &oh) || *p++ != ':' || !parse_digits(&p, 2, &om)) {
            return false;
        }
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (*p != '\0') {
        return false;
    }
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    int64_t seconds = (int64_t)timegm(&tm) - offset;
    /* Nanoseconds since 1970 fit in int64_t only from 1677 to 2262. */
    if (seconds >= INT64_MAX / 1000000000LL || seconds <= INT64_MIN / 1000000000LL) {
        return false;
    }
    *unix_nanos = seconds * 1000000000LL + nanos;
    return true;
}

bool im_parse_int64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!text || !*text || isspace((unsigned char)*text)) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool im_parse_bool(const char *text, bool *out)
{
    static const char *truthy[] = {"true", "1", "yes", "on"};
    static const char *falsy[] = {"false", "0", "no", "off"};
    if (!text) {
        return false;
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(truthy); i++) {
        if (strcasecmp(text, truthy[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, falsy[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

size_t im_strlcpy(char *dst, const char *src, size_t dst_size)
{
    size_t len = strlen(src);
    if (dst_size) {
        size_t n = len < dst_size - 1 ? len : dst_size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

bool im_str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool im_str_ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}
