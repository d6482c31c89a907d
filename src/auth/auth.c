#include "auth/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/password.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* A spent refresh token presented again within this many seconds gets the pair it was
 * exchanged for, so that two tabs refreshing at once do not log the user out. */
#define REFRESH_GRACE_SECONDS 10
#define GRACE_SLOTS           64

typedef struct {
    char token_hash[IM_STORE_TOKEN_HASH_LEN + 1];
    int64_t rotated_at;
    im_token_pair_t pair;
} grace_entry_t;

struct im_auth {
    const im_config_t *config;
    im_store_t *store;
    /* A bcrypt hash of a random password, verified for unknown users so that a login for
     * an unknown name costs the same as one with a wrong password. */
    char dummy_hash[IM_PASSWORD_HASH_MAX];
    /* Serialises refresh so that the loser of a race finds the winner's grace entry. */
    pthread_mutex_t refresh_lock;
    grace_entry_t grace[GRACE_SLOTS];
    int grace_next;
};

static void pair_copy(im_token_pair_t *dst, const im_token_pair_t *src)
{
    dst->access_token = im_strdup(src->access_token);
    dst->refresh_token = im_strdup(src->refresh_token);
    dst->expires_in = src->expires_in;
}

void im_auth_pair_release(im_token_pair_t *pair)
{
    free(pair->access_token);
    free(pair->refresh_token);
    memset(pair, 0, sizeof(*pair));
}

int im_auth_new(const im_config_t *config, im_store_t *store, im_auth_t **out)
{
    im_auth_t *auth = im_calloc(1, sizeof(*auth));
    auth->config = config;
    auth->store = store;
    pthread_mutex_init(&auth->refresh_lock, NULL);
    char random_password[33];
    im_random_token(random_password, sizeof(random_password), 24);
    if (im_password_hash(random_password, IM_BCRYPT_COST, auth->dummy_hash) != IM_OK) {
        free(auth);
        return IM_ERR;
    }
    *out = auth;
    return IM_OK;
}

void im_auth_free(im_auth_t *auth)
{
    if (!auth) {
        return;
    }
    for (int i = 0; i < GRACE_SLOTS; i++) {
        im_auth_pair_release(&auth->grace[i].pair);
    }
    pthread_mutex_destroy(&auth->refresh_lock);
    free(auth);
}

int im_auth_bootstrap_admin(im_auth_t *auth, char *err, size_t errlen)
{
    int64_t count = 0;
    int rc = im_store_user_count(auth->store, &count);
    if (rc != IM_OK) {
        snprintf(err, errlen, "cannot count users (database error %d)", rc);
        return rc;
    }
    if (count > 0) {
        return IM_OK;
    }
    const im_config_t *config = auth->config;
    char generated[25];
    const char *password = config->admin_password;
    if (!password) {
        im_random_token(generated, sizeof(generated), 18);
        password = generated;
    }
    im_store_user_t user = {0};
    im_strlcpy(user.username, config->admin_username, sizeof(user.username));
    im_strlcpy(user.email, config->admin_email, sizeof(user.email));
    im_strlcpy(user.role, "admin", sizeof(user.role));
    user.is_active = true;
    rc = im_password_hash(password, IM_BCRYPT_COST, user.password_hash);
    if (rc == IM_OK) {
        rc = im_store_user_create(auth->store, &user);
    }
    if (rc != IM_OK) {
        snprintf(err, errlen, "cannot create user \"%s\" (error %d)", user.username, rc);
        return rc;
    }
    im_log_info("auth", "created the first admin user \"%s\"", user.username);
    if (!config->admin_password) {
        /* Printed once, to the terminal only: log files must never hold a password. */
        fprintf(stderr,
                "\n    InfraMon created the admin user \"%s\" with this generated password:\n"
                "\n        %s\n"
                "\n    It is shown only once. Log in and change it, or set ADMIN_PASSWORD.\n\n",
                user.username, generated);
    }
    explicit_bzero(generated, sizeof(generated));
    return IM_OK;
}

/* Issues an access and a refresh token for user in session_id and stores the refresh
 * token's hash. */
