/* /api/v1/users: user administration (admin), and self-service reads and edits. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "auth/password.h"
#include "core/log.h"
#include "store/store.h"

bool im_api_valid_username(const char *name)
{
    size_t len = strlen(name);
    if (len < IM_STORE_USERNAME_MIN || len > IM_STORE_USERNAME_MAX) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            return false;
        }
    }
    return true;
}

bool im_api_valid_email(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@');
    if (len < 3 || len > IM_STORE_EMAIL_MAX || !at || at == email || at[1] == '\0' ||
        strchr(at + 1, '@')) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)email; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || strchr("<>()[]\\,;:\"", *p)) {
            return false;
        }
    }
    return true;
}

/* Parses the {id} path segment; sends 422 and returns false when it is not a user id. */
static bool path_user_id(im_request_t *req, int64_t *id)
{
    if (!im_parse_int64(im_req_param(req, "id"), 1, INT64_MAX, id)) {
        im_resp_invalid(req, "path", "id", "must be a positive integer user id");
        return false;
    }
    return true;
}

static void list_users(im_request_t *req)
{
    int64_t page, page_size;
    bool active = false;
    if (!im_req_query_int(req, "page", 1, 1000000, 1, &page) ||
        !im_req_query_int(req, "page_size", 1, 100, 20, &page_size)) {
        return;
    }
    im_store_user_filter_t filter = {.offset = (page - 1) * page_size, .limit = page_size};
    const char *is_active = im_req_query(req, "is_active");
    if (is_active && *is_active) {
        if (!im_parse_bool(is_active, &active)) {
            im_resp_invalid(req, "query", "is_active", "must be true or false");
            return;
        }
        filter.is_active = active ? IM_STORE_BOOL_TRUE : IM_STORE_BOOL_FALSE;
    }
    const char *role = im_req_query(req, "role");
    im_role_t parsed;
    if (role && *role) {
        if (!im_role_parse(role, &parsed)) {
            im_resp_invalid(req, "query", "role", "must be admin, operator or viewer");
            return;
        }
        filter.role = role;
    }
    im_store_user_page_t result = {0};
    int rc = im_store_user_list(im_req_app(req)->store, &filter, &result);
    if (rc != IM_OK) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot list users: database error");
        return;
    }
    json_t *users = json_array();
    for (size_t i = 0; i < result.count; i++) {
        json_array_append_new(users, im_auth_user_json(&result.users[i]));
    }
    im_resp_json(req, 200,
                 json_pack("{s:o, s:I, s:I, s:I}", "users", users, "total",
                           (json_int_t)result.total, "page", (json_int_t)page, "page_size",
                           (json_int_t)page_size));
    im_store_user_page_release(&result);
}

static void get_user(im_request_t *req)
{
    int64_t id;
    if (!path_user_id(req, &id)) {
        return;
    }
    const im_principal_t *who = im_req_principal(req);
    if (who->user_id != id && who->role < IM_ROLE_ADMIN) {
        im_resp_error(req, 403, "reading another user requires the admin role");
        return;
    }
    im_store_user_t user;
    int rc = im_store_user_get_by_id(im_req_app(req)->store, id, &user);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, rc == IM_ENOTFOUND ? "user not found" : "database error");
        return;
    }
    im_resp_json(req, 200, im_auth_user_json(&user));
}

/* Validates and applies a new password from body[field] (with body[confirm_field] when
 * given). Returns false after sending 422. */
