/* /api/v1/auth: login (with an optional TOTP step), refresh, logout, me, change-password,
 * TOTP setup and personal API tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app.h"
#include "auth/apitoken.h"
#include "auth/auth.h"
#include "auth/cookie.h"
#include "auth/password.h"
#include "auth/totp.h"
#include "core/log.h"
#include "store/store.h"

#define MAX_USERNAME_INPUT 50
#define MAX_PASSWORD_INPUT 128
#define MAX_CODE_INPUT     32

/* The refresh token cookie: readable by the server only, sent only to the auth routes. */
#define REFRESH_COOKIE      "inframon_refresh"
#define REFRESH_COOKIE_PATH "/api/v1/auth"

#define RECOVERY_CODE_COUNT 10
#define API_TOKEN_MAX_DAYS  365

static bool is_loopback(const char *ip)
{
    return ip && (strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0);
}

/* Sets the refresh cookie to token, or clears it when token is NULL. Secure is left out
 * only in debug mode for a plain-http client on this machine, where a browser would not
 * send a Secure cookie back. */
static void set_refresh_cookie(im_request_t *req, const char *token)
{
    const im_config_t *config = im_req_app(req)->config;
    bool secure = !(config->debug && is_loopback(im_req_client_ip(req)));
    long max_age = token ? (long)config->refresh_token_expire_days * 86400 : 0;
    char *cookie =
        im_asprintf("%s=%s; Path=%s; Max-Age=%ld; HttpOnly; SameSite=Strict%s", REFRESH_COOKIE,
                    token ? token : "", REFRESH_COOKIE_PATH, max_age, secure ? "; Secure" : "");
    im_resp_header(req, "Set-Cookie", cookie);
    free(cookie);
}

/* Returns a malloc'd copy of the refresh cookie's value, or NULL when there is none. */
static char *refresh_cookie(im_request_t *req)
{
    const char *header = im_req_header(req, "Cookie");
    return im_cookie_value(header, header ? strlen(header) : 0, REFRESH_COOKIE);
}

/* Returns true when origin is this server's own origin (scheme and Host header) or one
 * of the exact CORS_ORIGINS. */
static bool origin_trusted(im_request_t *req, const char *origin)
{
    const char *host = im_req_header(req, "Host");
    if (host) {
        const char *rest = NULL;
        if (strncmp(origin, "http://", 7) == 0) {
            rest = origin + 7;
        } else if (strncmp(origin, "https://", 8) == 0) {
            rest = origin + 8;
        }
        if (rest && strcmp(rest, host) == 0) {
            return true;
        }
    }
    const im_config_t *config = im_req_app(req)->config;
    for (int i = 0; i < config->cors_origin_count; i++) {
        if (strcmp(config->cors_origins[i], "*") != 0 &&
            strcmp(config->cors_origins[i], origin) == 0) {
            return true;
        }
    }
    return false;
}

/* A browser sends the cookie on any request to its path, so a request that relies on it
 * must also prove it came from a page of ours: a custom header, which a cross-site form
 * or a simple cross-origin request cannot carry, or an Origin we trust. Sends 403 and
 * returns false otherwise. */
static bool cookie_use_allowed(im_request_t *req)
{
    const char *requested_with = im_req_header(req, "X-Requested-With");
    if (requested_with && *requested_with) {
        return true;
    }
    const char *origin = im_req_header(req, "Origin");
    if (origin && origin_trusted(req, origin)) {
        return true;
    }
    im_resp_error(req, 403,
                  "refresh by cookie needs an X-Requested-With header or a same-origin "
                  "Origin header");
    return false;
}

/* Returns true when the caller authenticated with a personal API token. */
static bool via_api_token(im_request_t *req)
{
    const im_principal_t *who = im_req_principal(req);
    return who && strncmp(who->token_id, "api:", 4) == 0;
}

/* Account-security changes need a login session: a leaked API token must not be able to
 * mint more tokens or turn off the second factor. Sends 403 and returns false. */
static bool require_session(im_request_t *req)
{
    if (via_api_token(req)) {
        im_resp_error(req, 403, "this action needs a login session, not a personal API token");
        return false;
    }
    return true;
}

