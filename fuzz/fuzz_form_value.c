/* Fuzzes application/x-www-form-urlencoded parsing (login form bodies). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"username", "password", "grant_type", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *value = im_form_value((const char *)data, size, names[i]);
        free(value);
    }
    return 0;
}
