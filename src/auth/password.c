#include "auth/password.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

int im_password_hash(const char *password, int cost, char out[IM_PASSWORD_HASH_MAX])
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    /* A NULL random source makes libxcrypt read the kernel's CSPRNG itself. The cost must be
     * passed explicitly: 0 would mean libxcrypt's default. */
    if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, setting, sizeof(setting))) {
        im_log_error("auth", "crypt_gensalt_rn failed for bcrypt cost %d", cost);
        return IM_ERR;
    }
    /* struct crypt_data is about 32 KiB: keep it off the (small) HTTP thread stacks. */
    struct crypt_data *data = im_calloc(1, sizeof(*data));
    int rc = IM_ERR;
    const char *hash = crypt_rn(password, setting, data, sizeof(*data));
    if (hash && hash[0] != '*' && strlen(hash) < IM_PASSWORD_HASH_MAX) {
        im_strlcpy(out, hash, IM_PASSWORD_HASH_MAX);
        rc = IM_OK;
    } else {
        im_log_error("auth", "crypt_rn failed to hash a password");
    }
    explicit_bzero(data, sizeof(*data));
    free(data);
    return rc;
}

bool im_password_verify(const char *password, const char *hash)
{
    if (!hash || strncmp(hash, "$2b$", 4) != 0) {
        return false;
    }
    struct crypt_data *data = im_calloc(1, sizeof(*data));
    const char *computed = crypt_rn(password, hash, data, sizeof(*data));
    bool ok = computed && strlen(computed) == strlen(hash) &&
              im_const_time_eq(computed, hash, strlen(hash));
    explicit_bzero(data, sizeof(*data));
    free(data);
    return ok;
}

bool im_password_acceptable(const char *password, char *err, size_t errlen)
{
    size_t len = strlen(password);
    if (len < IM_PASSWORD_MIN_LEN) {
        snprintf(err, errlen, "password must be at least %d characters", IM_PASSWORD_MIN_LEN);
        return false;
    }
    if (len > IM_PASSWORD_MAX_BYTES) {
        snprintf(err, errlen, "password must be at most %d bytes (bcrypt ignores anything longer)",
                 IM_PASSWORD_MAX_BYTES);
        return false;
    }
    return true;
}
