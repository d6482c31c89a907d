/* /api/v1/auth: login, refresh, logout, me, change-password. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "auth/password.h"
#include "core/log.h"
#include "store/store.h"

#define MAX_USERNAME_INPUT 50
#define MAX_PASSWORD_INPUT 128

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
            im_resp_invalid(req, "body", "username", "field required: 1 to %d characters",
                            MAX_USERNAME_INPUT);
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
    im_token_pair_t pair;
    im_store_user_t user;
    int rc = im_auth_login(im_req_app(req)->auth, username, password, &client, &pair, &user);
    if (rc == IM_EDENIED || rc == IM_EFORBIDDEN) {
        im_log_info("auth", "failed login for \"%s\" from %s", username, client.ip);
        im_store_audit_event_t event = {
            .username = username,
            .action = "auth.login",
            .target_type = "user",
            .target_id = username,
            .ip_address = client.ip,
            .user_agent = client.user_agent,
            .success = false,
            .error_message = "incorrect username or password",
        };
        if (im_store_audit_insert(im_req_app(req)->store, &event) != IM_OK) {
            im_log_error("audit", "cannot record a failed login for \"%s\"", username);
        }
        im_resp_error(req, 401, "Incorrect username or password");
        goto out;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc == IM_ERR ? IM_EUNAVAILABLE : rc, "login failed: database error");
        goto out;
    }
    im_store_audit_event_t event = {
        .user_id = user.id,
        .username = user.username,
        .action = "auth.login",
        .target_type = "user",
        .target_id = user.username,
        .ip_address = client.ip,
        .user_agent = client.user_agent,
        .success = true,
    };
    if (im_store_audit_insert(im_req_app(req)->store, &event) != IM_OK) {
        im_log_error("audit", "cannot record the login of \"%s\"", user.username);
    }
    im_resp_json(req, 200, pair_json(&pair, &user));
    im_auth_pair_release(&pair);
out:
    if (form_password) {
        explicit_bzero(form_password, strlen(form_password));
    }
    free(form_user);
    free(form_password);
}

static void post_refresh(im_request_t *req)
{
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    const char *token = string_field(req, body, "refresh_token", 4096);
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
    if (rc == IM_EDENIED) {
        im_resp_error(req, 401, "Invalid or expired refresh token");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "refresh failed: database error");
        return;
    }
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
    const im_principal_t *who = im_req_principal(req);
    int rc = im_auth_logout(im_req_app(req)->auth, who, refresh_token);
    im_api_audit(req, "auth.logout", "user", who->username, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "logout failed: database error");
        return;
    }
    im_resp_empty(req, 204);
}

static void get_me(im_request_t *req)
{
    im_store_user_t user;
    int rc = im_store_user_get_by_id(im_req_app(req)->store, im_req_principal(req)->user_id, &user);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, "user not found");
        return;
    }
    im_resp_json(req, 200, im_auth_user_json(&user));
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
    int rc = im_store_user_get_by_id(app->store, who->user_id, &user);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, "user not found");
        return;
    }
    if (!im_password_verify(current, user.password_hash)) {
        im_api_audit(req, "user.change_password", "user", user.username, false,
                     "wrong current password");
        im_resp_error(req, 400, "Current password is incorrect");
        return;
    }
    rc = im_password_hash(next, IM_BCRYPT_COST, user.password_hash);
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

const im_route_t im_api_auth_routes[] = {
    {"POST", "/api/v1/auth/login", IM_ROLE_PUBLIC, post_login},
    {"POST", "/api/v1/auth/refresh", IM_ROLE_PUBLIC, post_refresh},
    {"POST", "/api/v1/auth/logout", IM_ROLE_VIEWER, post_logout},
    {"GET", "/api/v1/auth/me", IM_ROLE_VIEWER, get_me},
    {"POST", "/api/v1/auth/change-password", IM_ROLE_VIEWER, post_change_password},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
