#ifndef IM_AUTH_APITOKEN_H
#define IM_AUTH_APITOKEN_H

#include <stdbool.h>

/* Personal API tokens are "imt_" followed by 43 base64url characters (32 random bytes).
 * The prefix lets the bearer check tell them from JWTs, which start with "ey". */
#define IM_APITOKEN_PREFIX      "imt_"
#define IM_APITOKEN_LEN         47
#define IM_APITOKEN_SHOWN_CHARS 8 /* prefix and first characters kept for display */

/* Writes a new random token to out. */
void im_apitoken_generate(char out[IM_APITOKEN_LEN + 1]);

/* Returns true when text starts with the API token prefix. */
bool im_apitoken_is_candidate(const char *text);

/* Returns true when text has the exact shape of an API token. */
bool im_apitoken_well_formed(const char *text);

#endif
