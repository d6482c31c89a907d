/* Fuzzes token verification with attacker-chosen tokens: header, payload and signature
 * parsing in im_jwt_decode(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/util.h"

#define KEY "fuzzing-key-0123456789abcdefghijklmnop"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > IM_JWT_MAX_LENGTH + 16) {
        return 0;
    }
    char *token = im_strndup((const char *)data, size);
    im_jwt_claims_t claims;
    char reason[256];
    const char *type = size % 2 ? "access" : "refresh";
    int rc = im_jwt_decode(KEY, NULL, token, type, 1700000000, &claims, reason, sizeof(reason));
    if (rc == IM_OK && (claims.sub[0] == '\0' || strcmp(claims.type, type) != 0)) {
        abort(); /* an accepted token must carry the checked claims */
    }
    free(token);
    return 0;
}
