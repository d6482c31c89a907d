#ifndef IM_AUTH_AUTH_H
#define IM_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"
#include "http/http.h"

#include "store/store.h"

/* Token issuing, verification, rotation and revocation on top of the store. */
typedef struct im_auth im_auth_t;

/* A freshly issued access/refresh pair; free with im_auth_pair_release. */
typedef struct {
    char *access_token;
    char *refresh_token;
    int64_t expires_in; /* seconds until the access token expires */
} im_token_pair_t;

/* Client details recorded with a login session and in the audit log. */
typedef struct {
    const char *ip;
    const char *user_agent;
} im_client_t;

int im_auth_new(const im_config_t *config, struct im_store *store, im_auth_t **out);
void im_auth_free(im_auth_t *auth);
void im_auth_pair_release(im_token_pair_t *pair);

/* Creates the first admin from ADMIN_USERNAME/ADMIN_PASSWORD/ADMIN_EMAIL when the user
 * table is empty. With no ADMIN_PASSWORD a random one is generated and printed once to
 * stderr (never to the log). */
int im_auth_bootstrap_admin(im_auth_t *auth, char *err, size_t errlen);

/* Checks the credentials and opens a login session. Returns IM_EDENIED for an unknown user
 * or a wrong password (same work either way), IM_EFORBIDDEN for an inactive user. */
int im_auth_login(im_auth_t *auth, const char *username, const char *password,
                  const im_client_t *client, im_token_pair_t *pair, im_store_user_t *user);

/* Spends refresh_token and issues a new pair in the same session. A token spent within the
 * last few seconds returns the pair it was exchanged for (two tabs refreshing at once);
 * an older spent token revokes the whole session and sets *reuse_detected. */
int im_auth_refresh(im_auth_t *auth, const char *refresh_token, const im_client_t *client,
                    im_token_pair_t *pair, im_store_user_t *user, bool *reuse_detected);

/* Verifies an access token and fills the principal from the current user record (role and
 * active flag are read fresh, so a demotion takes effect at once). */
int im_auth_verify_access(im_auth_t *auth, const char *token, im_principal_t *principal,
                          char *reason, size_t reason_len);

/* Ends the caller's session, and the session of refresh_token (may be NULL) when it belongs
 * to the same user. */
int im_auth_logout(im_auth_t *auth, const im_principal_t *principal, const char *refresh_token);

/* Revokes every session of user_id except keep_session (may be NULL). */
int im_auth_revoke_user(im_auth_t *auth, int64_t user_id, const char *keep_session);

/* Builds the contract's user object. */
json_t *im_auth_user_json(const im_store_user_t *user);

#endif