static json_t *pair_json(const im_token_pair_t *pair, const im_store_user_t *user)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:o}", "access_token", pair->access_token,
                     "refresh_token", pair->refresh_token, "token_type", "bearer", "expires_in",
                     (json_int_t)pair->expires_in, "user", im_auth_user_json(user));
}

/* Reads a required string field of at most max bytes; sends 422 and returns NULL if not. */
static const char *string_field(im_request_t *req, json_t *body, const char *name, size_t max)
{
    json_t *value = json_object_get(body, name);
    if (!json_is_string(value)) {
        im_resp_invalid(req, "body", name, "field required: a string");
        return NULL;
    }
    if (json_string_length(value) == 0 || json_string_length(value) > max) {
        im_resp_invalid(req, "body", name, "must be 1 to %zu characters", max);
        return NULL;
    }
    if (strlen(json_string_value(value)) != json_string_length(value)) {
        im_resp_invalid(req, "body", name, "must not contain NUL characters");
        return NULL;
    }
    return json_string_value(value);
}

static bool is_form(im_request_t *req)
{
    const char *type = im_req_header(req, "Content-Type");
    return type && strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0;
}

/* Sends the response to a login step and records it in the audit log. */
static void send_login_result(im_request_t *req, im_login_result_t *result, const char *username,
                              const im_client_t *client)
{
    im_store_audit_event_t event = {
        .username = username,
        .action = "auth.login",
        .target_type = "user",
        .target_id = username,
        .ip_address = client->ip,
        .user_agent = client->user_agent,
    };
    char details[64] = "";
    char retry[16];
    snprintf(retry, sizeof(retry), "%d", result->retry_after);
    switch (result->status) {
    case IM_LOGIN_OK:
        event.user_id = result->user.id;
        event.username = event.target_id = result->user.username;
        event.success = true;
        if (result->second_factor) {
            snprintf(details, sizeof(details), "{\"second_factor\": \"%s\"}",
                     result->second_factor);
            event.details = details;
        }
        set_refresh_cookie(req, result->pair.refresh_token);
        im_resp_json(req, 200, pair_json(&result->pair, &result->user));
        break;
    case IM_LOGIN_TOTP_REQUIRED:
        event.user_id = result->user.id;
        event.action = "auth.login_password";
        event.success = true;
        im_resp_json(req, 200,
                     json_pack("{s:b, s:s, s:I}", "totp_required", 1, "totp_token",
                               result->totp_token, "expires_in", (json_int_t)300));
        break;
    case IM_LOGIN_DENIED:
        im_log_info("auth", "failed login for \"%s\" from %s", username ? username : "-",
                    client->ip);
        event.error_message =
            result->second_factor ? "incorrect code" : "incorrect username or password";
        im_resp_error(req, 401, "Incorrect username or password");
        break;
    case IM_LOGIN_THROTTLED:
        im_resp_header(req, "Retry-After", retry);
        im_resp_error(req, 429, "Too many failed login attempts; retry in %s s", retry);
        /* No audit row: a flood of blocked attempts would become a flood of writes, and
         * the block itself was recorded once as a security event. */
        return;
    case IM_LOGIN_BUSY:
        im_resp_header(req, "Retry-After", retry);
        im_resp_error(req, 503, "Too many logins in progress; retry in %s s", retry);
        return; /* not an attempt on the account: no audit row */
    case IM_LOGIN_ERROR:
    default:
        event.error_message = "database error";
        im_resp_from_rc(req, IM_EUNAVAILABLE, "login failed: database error");
        break;
    }
    if (im_store_audit_insert(im_req_app(req)->store, &event) != IM_OK) {
        im_log_error("audit", "cannot record a login of \"%s\"", username ? username : "-");
    }
}

