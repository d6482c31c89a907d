#include "auth/auth.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/apitoken.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/seal.h"
#include "auth/throttle.h"
#include "auth/totp.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

/* A spent refresh token presented again within this many seconds gets the pair it was
 * exchanged for, so that two tabs refreshing at once do not log the user out. */
#define REFRESH_GRACE_SECONDS 10
#define GRACE_SLOTS           64

/* Login throttling, documented on im_auth_login. */
static const im_throttle_rule_t user_rule = {5, 15, 300, 3600};
static const im_throttle_rule_t ip_rule = {10, 15, 900, 3600};
/* The tenth 403 in a row with gaps under 10 minutes raises an event; nothing is blocked. */
static const im_throttle_rule_t forbidden_rule = {9, 1, 1, 600};
#define THROTTLE_CAPACITY  4096
#define IP_KEY_SIZE        (INET6_ADDRSTRLEN + 3)
#define FORBIDDEN_CAPACITY 1024

#define TOTP_TOKEN_SECONDS         300
#define TOTP_USED_SLOTS            64
#define API_TOKEN_TOUCH_SECONDS    60
#define SECURITY_EVENTS_PER_MINUTE 20

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

    im_throttle_t *user_failures;
    im_throttle_t *ip_failures;
    /* "username\nip" of completed logins; a count above 0 means known. */
    im_throttle_t *known_clients;
    im_throttle_t *forbidden;
    im_gate_t hash_gate;

    /* jti of TOTP tokens that completed a login, so each completes only one. */
    pthread_mutex_t totp_lock;
    char totp_used[TOTP_USED_SLOTS][48];
    int totp_used_next;

    /* Keys that encrypt TOTP secrets at rest, derived from SECRET_KEY and, when set,
     * SECRET_KEY_PREVIOUS (accepted for reading only). */
    im_seal_key_t seal_key;
    im_seal_key_t seal_key_previous;
    bool has_seal_key_previous;

    pthread_mutex_t event_lock;
    int64_t event_minute;
    int events_in_minute;
    long events_suppressed;
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
    pthread_mutex_init(&auth->totp_lock, NULL);
    pthread_mutex_init(&auth->event_lock, NULL);
    auth->user_failures = im_throttle_new(&user_rule, THROTTLE_CAPACITY);
    auth->ip_failures = im_throttle_new(&ip_rule, THROTTLE_CAPACITY);
    im_throttle_rule_t known_rule = {1000000, 1, 1, config->refresh_token_expire_days * 86400};
    auth->known_clients = im_throttle_new(&known_rule, THROTTLE_CAPACITY);
    auth->forbidden = im_throttle_new(&forbidden_rule, FORBIDDEN_CAPACITY);
    im_gate_init(&auth->hash_gate, im_config_http_threads(config) / 2);
    if (im_seal_key_derive(config->secret_key, &auth->seal_key) != IM_OK ||
        (config->secret_key_previous &&
         im_seal_key_derive(config->secret_key_previous, &auth->seal_key_previous) != IM_OK)) {
        im_auth_free(auth);
        return IM_ERR;
    }
    auth->has_seal_key_previous = config->secret_key_previous != NULL;
    char random_password[33];
    im_random_token(random_password, sizeof(random_password), 24);
    if (im_password_hash(random_password, IM_BCRYPT_COST, auth->dummy_hash) != IM_OK) {
        im_auth_free(auth);
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
    pthread_mutex_destroy(&auth->totp_lock);
    pthread_mutex_destroy(&auth->event_lock);
    im_throttle_free(auth->user_failures);
    im_throttle_free(auth->ip_failures);
    im_throttle_free(auth->known_clients);
    im_throttle_free(auth->forbidden);
    explicit_bzero(&auth->seal_key, sizeof(auth->seal_key));
    explicit_bzero(&auth->seal_key_previous, sizeof(auth->seal_key_previous));
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
    const im_config_t *config = auth->config;
    if (count > 0) {
        if (config->admin_password) {
            im_log_info("auth",
                        "ADMIN_PASSWORD is set but ignored, because the database already has "
                        "users; change a password with `inframon user passwd NAME` or the "
                        "Account page");
        }
        return IM_OK;
    }
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
                "\n    It is shown only once. Log in and change it on the Account page, or run\n"
                "    `inframon user passwd %s`. ADMIN_PASSWORD applies to the first start only.\n\n",
                user.username, generated, user.username);
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

