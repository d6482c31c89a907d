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

/* The outcome of a login step. */
typedef enum {
    IM_LOGIN_OK,            /* pair and user are set */
    IM_LOGIN_DENIED,        /* unknown user, wrong password or code, inactive user alike */
    IM_LOGIN_THROTTLED,     /* too many failures: retry_after seconds */
    IM_LOGIN_BUSY,          /* every password-hashing slot is taken: retry_after seconds */
    IM_LOGIN_TOTP_REQUIRED, /* the password was right; totp_token and user are set */
    IM_LOGIN_ERROR,         /* the database failed */
} im_login_status_t;

typedef struct {
    im_login_status_t status;
    int retry_after;
    char *totp_token;          /* malloc'd */
    const char *second_factor; /* "totp" or "recovery_code" after a second step */
    im_token_pair_t pair;
    im_store_user_t user;
} im_login_result_t;

void im_login_result_release(im_login_result_t *result);

/* Checks the credentials and, unless the user has TOTP enabled, opens a login session.
 *
 * Throttling: failed attempts count against the lower-cased username and against the
 * client IP. A username may fail 5 times and an IP 10 times without delay. Each further
 * failure blocks the key for 15 s, doubling up to 5 minutes for a username and 15 minutes
 * for an IP. A key with no failure for an hour starts from zero. An attempt while blocked
 * returns IM_LOGIN_THROTTLED without checking the password. So that an attacker cannot keep a
 * user locked out, the username block does not apply to a client IP that has no failures
 * of its own and from which this user completed a login within REFRESH_TOKEN_EXPIRE_DAYS.
 * A completed login clears the IP's failures, and the username's too when that IP had
 * none. The first blocking failure of a key records one security.brute_force_user or
 * security.brute_force_ip audit event.
 *
 * Password hashing runs on the calling HTTP thread, but at most half of the HTTP threads
 * (at least one) hash at once. A login that finds no free slot gets IM_LOGIN_BUSY. */
void im_auth_login(im_auth_t *auth, const char *username, const char *password,
                   const im_client_t *client, im_login_result_t *result);

/* Completes a login that returned IM_LOGIN_TOTP_REQUIRED with a 6-digit TOTP code or an
 * unused recovery code. totp_token is valid for 5 minutes and for one completed login.
 * Failures are throttled and counted as in im_auth_login. */
void im_auth_login_totp(im_auth_t *auth, const char *totp_token, const char *code,
                        const im_client_t *client, im_login_result_t *result);

/* Spends refresh_token and issues a new pair in the same session. A token spent within the
 * last few seconds returns the pair it was exchanged for (two tabs refreshing at once);
 * an older spent token revokes the whole session and sets *reuse_detected. */
int im_auth_refresh(im_auth_t *auth, const char *refresh_token, const im_client_t *client,
                    im_token_pair_t *pair, im_store_user_t *user, bool *reuse_detected);

/* Verifies an access token, or a personal API token (IM_APITOKEN_PREFIX), and fills the
 * principal from the current user record (role and active flag are read fresh, so a
 * demotion takes effect at once). An API token's last-used time is written at most once
 * a minute. */
int im_auth_verify_access(im_auth_t *auth, const char *token, im_principal_t *principal,
                          char *reason, size_t reason_len);

/* Ends the caller's session, and the session of refresh_token (may be NULL) when it belongs
 * to the same user. */
int im_auth_logout(im_auth_t *auth, const im_principal_t *principal, const char *refresh_token);

/* Checks a TOTP code or an unused recovery code of user_id outside a login (to disable
 * TOTP), throttled like im_auth_check_current_password. A code is spent when accepted.
 * Returns IM_LOGIN_OK, IM_LOGIN_DENIED for a wrong code or when the user has no enabled
 * TOTP, IM_LOGIN_THROTTLED with *retry_after, or IM_LOGIN_ERROR. *kind (may be NULL) is
 * set to "totp" or "recovery_code". */
im_login_status_t im_auth_check_second_factor(im_auth_t *auth, int64_t user_id,
                                              const char *code, const im_client_t *client,
                                              const char **kind, int *retry_after);

/* Checks the current password of the logged-in user user_id before an account change.
 * Failures count against the same username and client-IP throttles as im_auth_login, so a
 * stolen access token cannot be used to guess the password. A blocked check returns
 * IM_LOGIN_THROTTLED without hashing. Hashing takes a slot of the login gate
 * (IM_LOGIN_BUSY when none is free). Returns IM_LOGIN_OK, IM_LOGIN_DENIED (wrong password or
 * unknown user), IM_LOGIN_THROTTLED or IM_LOGIN_BUSY with *retry_after in seconds, or
 * IM_LOGIN_ERROR. user is filled from the store when the user exists. */
im_login_status_t im_auth_check_current_password(im_auth_t *auth, int64_t user_id,
                                                 const char *password, const im_client_t *client,
                                                 im_store_user_t *user, int *retry_after);

/* Stores a new, not yet enabled TOTP secret (base32 in totp->secret) for totp->user_id,
 * encrypted under a key derived from SECRET_KEY (auth/seal.h). Returns a store error or
 * IM_ERR when encryption failed. */
int im_auth_totp_setup(im_auth_t *auth, const im_store_totp_t *totp);

/* Reads user_id's TOTP row with its secret decrypted to base32. A row stored as plaintext
 * (written before encryption existed) or opened only with SECRET_KEY_PREVIOUS is written
 * back encrypted under SECRET_KEY. Returns IM_OK, IM_ENOTFOUND, a store error, or IM_ERR
 * (logged) when the secret opens under neither key. */
int im_auth_totp_get(im_auth_t *auth, int64_t user_id, im_store_totp_t *out);

/* Re-encrypts every TOTP secret that is plaintext or under SECRET_KEY_PREVIOUS; the
 * server calls it at start. Returns IM_OK, a store error, or IM_EDENIED with a message in
 * err when some secret opens under neither key. With DEBUG=false the server then refuses
 * to start, because those users could not complete a TOTP login. */
int im_auth_totp_reseal_all(im_auth_t *auth, char *err, size_t errlen);

/* Records that principal got a 403. The tenth 403 of a principal with less than 10
 * minutes between them records one security.repeated_forbidden audit event. */
void im_auth_note_forbidden(im_auth_t *auth, const im_principal_t *principal,
                            const im_client_t *client);

/* Records a security event: one audit row with action (security.*) and a warning log line.
 * At most 20 events a minute are recorded across the server; the rest are counted and
 * the count is logged with the next recorded event. */
void im_auth_security_event(im_auth_t *auth, const char *action, int64_t user_id,
                            const char *username, const im_client_t *client, const char *message);

/* Revokes every session of user_id except keep_session (may be NULL). */
int im_auth_revoke_user(im_auth_t *auth, int64_t user_id, const char *keep_session);

/* Builds the contract's user object. */
json_t *im_auth_user_json(const im_store_user_t *user);

#endif