static void post_login(im_request_t *req)
{
    char *form_user = NULL, *form_password = NULL;
    const char *username, *password;
    if (is_form(req)) {
        size_t len;
        const char *body = im_req_body(req, &len);
        form_user = im_form_value(body, len, "username");
        form_password = im_form_value(body, len, "password");
        username = form_user;
        password = form_password;
        if (!username || !*username || strlen(username) > MAX_USERNAME_INPUT) {
            /* curl -d sends a form type by default, so a JSON body often arrives as one. */
            size_t skip = 0;
            while (skip < len && strchr(" \t\r\n", body[skip]) && body[skip] != '\0') {
                skip++;
            }
            bool json_like = skip < len && body[skip] == '{';
            im_resp_invalid(req, "body", "username", "field required: 1 to %d characters%s",
                            MAX_USERNAME_INPUT,
                            json_like ? "; the body is JSON but its Content-Type is a form, "
                                        "so send Content-Type: application/json"
                                      : "");
            goto out;
        }
        if (!password || !*password || strlen(password) > MAX_PASSWORD_INPUT) {
            im_resp_invalid(req, "body", "password", "field required: 1 to %d characters",
                            MAX_PASSWORD_INPUT);
            goto out;
        }
    } else {
        json_t *body = im_req_json_object(req);
        if (!body) {
            goto out;
        }
        username = string_field(req, body, "username", MAX_USERNAME_INPUT);
        if (!username) {
            goto out;
        }
        password = string_field(req, body, "password", MAX_PASSWORD_INPUT);
        if (!password) {
            goto out;
        }
    }
    im_client_t client = {im_req_client_ip(req), im_req_user_agent(req)};
    im_login_result_t result;
    im_auth_login(im_req_app(req)->auth, username, password, &client, &result);
    send_login_result(req, &result, username, &client);
    im_login_result_release(&result);
out:
    if (form_password) {
        explicit_bzero(form_password, strlen(form_password));
    }
    free(form_user);
    free(form_password);
}

/* The second login step: {totp_token, code}, where code is a TOTP code or a recovery code. */
static void post_login_totp(im_request_t *req)
{
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    const char *token = string_field(req, body, "totp_token", 4096);
    if (!token) {
        return;
    }
    const char *code = string_field(req, body, "code", MAX_CODE_INPUT);
    if (!code) {
        return;
    }
    im_client_t client = {im_req_client_ip(req), im_req_user_agent(req)};
    im_login_result_t result;
    im_auth_login_totp(im_req_app(req)->auth, token, code, &client, &result);
    if (!result.second_factor) {
        result.second_factor = "totp";
    }
    send_login_result(req, &result, result.user.username[0] ? result.user.username : NULL, &client);
    im_login_result_release(&result);
}

/* Takes the refresh token from the JSON body, or from the cookie when the body has none.
 * Returns a malloc'd token, or NULL after sending an error. */
static char *refresh_token_of(im_request_t *req)
{
    size_t len;
    im_req_body(req, &len);
    json_t *body = NULL;
    if (len > 0) {
        body = im_req_json_object(req);
        if (!body) {
            return NULL;
        }
    }
    if (body && json_object_get(body, "refresh_token")) {
        const char *token = string_field(req, body, "refresh_token", 4096);
        return token ? im_strdup(token) : NULL;
    }
    char *cookie = refresh_cookie(req);
    if (!cookie) {
        im_resp_invalid(req, "body", "refresh_token", "field required: a string (or the %s cookie)",
                        REFRESH_COOKIE);
        return NULL;
    }
    if (!cookie_use_allowed(req)) {
        free(cookie);
        return NULL;
    }
    return cookie;
}

static void post_refresh(im_request_t *req)
{
    char *token = refresh_token_of(req);
    if (!token) {
        return;
    }
    im_client_t client = {im_req_client_ip(req), im_req_user_agent(req)};
    im_token_pair_t pair;
    im_store_user_t user;
    bool reuse = false;
    int rc = im_auth_refresh(im_req_app(req)->auth, token, &client, &pair, &user, &reuse);
    if (reuse) {
        im_store_audit_event_t event = {
            .user_id = user.id,
            .username = user.username,
            .action = "auth.refresh_reuse",
            .target_type = "user",
            .target_id = user.username,
            .ip_address = client.ip,
            .user_agent = client.user_agent,
            .success = false,
            .error_message = "a rotated refresh token was presented again; session revoked",
        };
        if (im_store_audit_insert(im_req_app(req)->store, &event) != IM_OK) {
            im_log_error("audit", "cannot record refresh-token reuse for \"%s\"", user.username);
        }
    }
    explicit_bzero(token, strlen(token));
    free(token);
    if (rc == IM_EDENIED) {
        set_refresh_cookie(req, NULL);
        im_resp_error(req, 401, "Invalid or expired refresh token");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "refresh failed: database error");
        return;
    }
    set_refresh_cookie(req, pair.refresh_token);
    im_resp_json(req, 200, pair_json(&pair, &user));
    im_auth_pair_release(&pair);
}