void im_login_result_release(im_login_result_t *result)
{
    free(result->totp_token);
    im_auth_pair_release(&result->pair);
    memset(result, 0, sizeof(*result));
}

void im_auth_security_event(im_auth_t *auth, const char *action, int64_t user_id,
                            const char *username, const im_client_t *client, const char *message)
{
    int64_t minute = im_now() / 60;
    long suppressed = 0;
    pthread_mutex_lock(&auth->event_lock);
    if (minute != auth->event_minute) {
        auth->event_minute = minute;
        auth->events_in_minute = 0;
    }
    bool record = auth->events_in_minute < SECURITY_EVENTS_PER_MINUTE;
    if (record) {
        auth->events_in_minute++;
        suppressed = auth->events_suppressed;
        auth->events_suppressed = 0;
    } else {
        auth->events_suppressed++;
    }
    pthread_mutex_unlock(&auth->event_lock);
    if (!record) {
        return;
    }
    const char *ip = client && client->ip ? client->ip : "unknown";
    char dropped[96] = "";
    if (suppressed > 0) {
        snprintf(dropped, sizeof(dropped), "; %ld earlier events over the rate were not recorded",
                 suppressed);
    }
    im_log_warn("security", "%s: %s (user \"%s\", client %s)%s", action, message,
                username ? username : "-", ip, dropped);
    im_store_audit_event_t event = {
        .user_id = user_id,
        .username = username,
        .action = action,
        .target_type = "user",
        .target_id = username,
        .ip_address = client ? client->ip : NULL,
        .user_agent = client ? client->user_agent : NULL,
        .success = false,
        .error_message = message,
    };
    if (im_store_audit_insert(auth->store, &event) != IM_OK) {
        im_log_error("audit", "cannot record security event %s for client %s", action, ip);
    }
}