static int issue_pair(im_auth_t *auth, const im_store_user_t *user, const char *session_id,
                      int64_t session_expires_at, im_token_pair_t *pair, char refresh_hash[65])
{
    const im_config_t *config = auth->config;
    int64_t now = im_now();
    im_jwt_claims_t claims = {0};
    im_strlcpy(claims.sub, user->username, sizeof(claims.sub));
    claims.user_id = user->id;
    im_strlcpy(claims.sid, session_id, sizeof(claims.sid));
    claims.iat = now;

    im_strlcpy(claims.type, "access", sizeof(claims.type));
    claims.exp = now + (int64_t)config->access_token_expire_minutes * 60;
    im_random_token(claims.jti, sizeof(claims.jti), 18);
    memset(pair, 0, sizeof(*pair));
    int rc = im_jwt_encode(config->secret_key, &claims, &pair->access_token);
    if (rc) {
        goto out;
    }
    pair->expires_in = claims.exp - now;

    im_strlcpy(claims.type, "refresh", sizeof(claims.type));
    claims.exp = session_expires_at;
    im_random_token(claims.jti, sizeof(claims.jti), 24);
    rc = im_jwt_encode(config->secret_key, &claims, &pair->refresh_token);
    if (rc) {
        goto out;
    }
    im_store_refresh_token_t stored = {0};
    im_sha256_hex(claims.jti, strlen(claims.jti), stored.token_hash);
    im_strlcpy(stored.session_id, session_id, sizeof(stored.session_id));
    stored.user_id = user->id;
    stored.issued_at = now;
    stored.expires_at = claims.exp;
    rc = im_store_refresh_insert(auth->store, &stored);
    if (rc == IM_OK && refresh_hash) {
        memcpy(refresh_hash, stored.token_hash, 65);
    }
out:
    if (rc) {
        im_auth_pair_release(pair);
    }
    return rc;
}

int im_auth_login(im_auth_t *auth, const char *username, const char *password,
                  const im_client_t *client, im_token_pair_t *pair, im_store_user_t *user)
{
    int rc = im_store_user_get_by_name(auth->store, username, user);
    if (rc == IM_ENOTFOUND) {
        im_password_verify(password, auth->dummy_hash);
        return IM_EDENIED;
    }
    if (rc != IM_OK) {
        return rc;
    }
    if (!im_password_verify(password, user->password_hash) || !user->is_active) {
        /* An inactive user gets the same answer as a wrong password: no account probing. */
        return IM_EDENIED;
    }
    int64_t now = im_now();
    im_store_session_t session = {0};
    im_random_token(session.id, sizeof(session.id), 18);
    session.user_id = user->id;
    session.created_at = now;
    session.expires_at = now + (int64_t)auth->config->refresh_token_expire_days * 86400;
    im_strlcpy(session.ip_address, client->ip ? client->ip : "", sizeof(session.ip_address));
    im_strlcpy(session.user_agent, client->user_agent ? client->user_agent : "",
               sizeof(session.user_agent));
    rc = im_store_session_create(auth->store, &session);
    if (rc == IM_OK) {
        rc = issue_pair(auth, user, session.id, session.expires_at, pair, NULL);
    }
    if (rc == IM_OK && im_store_user_touch_login(auth->store, user->id, now) == IM_OK) {
        user->last_login_at = now;
    }
    return rc;
}

static const grace_entry_t *grace_find(im_auth_t *auth, const char *token_hash, int64_t now)
{
    for (int i = 0; i < GRACE_SLOTS; i++) {
        const grace_entry_t *g = &auth->grace[i];
        if (g->pair.access_token && strcmp(g->token_hash, token_hash) == 0 &&
            now - g->rotated_at <= REFRESH_GRACE_SECONDS) {
            return g;
        }
    }
    return NULL;
}

static void grace_put(im_auth_t *auth, const char *token_hash, int64_t now,
                      const im_token_pair_t *pair)
{
    grace_entry_t *g = &auth->grace[auth->grace_next];
    auth->grace_next = (auth->grace_next + 1) % GRACE_SLOTS;
    im_auth_pair_release(&g->pair);
    im_strlcpy(g->token_hash, token_hash, sizeof(g->token_hash));
    g->rotated_at = now;
    pair_copy(&g->pair, pair);
}

int im_auth_refresh(im_auth_t *auth, const char *refresh_token, const im_client_t *client,
                    im_token_pair_t *pair, im_store_user_t *user, bool *reuse_detected)
{
    const im_config_t *config = auth->config;
    int64_t now = im_now();
    char reason[128];
    im_jwt_claims_t claims;
    *reuse_detected = false;
    if (im_jwt_decode(config->secret_key, config->secret_key_previous, refresh_token, "refresh",
                      now, &claims, reason, sizeof(reason)) != IM_OK) {
        im_log_info("auth", "refresh rejected from %s: %s", client->ip, reason);
        return IM_EDENIED;
    }
    char hash[IM_STORE_TOKEN_HASH_LEN + 1];
    im_sha256_hex(claims.jti, strlen(claims.jti), hash);

    pthread_mutex_lock(&auth->refresh_lock);
    im_store_refresh_token_t stored;
    int rc = im_store_refresh_get(auth->store, hash, &stored);
    if (rc == IM_ENOTFOUND) {
        rc = IM_EDENIED;
        goto out;
    }
    if (rc) {
        goto out;
    }
    if (stored.session_revoked_at || stored.session_expires_at <= now) {
        rc = IM_EDENIED;
        goto out;
    }
    rc = im_store_user_get_by_id(auth->store, stored.user_id, user);
    if (rc || !user->is_active) {
        rc = rc == IM_ENOTFOUND || rc == IM_OK ? IM_EDENIED : rc;
        goto out;
    }
    if (stored.spent_at) {
        const grace_entry_t *g = grace_find(auth, hash, now);
        if (g) {
            pair_copy(pair, &g->pair);
            rc = IM_OK;
            goto out;
        }
        /* A rotated token came back after the grace period: it was copied, so end the
         * whole session for everyone holding a token of it. */
        *reuse_detected = true;
        if (im_store_session_revoke(auth->store, stored.session_id, now) != IM_OK) {
            im_log_error("auth", "cannot revoke session of user %lld after refresh reuse",
                         (long long)stored.user_id);
        }
        im_log_warn("auth", "refresh token reuse for user \"%s\" from %s: session revoked",
                    user->username, client->ip);
        rc = IM_EDENIED;
        goto out;
    }
    char new_hash[IM_STORE_TOKEN_HASH_LEN + 1];
    rc = issue_pair(auth, user, stored.session_id, stored.session_expires_at, pair, new_hash);
    if (rc) {
        goto out;
    }
    rc = im_store_refresh_spend(auth->store, hash, new_hash, now);
    if (rc) {
        im_auth_pair_release(pair);
        rc = rc == IM_ECONFLICT ? IM_EDENIED : rc;
        goto out;
    }
    grace_put(auth, hash, now, pair);
out:
    pthread_mutex_unlock(&auth->refresh_lock);
    return rc;
}