static void post_logout(im_request_t *req)
{
    const char *refresh_token = NULL;
    size_t len;
    im_req_body(req, &len);
    if (len > 0) {
        json_t *body = im_req_json_object(req);
        if (!body) {
            return;
        }
        refresh_token = json_string_value(json_object_get(body, "refresh_token"));
    }
    /* The bearer token already proves the request is no CSRF, so the cookie may be used. */
    char *cookie = refresh_token ? NULL : refresh_cookie(req);
    const im_principal_t *who = im_req_principal(req);
    int rc = im_auth_logout(im_req_app(req)->auth, who, refresh_token ? refresh_token : cookie);
    free(cookie);
    im_api_audit(req, "auth.logout", "user", who->username, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "logout failed: database error");
        return;
    }
    set_refresh_cookie(req, NULL);
    im_resp_empty(req, 204);
}

/* Sends the response for a password or code re-check that was throttled, found no free
 * hashing slot or failed in the store. Blocked attempts get no audit row, as for login:
 * the block itself was recorded once as a security event. */
static void send_recheck_refusal(im_request_t *req, im_login_status_t status, int retry_after,
                                 const char *what)
{
    char retry[16];
    snprintf(retry, sizeof(retry), "%d", retry_after);
    if (status == IM_LOGIN_THROTTLED) {
        im_resp_header(req, "Retry-After", retry);
        im_resp_error(req, 429, "Too many failed password or code checks; retry in %s s", retry);
    } else if (status == IM_LOGIN_BUSY) {
        im_resp_header(req, "Retry-After", retry);
        im_resp_error(req, 503, "Too many password checks in progress; retry in %s s", retry);
    } else {
        im_resp_error(req, 503, "%s failed: database error", what);
    }
}

static void get_me(im_request_t *req)
{
    im_store_user_t user;
    int rc = im_store_user_get_by_id(im_req_app(req)->store, im_req_principal(req)->user_id, &user);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, "user not found");
        return;
    }
    /* totp_enabled lets the account page offer set-up or disable. A pending set-up that was
     * never confirmed counts as off, because login does not ask for a code then. */
    im_store_totp_t totp;
    int totp_rc = im_store_totp_get(im_req_app(req)->store, user.id, &totp);
    if (totp_rc != IM_OK && totp_rc != IM_ENOTFOUND) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "user lookup failed: database error");
        return;
    }
    json_t *reply = im_auth_user_json(&user);
    json_object_set_new(reply, "totp_enabled", json_boolean(totp_rc == IM_OK && totp.enabled_at));
    explicit_bzero(&totp, sizeof(totp));
    im_resp_json(req, 200, reply);
}

static void post_change_password(im_request_t *req)
{
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    const char *current = string_field(req, body, "current_password", MAX_PASSWORD_INPUT);
    if (!current) {
        return;
    }
    const char *next = string_field(req, body, "new_password", MAX_PASSWORD_INPUT);
    if (!next) {
        return;
    }
    const char *confirm = string_field(req, body, "new_password_confirm", MAX_PASSWORD_INPUT);
    if (!confirm) {
        return;
    }
    char why[128];
    if (!im_password_acceptable(next, why, sizeof(why))) {
        im_resp_invalid(req, "body", "new_password", "%s", why);
        return;
    }
    if (strcmp(next, confirm) != 0) {
        im_resp_invalid(req, "body", "new_password_confirm", "passwords do not match");
        return;
    }
    im_app_t *app = im_req_app(req);
    const im_principal_t *who = im_req_principal(req);
    im_store_user_t user;
    im_client_t client = {im_req_client_ip(req), im_req_user_agent(req)};
    int retry_after = 0;
    im_login_status_t status = im_auth_check_current_password(app->auth, who->user_id, current,
                                                              &client, &user, &retry_after);
    if (status == IM_LOGIN_DENIED) {
        im_api_audit(req, "user.change_password", "user", who->username, false,
                     "wrong current password");
        im_resp_error(req, 400, "Current password is incorrect");
        return;
    }
    if (status != IM_LOGIN_OK) {
        send_recheck_refusal(req, status, retry_after, "password change");
        return;
    }
    int rc = im_password_hash(next, IM_BCRYPT_COST, user.password_hash);
    if (rc == IM_OK) {
        rc = im_store_user_update(app->store, &user);
    }
    if (rc == IM_OK) {
        rc = im_auth_revoke_user(app->auth, user.id, who->session_id);
    }
    im_api_audit(req, "user.change_password", "user", user.username, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "password change failed: database error");
        return;
    }
    im_resp_json(req, 200,
                 json_pack("{s:s}", "message",
                           "Password changed; your other sessions have been signed out"));
}

