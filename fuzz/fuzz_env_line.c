/* Fuzzes the .env line parser that im_config_load() runs on each line of the file. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader hands the parser one fgets() line of at most 8191 bytes. */
    if (size > 8191) {
        return 0;
    }
    char *line = im_strndup((const char *)data, size);
    char *end = line + strlen(line);
    char *key = NULL, *value = NULL;
    if (im_config_parse_env_line(line, &key, &value) && key) {
        if (*key == '\0' || key < line || key >= end || value < line || value > end) {
            abort();
        }
        for (const char *k = key; *k; k++) {
            if (!isalnum((unsigned char)*k) && *k != '_') {
                abort(); /* keys are checked against [A-Za-z0-9_] */
            }
        }
    }
    free(line);
    return 0;
}
