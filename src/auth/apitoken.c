#include "auth/apitoken.h"

#include <ctype.h>
#include <string.h>

#include "core/util.h"

void im_apitoken_generate(char out[IM_APITOKEN_LEN + 1])
{
    memcpy(out, IM_APITOKEN_PREFIX, strlen(IM_APITOKEN_PREFIX));
    im_random_token(out + strlen(IM_APITOKEN_PREFIX), IM_APITOKEN_LEN + 1 - 4, 32);
}

bool im_apitoken_is_candidate(const char *text)
{
    return text && strncmp(text, IM_APITOKEN_PREFIX, strlen(IM_APITOKEN_PREFIX)) == 0;
}

bool im_apitoken_well_formed(const char *text)
{
    if (!im_apitoken_is_candidate(text) || strlen(text) != IM_APITOKEN_LEN) {
        return false;
    }
    for (const char *p = text + strlen(IM_APITOKEN_PREFIX); *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
            return false;
        }
    }
    return true;
}
