#include "auth/cookie.h"

#include <stdbool.h>
#include <string.h>

#include "core/util.h"

static bool is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
           (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Returns a copy of the value in [start, end) after trimming and unquoting, or NULL when
 * it is empty or contains a byte that is not a cookie-octet. */
static char *copy_value(const char *start, const char *end)
{
    while (start < end && is_space(*start)) {
        start++;
    }
    while (end > start && is_space(end[-1])) {
        end--;
    }
    if (end - start >= 2 && *start == '"' && end[-1] == '"') {
        start++;
        end--;
    }
    if (start == end) {
        return NULL;
    }
    for (const char *p = start; p < end; p++) {
        if (!is_cookie_octet((unsigned char)*p)) {
            return NULL;
        }
    }
    return im_strndup(start, (size_t)(end - start));
}

char *im_cookie_value(const char *header, size_t header_len, const char *name)
{
    if (!header || !name || !*name) {
        return NULL;
    }
    const char *nul = memchr(header, '\0', header_len);
    const char *limit = nul ? nul : header + header_len;
    size_t name_len = strlen(name);
    const char *p = header;
    while (p < limit) {
        while (p < limit && (is_space(*p) || *p == ';')) {
            p++;
        }
        const char *end = memchr(p, ';', (size_t)(limit - p));
        if (!end) {
            end = limit;
        }
        if ((size_t)(end - p) > name_len && memcmp(p, name, name_len) == 0 &&
            p[name_len] == '=') {
            return copy_value(p + name_len + 1, end);
        }
        p = end;
    }
    return NULL;
}
