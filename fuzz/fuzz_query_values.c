/* Fuzzes the parsers of query values: integers (tail, limit, points, ids), booleans and
 * RFC 3339 times (since, until). An accepted integer must lie in its range and print back
 * as the same number, and an accepted time must format and parse back to the same second. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_int(const char *text, int64_t min, int64_t max)
{
    int64_t value = 0;

    if (!im_parse_int64(text, min, max, &value)) {
        return;
    }
    if (value < min || value > max) {
        abort();
    }
    /* Printed back in decimal, the value must parse to itself. */
    char printed[32];
    snprintf(printed, sizeof(printed), "%" PRId64, value);
    int64_t again = 0;
    if (!im_parse_int64(printed, min, max, &again) || again != value) {
        abort();
    }
}

static void check_time(const char *text)
{
    int64_t nanos = 0;

    if (!im_time_parse_rfc3339(text, &nanos)) {
        return;
    }
    int64_t seconds = nanos / 1000000000;
    if (nanos % 1000000000 < 0) {
        seconds--;
    }
    char formatted[32];
    im_time_iso8601(seconds, formatted);
    int64_t again = 0;
    if (!im_time_parse_rfc3339(formatted, &again) || again / 1000000000 != seconds) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Query values reach the parsers as NUL-terminated strings of their own. */
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    check_int(text, INT64_MIN, INT64_MAX);
    check_int(text, 0, 100000);
    check_int(text, 1, 1);
    bool flag = false;
    (void)im_parse_bool(text, &flag);
    check_time(text);

    free(text);
    return 0;
}