/* ---- TOTP second factor ------------------------------------------------------------------ */

static void post_totp_setup(im_request_t *req)
{
    if (!require_session(req)) {
        return;
    }
    im_app_t *app = im_req_app(req);
    const im_principal_t *who = im_req_principal(req);
    im_store_totp_t totp = {.user_id = who->user_id};
    int rc = im_store_totp_get(app->store, who->user_id, &totp);
    if (rc == IM_OK && totp.enabled_at) {
        im_resp_error(req, 409, "TOTP is already enabled; disable it before setting it up again");
        return;
    }
    if (rc != IM_OK && rc != IM_ENOTFOUND) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP setup failed: database error");
        return;
    }
    memset(&totp, 0, sizeof(totp));
    totp.user_id = who->user_id;
    rc = im_totp_generate_secret(totp.secret);
    if (rc == IM_OK) {
        rc = im_auth_totp_setup(app->auth, &totp);
    }
    im_api_audit(req, "auth.totp_setup", "user", who->username, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP setup failed: database error");
        return;
    }
    char *uri = im_asprintf("otpauth://totp/InfraMon:%s?secret=%s&issuer=InfraMon&algorithm=SHA1"
                            "&digits=%d&period=%d",
                            who->username, totp.secret, IM_TOTP_DIGITS, IM_TOTP_STEP_SECONDS);
    im_resp_json(req, 200, json_pack("{s:s, s:s}", "secret", totp.secret, "otpauth_uri", uri));
    free(uri);
    explicit_bzero(totp.secret, sizeof(totp.secret));
}

/* Writes a recovery code of 10 base32 characters as XXXXX-XXXXX (50 random bits). */
static void make_recovery_code(char out[12])
{
    unsigned char raw[7];
    char text[16];
    im_random_bytes(raw, sizeof(raw));
    im_base32_encode(raw, sizeof(raw), text, sizeof(text));
    memcpy(out, text, 5);
    out[5] = '-';
    memcpy(out + 6, text + 5, 5);
    out[11] = '\0';
}

static void post_totp_enable(im_request_t *req)
{
    if (!require_session(req)) {
        return;
    }
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    const char *code = string_field(req, body, "code", MAX_CODE_INPUT);
    if (!code) {
        return;
    }
    im_app_t *app = im_req_app(req);
    const im_principal_t *who = im_req_principal(req);
    im_store_totp_t totp;
    int rc = im_auth_totp_get(app->auth, who->user_id, &totp);
    if (rc == IM_ENOTFOUND || (rc == IM_OK && totp.enabled_at)) {
        im_resp_error(req, 409,
                      rc == IM_OK ? "TOTP is already enabled"
                                  : "no TOTP secret set up: call POST /api/v1/auth/totp/setup "
                                    "first");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP enable failed: database error");
        return;
    }
    int64_t step = 0;
    if (!im_totp_verify(totp.secret, code, im_now(), 0, &step)) {
        im_api_audit(req, "auth.totp_enable", "user", who->username, false, "invalid code");
        im_resp_invalid(req, "body", "code", "invalid code: enter the current 6-digit code");
        return;
    }
    char codes[RECOVERY_CODE_COUNT][12];
    char hashes[RECOVERY_CODE_COUNT][65];
    const char *hash_list[RECOVERY_CODE_COUNT];
    for (int i = 0; i < RECOVERY_CODE_COUNT; i++) {
        make_recovery_code(codes[i]);
        char normal[11];
        memcpy(normal, codes[i], 5);
        memcpy(normal + 5, codes[i] + 6, 5);
        normal[10] = '\0';
        im_sha256_hex(normal, 10, hashes[i]);
        hash_list[i] = hashes[i];
    }
    rc = im_store_totp_enable(app->store, who->user_id, im_now(), step, hash_list,
                              RECOVERY_CODE_COUNT);
    im_api_audit(req, "auth.totp_enable", "user", who->username, rc == IM_OK, NULL);
    if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 409, "TOTP is already enabled");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP enable failed: database error");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < RECOVERY_CODE_COUNT; i++) {
        json_array_append_new(list, json_string(codes[i]));
    }
    explicit_bzero(codes, sizeof(codes));
    im_resp_json(req, 200, json_pack("{s:b, s:o}", "enabled", 1, "recovery_codes", list));
}

