/* Fuzzes the JSON request-body path: the nesting-depth scan and the parse that
 * im_req_json_object() runs on every JSON body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/util.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    int depth = im_json_nesting_depth(text, size);
    if (depth < 0) {
        abort();
    }
    char err[512];
    json_t *value = NULL;
    int rc = im_json_parse_object(text, size, 64, &value, err, sizeof(err));
    if ((rc == IM_OK) != (value != NULL)) {
        abort();
    }
    if (rc == IM_OK && (depth > 64 || !json_is_object(value))) {
        abort(); /* the cap must hold for everything that parses */
    }
    json_decref(value);
    return 0;
}