int im_auth_verify_access(im_auth_t *auth, const char *token, im_principal_t *principal,
                          char *reason, size_t reason_len)
{
    const im_config_t *config = auth->config;
    int64_t now = im_now();
    im_jwt_claims_t claims;
    int rc = im_jwt_decode(config->secret_key, config->secret_key_previous, token, "access", now,
                           &claims, reason, reason_len);
    if (rc) {
        return IM_EDENIED;
    }
    im_store_session_t session;
    rc = im_store_session_get(auth->store, claims.sid, &session);
    if (rc == IM_ENOTFOUND || (rc == IM_OK && (session.revoked_at || session.expires_at <= now ||
                                               session.user_id != claims.user_id))) {
        snprintf(reason, reason_len, "session ended");
        return IM_EDENIED;
    }
    if (rc) {
        snprintf(reason, reason_len, "session lookup failed");
        return rc == IM_EUNAVAILABLE ? rc : IM_EUNAVAILABLE;
    }
    im_store_user_t user;
    rc = im_store_user_get_by_id(auth->store, claims.user_id, &user);
    if (rc == IM_ENOTFOUND || (rc == IM_OK && !user.is_active)) {
        snprintf(reason, reason_len, "user missing or inactive");
        return IM_EDENIED;
    }
    if (rc) {
        snprintf(reason, reason_len, "user lookup failed");
        return IM_EUNAVAILABLE;
    }
    im_role_t role;
    if (!im_role_parse(user.role, &role)) {
        snprintf(reason, reason_len, "unknown role");
        return IM_EDENIED;
    }
    memset(principal, 0, sizeof(*principal));
    principal->user_id = user.id;
    im_strlcpy(principal->username, user.username, sizeof(principal->username));
    principal->role = role;
    im_strlcpy(principal->session_id, claims.sid, sizeof(principal->session_id));
    im_strlcpy(principal->token_id, claims.jti, sizeof(principal->token_id));
    return IM_OK;
}

int im_auth_logout(im_auth_t *auth, const im_principal_t *principal, const char *refresh_token)
{
    int64_t now = im_now();
    int rc = im_store_session_revoke(auth->store, principal->session_id, now);
    if (rc == IM_ENOTFOUND) {
        rc = IM_OK;
    }
    if (rc == IM_OK && refresh_token && *refresh_token) {
        char reason[128];
        im_jwt_claims_t claims;
        if (im_jwt_decode(auth->config->secret_key, auth->config->secret_key_previous,
                          refresh_token, "refresh", now, &claims, reason,
                          sizeof(reason)) == IM_OK &&
            claims.user_id == principal->user_id && strcmp(claims.sid, principal->session_id)) {
            rc = im_store_session_revoke(auth->store, claims.sid, now);
            rc = rc == IM_ENOTFOUND ? IM_OK : rc;
        }
    }
    return rc;
}

int im_auth_revoke_user(im_auth_t *auth, int64_t user_id, const char *keep_session)
{
    return im_store_session_revoke_user(auth->store, user_id, keep_session, im_now());
}

static json_t *time_or_null(int64_t when)
{
    if (!when) {
        return json_null();
    }
    char text[32];
    im_time_iso8601(when, text);
    return json_string(text);
}

json_t *im_auth_user_json(const im_store_user_t *user)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "id", (json_int_t)user->id,
                     "username", user->username, "email", user->email, "role", user->role,
                     "is_active", user->is_active, "is_superuser", strcmp(user->role, "admin") == 0,
                     "created_at", time_or_null(user->created_at), "updated_at",
                     time_or_null(user->updated_at), "last_login_at",
                     time_or_null(user->last_login_at));
}