/* Disables TOTP; needs {password} or {code} (a TOTP or recovery code). */
static void post_totp_disable(im_request_t *req)
{
    if (!require_session(req)) {
        return;
    }
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    im_app_t *app = im_req_app(req);
    const im_principal_t *who = im_req_principal(req);
    bool has_password = json_object_get(body, "password") != NULL;
    const char *secret = has_password ? string_field(req, body, "password", MAX_PASSWORD_INPUT)
                                      : string_field(req, body, "code", MAX_CODE_INPUT);
    if (!secret) {
        return;
    }
    im_store_totp_t totp;
    int rc = im_store_totp_get(app->store, who->user_id, &totp);
    if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 409, "TOTP is not set up for this user");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP disable failed: database error");
        return;
    }
    im_client_t client = {im_req_client_ip(req), im_req_user_agent(req)};
    int retry_after = 0;
    im_login_status_t status;
    if (has_password) {
        im_store_user_t user;
        status = im_auth_check_current_password(app->auth, who->user_id, secret, &client, &user,
                                                &retry_after);
    } else {
        status = im_auth_check_second_factor(app->auth, who->user_id, secret, &client, NULL,
                                             &retry_after);
    }
    if (status != IM_LOGIN_OK && status != IM_LOGIN_DENIED) {
        send_recheck_refusal(req, status, retry_after, "TOTP disable");
        return;
    }
    rc = status == IM_LOGIN_OK ? im_store_totp_delete(app->store, who->user_id) : IM_EDENIED;
    im_api_audit(req, "auth.totp_disable", "user", who->username, rc == IM_OK,
                 rc == IM_EDENIED ? "wrong password or code" : NULL);
    if (rc == IM_EDENIED) {
        im_resp_error(req, 400, "Incorrect password or code");
    } else if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 409, "TOTP is not set up for this user");
    } else if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "TOTP disable failed: database error");
    } else {
        im_resp_empty(req, 204);
    }
}

/* ---- personal API tokens ------------------------------------------------------------------- */

static json_t *time_json(int64_t when)
{
    if (!when) {
        return json_null();
    }
    char text[32];
    im_time_iso8601(when, text);
    return json_string(text);
}

static json_t *api_token_json(const im_store_api_token_t *token)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)token->id, "name",
                     token->name, "prefix", token->prefix, "created_at",
                     time_json(token->created_at), "expires_at", time_json(token->expires_at),
                     "last_used_at", time_json(token->last_used_at), "revoked_at",
                     time_json(token->revoked_at));
}

