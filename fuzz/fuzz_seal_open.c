/* Fuzzes the reading of sealed TOTP secrets (im_seal_open) with arbitrary stored text, and
 * checks that a secret sealed from the input opens to the same bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/seal.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static im_seal_key_t key;
    static bool have_key;
    if (!have_key) {
        if (im_seal_key_derive("fuzz-secret-key-with-at-least-32-characters", &key) != IM_OK) {
            abort();
        }
        have_key = true;
    }
    char text[256];
    size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, len);
    text[len] = '\0';

    char plain[IM_SEAL_PLAIN_MAX + 1];
    int rc = im_seal_open(&key, "totp:1", text, plain, sizeof(plain));
    if (rc == IM_OK && strlen(plain) > IM_SEAL_PLAIN_MAX) {
        abort();
    }

    /* Round trip: any NUL-free plaintext up to the maximum seals and opens unchanged. */
    size_t plain_len = strlen(text);
    if (plain_len <= IM_SEAL_PLAIN_MAX) {
        char sealed[IM_SEAL_TEXT_LEN(IM_SEAL_PLAIN_MAX) + 1];
        if (im_seal(&key, "totp:1", text, sealed, sizeof(sealed)) != IM_OK ||
            im_seal_open(&key, "totp:1", sealed, plain, sizeof(plain)) != IM_OK ||
            strcmp(plain, text) != 0 ||
            im_seal_open(&key, "totp:2", sealed, plain, sizeof(plain)) != IM_EDENIED) {
            abort();
        }
    }
    return 0;
}