static void user_key(const char *username, char *out, size_t out_size)
{
    im_strlcpy(out, username ? username : "", out_size);
    for (char *p = out; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
}

/* Writes the throttle key of a client address: the address, or for IPv6 its /64 prefix
 * (see im_ip_client_prefix). Text that is not an address is used as it is. */
static void ip_key(const char *ip, char out[IP_KEY_SIZE])
{
    unsigned char addr[16];
    char text[INET6_ADDRSTRLEN];

    if (ip && strchr(ip, ':') && im_ip_parse(ip, addr)) {
        im_ip_client_prefix(addr);
        inet_ntop(AF_INET6, addr, text, sizeof(text));
        snprintf(out, IP_KEY_SIZE, "%s/64", text);
        return;
    }
    im_strlcpy(out, ip ? ip : "", IP_KEY_SIZE);
}

static void known_key(const char *user, const char *ip, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s\n%s", user, ip ? ip : "");
}

/* Returns the seconds that the client must wait before trying user again, 0 for none. */
static int throttle_wait(im_auth_t *auth, const char *user, const char *client_ip, int64_t now)
{
    char ip[IP_KEY_SIZE];
    ip_key(client_ip, ip);
    int ip_wait = im_throttle_wait(auth->ip_failures, ip, now);
    int user_wait = im_throttle_wait(auth->user_failures, user, now);
    if (user_wait > 0 && im_throttle_count(auth->ip_failures, ip, now) == 0) {
        char pair[IM_THROTTLE_KEY_MAX + 1];
        known_key(user, ip, pair, sizeof(pair));
        if (im_throttle_count(auth->known_clients, pair, now) > 0) {
            user_wait = 0;
        }
    }
    return ip_wait > user_wait ? ip_wait : user_wait;
}

/* Counts a failed password or code check against user and the client IP. what names the
 * kind of check in the security event ("logins", "current-password checks"). */
static void throttle_failure_of(im_auth_t *auth, const char *what, const char *user,
                                int64_t user_id, const char *username,
                                const im_client_t *client, int64_t now)
{
    bool started = false;
    im_throttle_fail(auth->user_failures, user, now, &started);
    if (started) {
        char message[160];
        snprintf(message, sizeof(message),
                 "%d failed %s for this user in a row; further attempts are delayed",
                 user_rule.free_failures + 1, what);
        im_auth_security_event(auth, "security.brute_force_user", user_id, username, client,
                               message);
    }
    char ip[IP_KEY_SIZE];
    ip_key(client->ip, ip);
    im_throttle_fail(auth->ip_failures, ip, now, &started);
    if (started) {
        char message[160];
        snprintf(message, sizeof(message),
                 "%d failed %s from this client IP in a row; further attempts are delayed",
                 ip_rule.free_failures + 1, what);
        im_auth_security_event(auth, "security.brute_force_ip", 0, username, client, message);
    }
}

static void throttle_failure(im_auth_t *auth, const char *user, int64_t user_id,
                             const char *username, const im_client_t *client, int64_t now)
{
    throttle_failure_of(auth, "logins", user, user_id, username, client, now);
}

static void throttle_success(im_auth_t *auth, const char *user, const im_client_t *client,
                             int64_t now)
{
    char ip[IP_KEY_SIZE];
    ip_key(client->ip, ip);
    if (im_throttle_count(auth->ip_failures, ip, now) == 0) {
        im_throttle_reset(auth->user_failures, user);
    }
    im_throttle_reset(auth->ip_failures, ip);
    char pair[IM_THROTTLE_KEY_MAX + 1];
    known_key(user, ip, pair, sizeof(pair));
    im_throttle_reset(auth->known_clients, pair);
    im_throttle_fail(auth->known_clients, pair, now, NULL);
}

/* Opens a session for user and issues its first pair. */
static int open_session(im_auth_t *auth, im_store_user_t *user, const im_client_t *client,
                        im_token_pair_t *pair)
{
    int64_t now = im_now();
    im_store_session_t session = {0};
    im_random_token(session.id, sizeof(session.id), 18);
    session.user_id = user->id;
    session.created_at = now;
    session.expires_at = now + (int64_t)auth->config->refresh_token_expire_days * 86400;
    im_strlcpy(session.ip_address, client->ip ? client->ip : "", sizeof(session.ip_address));
    im_strlcpy(session.user_agent, client->user_agent ? client->user_agent : "",
               sizeof(session.user_agent));
    int rc = im_store_session_create(auth->store, &session);
    if (rc == IM_OK) {
        rc = issue_pair(auth, user, session.id, session.expires_at, pair, NULL);
    }
    if (rc == IM_OK && im_store_user_touch_login(auth->store, user->id, now) == IM_OK) {
        user->last_login_at = now;
    }
    return rc;
}

static int issue_totp_token(im_auth_t *auth, const im_store_user_t *user, char **token)
{
    int64_t now = im_now();
    im_jwt_claims_t claims = {0};
    im_strlcpy(claims.sub, user->username, sizeof(claims.sub));
    claims.user_id = user->id;
    im_strlcpy(claims.type, "totp", sizeof(claims.type));
    im_strlcpy(claims.sid, "totp", sizeof(claims.sid));
    claims.iat = now;
    claims.exp = now + TOTP_TOKEN_SECONDS;
    im_random_token(claims.jti, sizeof(claims.jti), 18);
    return im_jwt_encode(auth->config->secret_key, &claims, token);
}

void im_auth_login(im_auth_t *auth, const char *username, const char *password,
                   const im_client_t *client, im_login_result_t *result)
{
    memset(result, 0, sizeof(*result));
    int64_t now = im_now();
    char user[IM_THROTTLE_KEY_MAX + 1];
    user_key(username, user, sizeof(user));
    result->retry_after = throttle_wait(auth, user, client->ip, now);
    if (result->retry_after > 0) {
        result->status = IM_LOGIN_THROTTLED;
        return;
    }
    if (!im_gate_enter(&auth->hash_gate)) {
        result->status = IM_LOGIN_BUSY;
        result->retry_after = 1;
        return;
    }
    int rc = im_store_user_get_by_name(auth->store, username, &result->user);
    bool valid = false;
    if (rc == IM_ENOTFOUND) {
        im_password_verify(password, auth->dummy_hash);
    } else if (rc == IM_OK) {
        /* An inactive user gets the same response as a wrong password: no account probing. */
        valid = im_password_verify(password, result->user.password_hash) && result->user.is_active;
    }
    im_gate_leave(&auth->hash_gate);
    if (rc != IM_OK && rc != IM_ENOTFOUND) {
        result->status = IM_LOGIN_ERROR;
        return;
    }
    if (!valid) {
        throttle_failure(auth, user, rc == IM_OK ? result->user.id : 0, username, client, now);
        result->status = IM_LOGIN_DENIED;
        return;
    }
    im_store_totp_t totp;
    rc = im_store_totp_get(auth->store, result->user.id, &totp);
    if (rc == IM_OK && totp.enabled_at) {
        result->status = issue_totp_token(auth, &result->user, &result->totp_token) == IM_OK
                             ? IM_LOGIN_TOTP_REQUIRED
                             : IM_LOGIN_ERROR;
        return;
    }
    if (rc != IM_OK && rc != IM_ENOTFOUND) {
        result->status = IM_LOGIN_ERROR;
        return;
    }
    if (open_session(auth, &result->user, client, &result->pair) != IM_OK) {
        result->status = IM_LOGIN_ERROR;
        return;
    }
    throttle_success(auth, user, client, now);
    result->status = IM_LOGIN_OK;
}

/* ---- TOTP secrets at rest ------------------------------------------------------------------ */

static void totp_aad(int64_t user_id, char out[32])
{
    snprintf(out, 32, "totp:%lld", (long long)user_id);
}

int im_auth_totp_setup(im_auth_t *auth, const im_store_totp_t *totp)
{
    im_store_totp_t sealed = *totp;
    char aad[32];
    totp_aad(totp->user_id, aad);
    int rc = im_seal(&auth->seal_key, aad, totp->secret, sealed.secret, sizeof(sealed.secret));
    if (rc == IM_OK) {
        rc = im_store_totp_setup(auth->store, &sealed);
    }
    explicit_bzero(&sealed, sizeof(sealed));
    return rc;
}

/* Decrypts stored (a stored secret) into plain. Sets *reseal when stored must be written
 * again under the current key: it is an old plaintext row or opened only with the
 * previous key. */
static int totp_unseal(im_auth_t *auth, int64_t user_id, const char *stored, char *plain,
                       size_t plain_size, bool *reseal)
{
    *reseal = false;
    if (!im_seal_is_sealed(stored)) {
        /* A row written before secrets were encrypted: base32 as it is. */
        if (im_strlcpy(plain, stored, plain_size) >= plain_size) {
            return IM_EINVAL;
        }
        *reseal = true;
        return IM_OK;
    }
    char aad[32];
    totp_aad(user_id, aad);
    int rc = im_seal_open(&auth->seal_key, aad, stored, plain, plain_size);
    if (rc == IM_EDENIED && auth->has_seal_key_previous) {
        rc = im_seal_open(&auth->seal_key_previous, aad, stored, plain, plain_size);
        *reseal = rc == IM_OK;
    }
    return rc;
}

int im_auth_totp_get(im_auth_t *auth, int64_t user_id, im_store_totp_t *out)
{
    int rc = im_store_totp_get(auth->store, user_id, out);
    if (rc != IM_OK) {
        return rc;
    }
    char plain[IM_STORE_TOTP_SECRET_MAX + 1];
    bool reseal = false;
    rc = totp_unseal(auth, user_id, out->secret, plain, sizeof(plain), &reseal);
    if (rc != IM_OK) {
        im_log_error("auth",
                     "the TOTP secret of user %lld cannot be decrypted with SECRET_KEY%s (error "
                     "%d); set SECRET_KEY_PREVIOUS to the key it was stored under",
                     (long long)user_id, auth->has_seal_key_previous ? " or SECRET_KEY_PREVIOUS" : "",
                     rc);
        explicit_bzero(out->secret, sizeof(out->secret));
        return IM_ERR;
    }
    if (reseal) {
        char sealed[IM_STORE_TOTP_SECRET_MAX + 1];
        char aad[32];
        totp_aad(user_id, aad);
        rc = im_seal(&auth->seal_key, aad, plain, sealed, sizeof(sealed));
        if (rc == IM_OK) {
            rc = im_store_totp_secret_replace(auth->store, user_id, out->secret, sealed);
        }
        /* IM_ECONFLICT: a concurrent setup or re-encryption wrote the row first. */
        if (rc != IM_OK && rc != IM_ECONFLICT) {
            im_log_warn("auth", "cannot re-encrypt the TOTP secret of user %lld (error %d)",
                        (long long)user_id, rc);
        }
    }
    im_strlcpy(out->secret, plain, sizeof(out->secret));
    explicit_bzero(plain, sizeof(plain));
    return IM_OK;
}

int im_auth_totp_reseal_all(im_auth_t *auth, char *err, size_t errlen)
{
    int64_t *ids = NULL;
    size_t count = 0;
    int rc = im_store_totp_user_ids(auth->store, &ids, &count);
    if (rc != IM_OK) {
        snprintf(err, errlen, "cannot list TOTP secrets (database error %d)", rc);
        return rc;
    }
    size_t failed = 0;
    int64_t first_failed = 0;
    for (size_t i = 0; i < count; i++) {
        im_store_totp_t totp;
        int one = im_auth_totp_get(auth, ids[i], &totp);
        explicit_bzero(&totp, sizeof(totp));
        if (one != IM_OK && one != IM_ENOTFOUND) {
            first_failed = failed++ ? first_failed : ids[i];
        }
    }
    free(ids);
    if (failed > 0) {
        snprintf(err, errlen,
                 "%zu TOTP secret(s), the first of user %lld, cannot be decrypted with SECRET_KEY "
                 "or SECRET_KEY_PREVIOUS: set SECRET_KEY_PREVIOUS to the key that was in use "
                 "before, or remove their second factor with 'inframon user reset-totp NAME'",
                 failed, (long long)first_failed);
        return IM_EDENIED;
    }
    return IM_OK;
}

/* Returns true, and remembers jti, when jti has not completed a login yet. */
static bool totp_token_claim(im_auth_t *auth, const char *jti)
{
    bool fresh = true;
    pthread_mutex_lock(&auth->totp_lock);
    for (int i = 0; i < TOTP_USED_SLOTS && fresh; i++) {
        fresh = strcmp(auth->totp_used[i], jti) != 0;
    }
    if (fresh) {
        im_strlcpy(auth->totp_used[auth->totp_used_next], jti, sizeof(auth->totp_used[0]));
        auth->totp_used_next = (auth->totp_used_next + 1) % TOTP_USED_SLOTS;
    }
    pthread_mutex_unlock(&auth->totp_lock);
    return fresh;
}

/* Normalises a recovery code (upper case, no dashes or spaces) and hashes it. */
static bool recovery_code_hash(const char *code, char hash[65])
{
    char normal[32];
    size_t n = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-' || *p == ' ') {
            continue;
        }
        if (n + 1 == sizeof(normal)) {
            return false;
        }
        normal[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    normal[n] = '\0';
    im_sha256_hex(normal, n, hash);
    return n > 0;
}

/* Checks code as a TOTP code or a recovery code; returns IM_OK, IM_EDENIED or a store
 * error. */
static int check_second_factor(im_auth_t *auth, const im_store_totp_t *totp, const char *code,
                               int64_t now, const char **kind)
{
    int64_t step = 0;
    if (strlen(code) == IM_TOTP_DIGITS) {
        *kind = "totp";
        if (!im_totp_verify(totp->secret, code, now, totp->last_step, &step)) {
            return IM_EDENIED;
        }
        int rc = im_store_totp_accept_step(auth->store, totp->user_id, step);
        return rc == IM_ECONFLICT || rc == IM_ENOTFOUND ? IM_EDENIED : rc;
    }
    *kind = "recovery_code";
    char hash[65];
    if (!recovery_code_hash(code, hash)) {
        return IM_EDENIED;
    }
    int rc = im_store_totp_recovery_use(auth->store, totp->user_id, hash, now);
    return rc == IM_ENOTFOUND || rc == IM_EINVAL ? IM_EDENIED : rc;
}

im_login_status_t im_auth_check_second_factor(im_auth_t *auth, int64_t user_id,
                                              const char *code, const im_client_t *client,
                                              const char **kind, int *retry_after)
{
    *retry_after = 0;
    im_store_user_t user;
    im_store_totp_t totp;
    int rc = im_store_user_get_by_id(auth->store, user_id, &user);
    if (rc == IM_OK) {
        rc = im_auth_totp_get(auth, user_id, &totp);
    }
    if (rc == IM_ENOTFOUND || (rc == IM_OK && !totp.enabled_at)) {
        return IM_LOGIN_DENIED;
    }
    if (rc != IM_OK) {
        return IM_LOGIN_ERROR;
    }
    int64_t now = im_now();
    char key[IM_THROTTLE_KEY_MAX + 1];
    user_key(user.username, key, sizeof(key));
    *retry_after = throttle_wait(auth, key, client->ip, now);
    if (*retry_after > 0) {
        return IM_LOGIN_THROTTLED;
    }
    const char *ignored;
    rc = check_second_factor(auth, &totp, code, now, kind ? kind : &ignored);
    if (rc == IM_EDENIED) {
        throttle_failure_of(auth, "second-factor checks", key, user.id, user.username, client,
                            now);
        return IM_LOGIN_DENIED;
    }
    return rc == IM_OK ? IM_LOGIN_OK : IM_LOGIN_ERROR;
}

void im_auth_login_totp(im_auth_t *auth, const char *totp_token, const char *code,
                        const im_client_t *client, im_login_result_t *result)
{
    memset(result, 0, sizeof(*result));
    const im_config_t *config = auth->config;
    int64_t now = im_now();
    char reason[128];
    im_jwt_claims_t claims;
    if (im_jwt_decode(config->secret_key, config->secret_key_previous, totp_token, "totp", now,
                      &claims, reason, sizeof(reason)) != IM_OK) {
        im_log_info("auth", "second login step rejected from %s: %s", client->ip, reason);
        char ip[IP_KEY_SIZE];
        ip_key(client->ip, ip);
        im_throttle_fail(auth->ip_failures, ip, now, NULL);
        result->status = IM_LOGIN_DENIED;
        return;
    }
    char user[IM_THROTTLE_KEY_MAX + 1];
    user_key(claims.sub, user, sizeof(user));
    result->retry_after = throttle_wait(auth, user, client->ip, now);
    if (result->retry_after > 0) {
        result->status = IM_LOGIN_THROTTLED;
        return;
    }
    int rc = im_store_user_get_by_id(auth->store, claims.user_id, &result->user);
    im_store_totp_t totp;
    if (rc == IM_OK) {
        rc = im_auth_totp_get(auth, claims.user_id, &totp);
    }
    if (rc == IM_ENOTFOUND || (rc == IM_OK && (!result->user.is_active || !totp.enabled_at))) {
        result->status = IM_LOGIN_DENIED;
        return;
    }
    if (rc == IM_OK) {
        rc = check_second_factor(auth, &totp, code, now, &result->second_factor);
    }
    if (rc == IM_EDENIED) {
        throttle_failure(auth, user, result->user.id, result->user.username, client, now);
        result->status = IM_LOGIN_DENIED;
        return;
    }
    if (rc != IM_OK) {
        result->status = IM_LOGIN_ERROR;
        return;
    }
    if (!totp_token_claim(auth, claims.jti)) {
        im_log_info("auth", "second login step from %s reused a completed token", client->ip);
        result->status = IM_LOGIN_DENIED;
        return;
    }
    if (open_session(auth, &result->user, client, &result->pair) != IM_OK) {
        result->status = IM_LOGIN_ERROR;
        return;
    }
    throttle_success(auth, user, client, now);
    result->status = IM_LOGIN_OK;
}

im_login_status_t im_auth_check_current_password(im_auth_t *auth, int64_t user_id,
                                                 const char *password, const im_client_t *client,
                                                 im_store_user_t *user, int *retry_after)
{
    *retry_after = 0;
    int rc = im_store_user_get_by_id(auth->store, user_id, user);
    if (rc != IM_OK) {
        return rc == IM_ENOTFOUND ? IM_LOGIN_DENIED : IM_LOGIN_ERROR;
    }
    int64_t now = im_now();
    char key[IM_THROTTLE_KEY_MAX + 1];
    user_key(user->username, key, sizeof(key));
    *retry_after = throttle_wait(auth, key, client->ip, now);
    if (*retry_after > 0) {
        return IM_LOGIN_THROTTLED;
    }
    if (!im_gate_enter(&auth->hash_gate)) {
        *retry_after = 1;
        return IM_LOGIN_BUSY;
    }
    bool valid = im_password_verify(password, user->password_hash);
    im_gate_leave(&auth->hash_gate);
    if (!valid) {
        throttle_failure_of(auth, "current-password checks", key, user->id, user->username,
                            client, now);
        return IM_LOGIN_DENIED;
    }
    throttle_success(auth, key, client, now);
    return IM_LOGIN_OK;
}

void im_auth_note_forbidden(im_auth_t *auth, const im_principal_t *principal,
                            const im_client_t *client)
{
    char key[32];
    snprintf(key, sizeof(key), "user:%lld", (long long)principal->user_id);
    bool started = false;
    im_throttle_fail(auth->forbidden, key, im_now(), &started);
    if (started) {
        char message[128];
        snprintf(message, sizeof(message), "%d requests in a row denied by role (403)",
                 forbidden_rule.free_failures + 1);
        im_auth_security_event(auth, "security.repeated_forbidden", principal->user_id,
                               principal->username, client, message);
    }
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
        im_auth_security_event(auth, "security.refresh_reuse", user->id, user->username, client,
                               "a rotated refresh token was presented again; session revoked");
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

/* Fills principal from the active user user_id; IM_EDENIED or IM_EUNAVAILABLE with a
 * reason otherwise. */
static int principal_from_user(im_auth_t *auth, int64_t user_id, im_principal_t *principal,
                               char *reason, size_t reason_len)
{
    im_store_user_t user;
    int rc = im_store_user_get_by_id(auth->store, user_id, &user);
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
    return IM_OK;
}

static int verify_api_token(im_auth_t *auth, const char *token, im_principal_t *principal,
                            char *reason, size_t reason_len)
{
    if (!im_apitoken_well_formed(token)) {
        snprintf(reason, reason_len, "malformed API token");
        return IM_EDENIED;
    }
    char hash[IM_STORE_TOKEN_HASH_LEN + 1];
    im_sha256_hex(token, strlen(token), hash);
    im_store_api_token_t stored;
    int rc = im_store_api_token_get(auth->store, hash, &stored);
    if (rc == IM_ENOTFOUND) {
        snprintf(reason, reason_len, "unknown API token");
        return IM_EDENIED;
    }
    if (rc) {
        snprintf(reason, reason_len, "API token lookup failed");
        return IM_EUNAVAILABLE;
    }
    int64_t now = im_now();
    if (stored.revoked_at) {
        snprintf(reason, reason_len, "API token %lld revoked", (long long)stored.id);
        return IM_EDENIED;
    }
    if (stored.expires_at <= now) {
        snprintf(reason, reason_len, "API token %lld expired", (long long)stored.id);
        return IM_EDENIED;
    }
    rc = principal_from_user(auth, stored.user_id, principal, reason, reason_len);
    if (rc) {
        return rc;
    }
    snprintf(principal->token_id, sizeof(principal->token_id), "api:%lld", (long long)stored.id);
    /* NOTE: two requests in the same second can both see an old time and both write it;
     * the rule bounds writes per token to a few a minute, not exactly one. */
    if (now - stored.last_used_at >= API_TOKEN_TOUCH_SECONDS &&
        im_store_api_token_touch(auth->store, stored.id, now) != IM_OK) {
        im_log_warn("auth", "cannot record the last use of API token %lld", (long long)stored.id);
    }
    return IM_OK;
}

int im_auth_verify_access(im_auth_t *auth, const char *token, im_principal_t *principal,
                          char *reason, size_t reason_len)
{
    if (im_apitoken_is_candidate(token)) {
        return verify_api_token(auth, token, principal, reason, reason_len);
    }
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
    rc = principal_from_user(auth, claims.user_id, principal, reason, reason_len);
    if (rc) {
        return rc;
    }
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