static bool token_name_valid(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static void post_api_token(im_request_t *req)
{
    if (!require_session(req)) {
        return;
    }
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    const char *name = string_field(req, body, "name", IM_STORE_API_TOKEN_NAME_MAX);
    if (!name) {
        return;
    }
    if (!token_name_valid(name)) {
        im_resp_invalid(req, "body", "name", "must not contain control characters");
        return;
    }
    json_t *days = json_object_get(body, "expires_in_days");
    if (!json_is_integer(days) || json_integer_value(days) < 1 ||
        json_integer_value(days) > API_TOKEN_MAX_DAYS) {
        im_resp_invalid(req, "body", "expires_in_days", "field required: an integer from 1 to %d",
                        API_TOKEN_MAX_DAYS);
        return;
    }
    const im_principal_t *who = im_req_principal(req);
    char secret[IM_APITOKEN_LEN + 1];
    im_apitoken_generate(secret);
    im_store_api_token_t token = {.user_id = who->user_id};
    im_strlcpy(token.name, name, sizeof(token.name));
    im_sha256_hex(secret, strlen(secret), token.token_hash);
    im_strlcpy(token.prefix, secret, IM_APITOKEN_SHOWN_CHARS + 1);
    token.created_at = im_now();
    token.expires_at = token.created_at + json_integer_value(days) * 86400;
    int rc = im_store_api_token_create(im_req_app(req)->store, &token);
    char target[32];
    snprintf(target, sizeof(target), "%lld", (long long)token.id);
    im_api_audit(req, "auth.api_token_create", "api_token", target, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "API token creation failed: database error");
        return;
    }
    json_t *reply = api_token_json(&token);
    json_object_set_new(reply, "token", json_string(secret));
    explicit_bzero(secret, sizeof(secret));
    im_resp_json(req, 201, reply);
}

static void get_api_tokens(im_request_t *req)
{
    im_store_api_token_list_t list;
    int rc = im_store_api_token_list(im_req_app(req)->store, im_req_principal(req)->user_id, &list);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "API token list failed: database error");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < list.count; i++) {
        json_array_append_new(items, api_token_json(&list.tokens[i]));
    }
    im_store_api_token_list_release(&list);
    im_resp_json(req, 200, json_pack("{s:o}", "items", items));
}

static void delete_api_token(im_request_t *req)
{
    const char *text = im_req_param(req, "id");
    int64_t id = 0;
    if (!text || !im_parse_int64(text, 1, INT64_MAX, &id)) {
        im_resp_invalid(req, "path", "id", "must be a positive integer");
        return;
    }
    const im_principal_t *who = im_req_principal(req);
    int rc = im_store_api_token_revoke(im_req_app(req)->store, who->user_id, id, im_now());
    im_api_audit(req, "auth.api_token_revoke", "api_token", text, rc == IM_OK,
                 rc == IM_ENOTFOUND ? "no such active token of this user" : NULL);
    if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "API token %lld not found among your active tokens", (long long)id);
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "API token revoke failed: database error");
        return;
    }
    im_resp_empty(req, 204);
}

const im_route_t im_api_auth_routes[] = {
    {"POST", "/api/v1/auth/login", IM_ROLE_PUBLIC, post_login,
     "Log in with username and password; returns tokens or a TOTP challenge"},
    {"POST", "/api/v1/auth/login/totp", IM_ROLE_PUBLIC, post_login_totp,
     "Complete a login with a TOTP or recovery code"},
    {"POST", "/api/v1/auth/refresh", IM_ROLE_PUBLIC, post_refresh,
     "Exchange a refresh token (cookie or body) for a new token pair"},
    {"POST", "/api/v1/auth/logout", IM_ROLE_VIEWER, post_logout,
     "End this login and revoke its refresh tokens"},
    {"GET", "/api/v1/auth/me", IM_ROLE_VIEWER, get_me, "The logged-in user"},
    {"POST", "/api/v1/auth/change-password", IM_ROLE_VIEWER, post_change_password,
     "Change your own password; ends your other logins"},
    {"POST", "/api/v1/auth/totp/setup", IM_ROLE_VIEWER, post_totp_setup,
     "Start TOTP set-up: a new secret and its otpauth link"},
    {"POST", "/api/v1/auth/totp/enable", IM_ROLE_VIEWER, post_totp_enable,
     "Confirm TOTP with a code; returns recovery codes"},
    {"POST", "/api/v1/auth/totp/disable", IM_ROLE_VIEWER, post_totp_disable,
     "Turn TOTP off with your password or a code"},
    {"GET", "/api/v1/auth/tokens", IM_ROLE_VIEWER, get_api_tokens, "Your personal API tokens"},
    {"POST", "/api/v1/auth/tokens", IM_ROLE_VIEWER, post_api_token,
     "Create a personal API token; its text is shown once"},
    {"DELETE", "/api/v1/auth/tokens/{id}", IM_ROLE_VIEWER, delete_api_token,
     "Revoke one of your API tokens"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
