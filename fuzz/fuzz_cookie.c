/* Fuzzes Cookie header parsing (the refresh-token cookie). A returned value must be a
 * non-empty run of cookie-octets that occurs in the header, as the name must. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_cookie_octet(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
}

static void check_value(const char *header, size_t size, const char *name, const char *value)
{
    size_t value_len = strlen(value);
    if (value_len == 0 || value_len > size) {
        abort();
    }
    for (size_t i = 0; i < value_len; i++) {
        if (!is_cookie_octet((unsigned char)value[i])) {
            abort();
        }
    }
    if (!memmem(header, size, value, value_len) || !memmem(header, size, name, strlen(name))) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"inframon_refresh", "a", "=", ";"};
    /* A copy without a terminator, so that ASan catches a read past size. */
    char *header = malloc(size ? size : 1);
    if (!header) {
        return 0;
    }
    memcpy(header, data, size);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *value = im_cookie_value(header, size, names[i]);
        if (value) {
            check_value(header, size, names[i], value);
        }
        free(value);
    }
    free(header);
    return 0;
}