static bool apply_password(im_request_t *req, json_t *body, const char *field,
                           const char *confirm_field, im_store_user_t *user)
{
    json_t *value = json_object_get(body, field);
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
        im_resp_invalid(req, "body", field, "field required: a string");
        return false;
    }
    const char *password = json_string_value(value);
    char why[128];
    if (!im_password_acceptable(password, why, sizeof(why))) {
        im_resp_invalid(req, "body", field, "%s", why);
        return false;
    }
    if (confirm_field) {
        const char *confirm = json_string_value(json_object_get(body, confirm_field));
        if (!confirm) {
            im_resp_invalid(req, "body", confirm_field, "field required: a string equal to %s", field);
            return false;
        }
        if (strcmp(confirm, password) != 0) {
            im_resp_invalid(req, "body", confirm_field, "passwords do not match");
            return false;
        }
    }
    if (im_password_hash(password, IM_BCRYPT_COST, user->password_hash) != IM_OK) {
        im_resp_error(req, 500, "cannot hash the password");
        return false;
    }
    return true;
}

static void create_user(im_request_t *req)
{
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    im_store_user_t user = {0};
    const char *username = json_string_value(json_object_get(body, "username"));
    if (!username || !im_api_valid_username(username)) {
        im_resp_invalid(req, "body", "username",
                        "must be 3 to 50 characters of A-Z, a-z, 0-9, _ and -");
        return;
    }
    const char *email = json_string_value(json_object_get(body, "email"));
    if (!email || !im_api_valid_email(email)) {
        im_resp_invalid(req, "body", "email", "must be a valid email address");
        return;
    }
    const char *role = json_string_value(json_object_get(body, "role"));
    im_role_t parsed;
    if (!role) {
        role = "viewer";
    }
    if (!im_role_parse(role, &parsed)) {
        im_resp_invalid(req, "body", "role", "must be admin, operator or viewer");
        return;
    }
    im_strlcpy(user.username, username, sizeof(user.username));
    im_strlcpy(user.email, email, sizeof(user.email));
    im_strlcpy(user.role, role, sizeof(user.role));
    user.is_active = true;
    if (!apply_password(req, body, "password", "password_confirm", &user)) {
        return;
    }
    int rc = im_store_user_create(im_req_app(req)->store, &user);
    im_api_audit(req, "user.create", "user", username, rc == IM_OK,
                 rc == IM_ECONFLICT ? "username or email taken" : NULL);
    if (rc == IM_ECONFLICT) {
        im_resp_error(req, 409, "username or email is already taken");
        return;
    }
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, "cannot create the user");
        return;
    }
    im_resp_json(req, 201, im_auth_user_json(&user));
}

static void update_user(im_request_t *req)
{
    int64_t id;
    if (!path_user_id(req, &id)) {
        return;
    }
    json_t *body = im_req_json_object(req);
    if (!body) {
        return;
    }
    im_app_t *app = im_req_app(req);
    const im_principal_t *who = im_req_principal(req);
    bool self = who->user_id == id;
    bool admin = who->role == IM_ROLE_ADMIN;
    if (!self && !admin) {
        im_resp_error(req, 403, "changing another user requires the admin role");
        return;
    }
    if (self && (json_object_get(body, "role") || json_object_get(body, "is_active"))) {
        im_resp_error(req, 403, "you cannot change your own role or active state");
        return;
    }
    im_store_user_t user;
    int rc = im_store_user_get_by_id(app->store, id, &user);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, rc == IM_ENOTFOUND ? "user not found" : "database error");
        return;
    }
    const char *key;
    json_t *value;
    bool password_changed = false, deactivated = false;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "email") == 0) {
            if (!json_is_string(value) || !im_api_valid_email(json_string_value(value))) {
                im_resp_invalid(req, "body", "email", "must be a valid email address");
                return;
            }
            im_strlcpy(user.email, json_string_value(value), sizeof(user.email));
        } else if (strcmp(key, "role") == 0) {
            im_role_t parsed;
            if (!json_is_string(value) || !im_role_parse(json_string_value(value), &parsed)) {
                im_resp_invalid(req, "body", "role", "must be admin, operator or viewer");
                return;
            }
            im_strlcpy(user.role, json_string_value(value), sizeof(user.role));
        } else if (strcmp(key, "is_active") == 0) {
            if (!json_is_boolean(value)) {
                im_resp_invalid(req, "body", "is_active", "must be true or false");
                return;
            }
            deactivated = user.is_active && !json_is_true(value);
            user.is_active = json_is_true(value);
        } else if (strcmp(key, "password") == 0) {
            if (!apply_password(
                    req, body, "password",
                    json_object_get(body, "password_confirm") ? "password_confirm" : NULL, &user)) {
                return;
            }
            password_changed = true;
        } else if (strcmp(key, "password_confirm") != 0) {
            im_resp_invalid(req, "body", key, "unknown field");
            return;
        }
    }
    rc = im_store_user_update(app->store, &user);
    if (rc == IM_OK && (password_changed || deactivated)) {
        rc = im_auth_revoke_user(app->auth, user.id, self ? who->session_id : NULL);
    }
    im_api_audit(req, "user.update", "user", user.username, rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, rc == IM_ECONFLICT ? "email is already taken" : "update failed");
        return;
    }
    im_resp_json(req, 200, im_auth_user_json(&user));
}

