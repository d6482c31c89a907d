#ifndef IM_AUTH_PASSWORD_H
#define IM_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define IM_PASSWORD_HASH_MAX 128
#define IM_PASSWORD_MIN_LEN  8
/* bcrypt ignores every byte past 72, so longer passwords are rejected rather than cut. */
#define IM_PASSWORD_MAX_BYTES 72
#define IM_BCRYPT_COST        12

/* Hashes password with bcrypt ($2b$) at the given cost into out. Returns 0 or IM_ERR. */
int im_password_hash(const char *password, int cost, char out[IM_PASSWORD_HASH_MAX]);

/* Checks password against a bcrypt hash; the comparison takes constant time. */
bool im_password_verify(const char *password, const char *hash);

/* Checks the length rules; on failure writes the reason into err and returns false. */
bool im_password_acceptable(const char *password, char *err, size_t errlen);

#endif
