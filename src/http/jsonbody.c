/* Parsing of JSON request bodies, kept free of libmicrohttpd so the fuzz target can call it. */
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"

int im_json_nesting_depth(const char *data, size_t len)
{
    int depth = 0, max_depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_string) {
            if (c == '\\') {
                i++; /* the escaped character cannot end the string */
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            depth++;
            max_depth = depth > max_depth ? depth : max_depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max_depth;
}

int im_json_parse_object(const char *data, size_t len, int max_depth, json_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (len == 0) {
        snprintf(err, errlen, "request body is empty: expected a JSON object");
        return IM_EINVAL;
    }
    /* Checked before jansson parses, whose own limit (2048 levels) is far above any body
     * the API accepts. */
    int depth = im_json_nesting_depth(data, len);
    if (depth > max_depth) {
        snprintf(err, errlen,
                 "request body nests arrays and objects %d levels deep; the limit is %d "
                 "(MAX_JSON_DEPTH)",
                 depth, max_depth);
        return IM_EINVAL;
    }
    json_error_t jerr;
    json_t *value = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!value) {
        snprintf(err, errlen, "request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return IM_EINVAL;
    }
    if (!json_is_object(value)) {
        json_decref(value);
        snprintf(err, errlen, "request body must be a JSON object");
        return IM_EINVAL;
    }
    *out = value;
    return IM_OK;
}
