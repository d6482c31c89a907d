#include <ctype.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX escapes and '+' into buf; false on a truncated or invalid escape or an
 * embedded NUL. */
static bool url_decode(const char *src, size_t len, im_buf_t *buf)
{
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) {
                return false;
            }
            int hi = hex_value(src[i + 1]);
            int lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        im_buf_append(buf, &c, 1);
    }
    im_buf_append(buf, "", 0);
    return true;
}

char *im_form_value(const char *body, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq && (size_t)(eq - p) == name_len && memcmp(p, name, name_len) == 0) {
            im_buf_t value;
            im_buf_init(&value);
            if (!url_decode(eq + 1, (size_t)(pair_end - eq - 1), &value)) {
                im_buf_release(&value);
                return NULL;
            }
            return im_buf_detach(&value, NULL);
        }
        p = pair_end + 1;
    }
    return NULL;
}