static void delete_user(im_request_t *req)
{
    int64_t id;
    if (!path_user_id(req, &id)) {
        return;
    }
    if (im_req_principal(req)->user_id == id) {
        im_resp_error(req, 400, "you cannot delete yourself");
        return;
    }
    im_app_t *app = im_req_app(req);
    im_store_user_t user;
    int rc = im_store_user_get_by_id(app->store, id, &user);
    if (rc == IM_OK) {
        rc = im_store_user_delete(app->store, id);
    }
    im_api_audit(req, "user.delete", "user", rc == IM_OK ? user.username : im_req_param(req, "id"),
                 rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, rc == IM_ENOTFOUND ? "user not found" : "delete failed");
        return;
    }
    im_resp_empty(req, 204);
}

static void set_active(im_request_t *req, bool active)
{
    int64_t id;
    if (!path_user_id(req, &id)) {
        return;
    }
    if (im_req_principal(req)->user_id == id) {
        im_resp_error(req, 403, "you cannot change your own active state");
        return;
    }
    im_app_t *app = im_req_app(req);
    im_store_user_t user;
    int rc = im_store_user_get_by_id(app->store, id, &user);
    if (rc == IM_OK) {
        user.is_active = active;
        rc = im_store_user_update(app->store, &user);
    }
    if (rc == IM_OK && !active) {
        rc = im_auth_revoke_user(app->auth, id, NULL);
    }
    im_api_audit(req, active ? "user.activate" : "user.deactivate", "user",
                 rc == IM_OK ? user.username : im_req_param(req, "id"), rc == IM_OK, NULL);
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, rc == IM_ENOTFOUND ? "user not found" : "update failed");
        return;
    }
    im_resp_json(req, 200, im_auth_user_json(&user));
}

static void activate_user(im_request_t *req)
{
    set_active(req, true);
}

static void deactivate_user(im_request_t *req)
{
    set_active(req, false);
}

const im_route_t im_api_user_routes[] = {
    {"GET", "/api/v1/users", IM_ROLE_ADMIN, list_users, "Users with filters and paging"},
    {"POST", "/api/v1/users", IM_ROLE_ADMIN, create_user, "Create a user"},
    {"GET", "/api/v1/users/{id}", IM_ROLE_VIEWER, get_user,
     "One user (admins, or the user themselves)"},
    {"PUT", "/api/v1/users/{id}", IM_ROLE_VIEWER, update_user,
     "Update a user; only admins change roles"},
    {"DELETE", "/api/v1/users/{id}", IM_ROLE_ADMIN, delete_user,
     "Delete a user and end their logins"},
    {"POST", "/api/v1/users/{id}/activate", IM_ROLE_ADMIN, activate_user, "Reactivate a user"},
    {"POST", "/api/v1/users/{id}/deactivate", IM_ROLE_ADMIN, deactivate_user,
     "Deactivate a user and end their logins"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
