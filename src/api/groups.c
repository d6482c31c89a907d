/* /api/v1/groups and /api/v1/stats/groups/{id}: named groups of containers. Membership is
 * stored by container name, so a container that is removed and created again under the same
 * name stays in its groups. Reads need the viewer role, writes the admin role, and every
 * write is audited with its outcome. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "collect/collector.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "store/store.h"

#define LOG_MODULE  "groups"
#define TARGET_TYPE "group"
#define ERROR_SIZE  1024
/* Maximum number of container references in one PUT /groups/{id}/containers. Each one is
 * resolved through the engine, so the cap bounds the request's engine calls. */
#define MEMBERS_MAX 500

/* Returns the audit and log text of a failed store call. */
static const char *store_failure(int rc)
{
    switch (rc) {
    case IM_ENOTFOUND:
        return "group not found";
    case IM_ECONFLICT:
        return "group name taken";
    case IM_EINVAL:
        return "invalid value";
    default:
        return "database error";
    }
}

/* ---- membership index -------------------------------------------------------------------- */

struct im_group_index {
    pthread_mutex_t lock;
    bool loaded;
    uint64_t generation;
    json_t *members; /* container name -> array of group ids; NULL until loaded */
};

im_group_index_t *im_api_group_index_new(void)
{
    im_group_index_t *index = im_calloc(1, sizeof(*index));
    pthread_mutex_init(&index->lock, NULL);
    /* Starting from the clock keeps ETags of one run apart from those of an earlier run. */
    index->generation = (uint64_t)im_now_ms();
    return index;
}

void im_api_group_index_free(im_group_index_t *index)
{
    if (!index) {
        return;
    }
    json_decref(index->members);
    pthread_mutex_destroy(&index->lock);
    free(index);
}

/* Drops the cached membership after a write; the next reader reloads it. Called after the
 * store write returned, so a reload that raced with the write is thrown away here. */
static void index_invalidate(im_group_index_t *index)
{
    pthread_mutex_lock(&index->lock);
    index->loaded = false;
    index->generation++;
    json_decref(index->members);
    index->members = NULL;
    pthread_mutex_unlock(&index->lock);
}

static int load_members(im_store_t *store, json_t **out)
{
    im_store_group_list_t groups = {0};
    int rc = im_store_group_list(store, &groups);
    if (rc) {
        return rc;
    }
    json_t *members = json_object();
    for (size_t i = 0; rc == IM_OK && i < groups.count; i++) {
        im_store_strings_t names = {0};
        rc = im_store_group_member_list(store, groups.groups[i].id, &names);
        for (size_t j = 0; rc == IM_OK && j < names.count; j++) {
            json_t *ids = json_object_get(members, names.items[j]);
            if (!ids) {
                ids = json_array();
                json_object_set_new(members, names.items[j], ids);
            }
            json_array_append_new(ids, json_integer(groups.groups[i].id));
        }
        im_store_strings_release(&names);
    }
    im_store_group_list_release(&groups);
    if (rc) {
        json_decref(members);
        return rc;
    }
    *out = members;
    return IM_OK;
}

json_t *im_api_group_members(im_request_t *req, uint64_t *generation)
{
    im_app_t *app = im_req_app(req);
    im_group_index_t *index = app->group_index;
    json_t *members = NULL;

    if (!index) {
        return NULL;
    }
    pthread_mutex_lock(&index->lock);
    if (!index->loaded) {
        int rc = load_members(app->store, &index->members);
        if (rc) {
            im_log_error(LOG_MODULE, "loading group membership failed: %s", store_failure(rc));
        }
        index->loaded = rc == IM_OK;
    }
    if (index->loaded) {
        members = json_incref(index->members);
        *generation = index->generation;
    }
    pthread_mutex_unlock(&index->lock);
    return members;
}

void im_api_group_ids_fill(json_t *items, json_t *members)
{
    json_t *item = NULL;
    size_t i = 0;

    json_array_foreach(items, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        json_t *ids = name && members ? json_object_get(members, name) : NULL;
        json_object_set_new(item, "group_ids", ids ? json_copy(ids) : json_array());
    }
}

/* ---- request helpers --------------------------------------------------------------------- */

static im_store_t *store_of(im_request_t *req)
{
    return im_req_app(req)->store;
}

/* Parses the {id} path segment; sends 422 and returns false when it is not a group id. */
static bool path_group_id(im_request_t *req, int64_t *id)
{
    if (!im_parse_int64(im_req_param(req, "id"), 1, INT64_MAX, id)) {
        im_resp_invalid(req, "path", "id", "must be a positive integer group id");
        return false;
    }
    return true;
}

/* Reads group id and its member names; sends 404 or 503 and returns false on failure, with
 * the reason in *failure for the audit log. */
static bool load_group(im_request_t *req, int64_t id, im_store_group_t *group,
                       im_store_strings_t *names, const char **failure)
{
    int rc = im_store_group_get(store_of(req), id, group);
    if (rc == IM_OK) {
        rc = im_store_group_member_list(store_of(req), id, names);
    }
    *failure = store_failure(rc);
    if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "group %" PRId64 " not found", id);
        return false;
    }
    if (rc) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot read the group: database error");
        return false;
    }
    return true;
}

static json_t *time_json(int64_t unix_seconds)
{
    char text[32];
    im_time_iso8601(unix_seconds, text);
    return json_string(text);
}

/* Returns the snapshot's container list items by name (a new object), or an empty object
 * when no container list was collected yet. */
static json_t *snapshot_items_by_name(im_request_t *req, bool *ready)
{
    im_app_t *app = im_req_app(req);
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    json_t *by_name = json_object();
    json_t *item = NULL;
    size_t i = 0;

    *ready = snapshot && snapshot->containers_ready;
    if (*ready) {
        json_array_foreach(im_collector_snapshot_items(snapshot), i, item)
        {
            const char *name = json_string_value(json_object_get(item, "name"));
            if (name) {
                json_object_set(by_name, name, item);
            }
        }
    }
    im_collector_release(snapshot);
    return by_name;
}

/* Builds the API form of a group. container_ids are the member names, which work wherever
 * the API takes a container reference. members adds each one's current id and state from
 * the collector's snapshot, null for a name that no container has right now. */
static json_t *group_json(const im_store_group_t *group, const im_store_strings_t *names,
                          json_t *items_by_name)
{
    json_t *ids = json_array();
    json_t *members = json_array();

    for (size_t i = 0; i < names->count; i++) {
        json_t *item = json_object_get(items_by_name, names->items[i]);
        json_t *container_id = json_object_get(item, "container_id");
        json_t *status = json_object_get(item, "status");
        json_array_append_new(ids, json_string(names->items[i]));
        json_array_append_new(members,
                              json_pack("{s:s, s:O, s:O}", "name", names->items[i], "container_id",
                                        container_id ? container_id : json_null(), "status",
                                        status ? status : json_null()));
    }
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)group->id,
                     "name", group->name, "description", group->description, "color",
                     group->color[0] ? json_string(group->color) : json_null(), "container_ids",
                     ids, "members", members, "created_at", time_json(group->created_at),
                     "updated_at", time_json(group->updated_at));
}

/* Sends one group as JSON with the given status. */
static void send_group(im_request_t *req, unsigned status, const im_store_group_t *group,
                       const im_store_strings_t *names)
{
    bool ready = false;
    json_t *by_name = snapshot_items_by_name(req, &ready);
    im_resp_json(req, status, group_json(group, names, by_name));
    json_decref(by_name);
}

/* ---- validation -------------------------------------------------------------------------- */

/* Returns true for "#RRGGBB" with hex digits in either case. */
static bool valid_color(const char *color)
{
    if (strlen(color) != 7 || color[0] != '#') {
        return false;
    }
    for (int i = 1; i < 7; i++) {
        if (!strchr("0123456789abcdefABCDEF", color[i])) {
            return false;
        }
    }
    return true;
}

/* Returns true when text has no ASCII control characters. */
static bool printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Reads an optional string field. Returns false after sending a 422 when it is present but
 * not a string (or null, when allow_null is false). *out stays NULL when absent. */
static bool read_string_field(im_request_t *req, json_t *body, const char *field, bool allow_null,
                              const char **out, bool *present)
{
    json_t *value = json_object_get(body, field);

    *out = NULL;
    *present = value != NULL;
    if (!value || (allow_null && json_is_null(value))) {
        return true;
    }
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
        im_resp_invalid(req, "body", field, "must be a string%s", allow_null ? " or null" : "");
        return false;
    }
    *out = json_string_value(value);
    return true;
}

/* Applies the name, description and color fields of body to group. required_name makes the
 * name mandatory (create). Returns false after sending a 422. */
static bool apply_fields(im_request_t *req, json_t *body, bool required_name,
                         im_store_group_t *group)
{
    const char *name = NULL;
    const char *description = NULL;
    const char *color = NULL;
    bool has_name = false;
    bool has_description = false;
    bool has_color = false;

    if (!read_string_field(req, body, "name", false, &name, &has_name) ||
        !read_string_field(req, body, "description", true, &description, &has_description) ||
        !read_string_field(req, body, "color", true, &color, &has_color)) {
        return false;
    }
    if (required_name && !has_name) {
        im_resp_invalid(req, "body", "name", "field required: 1 to %d bytes of text",
                        IM_STORE_GROUP_NAME_MAX);
        return false;
    }
    if (!required_name && !has_name && !has_description && !has_color) {
        im_resp_invalid(req, "body", "name", "give at least one of name, description, color");
        return false;
    }
    if (has_name) {
        size_t len = strlen(name);
        if (len == 0 || len > IM_STORE_GROUP_NAME_MAX || !printable(name) || name[0] == ' ' ||
            name[len - 1] == ' ') {
            im_resp_invalid(req, "body", "name",
                            "must be 1 to %d bytes of text without control characters or "
                            "leading and trailing spaces",
                            IM_STORE_GROUP_NAME_MAX);
            return false;
        }
        im_strlcpy(group->name, name, sizeof(group->name));
    }
    if (has_description) {
        if (description && strlen(description) > IM_STORE_GROUP_DESCRIPTION_MAX) {
            im_resp_invalid(req, "body", "description", "must be at most %d bytes",
                            IM_STORE_GROUP_DESCRIPTION_MAX);
            return false;
        }
        im_strlcpy(group->description, description ? description : "", sizeof(group->description));
    }
    if (has_color) {
        if (color && !valid_color(color)) {
            im_resp_invalid(req, "body", "color", "must be a #RRGGBB hex color such as #1f77b4");
            return false;
        }
        im_strlcpy(group->color, color ? color : "", sizeof(group->color));
    }
    return true;
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void list_groups(im_request_t *req)
{
    im_store_group_list_t groups = {0};
    int rc = im_store_group_list(store_of(req), &groups);
    if (rc) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot list groups: database error");
        return;
    }
    bool ready = false;
    json_t *by_name = snapshot_items_by_name(req, &ready);
    json_t *out = json_array();
    for (size_t i = 0; rc == IM_OK && i < groups.count; i++) {
        im_store_strings_t names = {0};
        rc = im_store_group_member_list(store_of(req), groups.groups[i].id, &names);
        if (rc == IM_OK) {
            json_array_append_new(out, group_json(&groups.groups[i], &names, by_name));
        }
        im_store_strings_release(&names);
    }
    json_decref(by_name);
    im_store_group_list_release(&groups);
    if (rc) {
        json_decref(out);
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot list groups: database error");
        return;
    }
    im_resp_json(req, 200, out);
}

static void get_group(im_request_t *req)
{
    const char *failure = NULL;
    int64_t id;
    im_store_group_t group;
    im_store_strings_t names = {0};

    if (!path_group_id(req, &id) || !load_group(req, id, &group, &names, &failure)) {
        return;
    }
    send_group(req, 200, &group, &names);
    im_store_strings_release(&names);
}

static void create_group(im_request_t *req)
{
    json_t *body = im_req_json_object(req);
    im_store_group_t group = {0};

    if (!body) {
        return;
    }
    if (!apply_fields(req, body, true, &group)) {
        im_api_audit(req, "group.create", TARGET_TYPE, NULL, false, "invalid group fields");
        return;
    }
    int rc = im_store_group_create(store_of(req), &group);
    char target[32];
    snprintf(target, sizeof(target), "%" PRId64, group.id);
    im_api_audit(req, "group.create", TARGET_TYPE, rc == IM_OK ? target : group.name, rc == IM_OK,
                 rc == IM_ECONFLICT ? "group name taken" : NULL);
    if (rc == IM_ECONFLICT) {
        im_resp_error(req, 409, "a group named \"%s\" already exists", group.name);
        return;
    }
    if (rc) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot create the group: database error");
        return;
    }
    im_store_strings_t names = {0};
    send_group(req, 201, &group, &names);
}

static void update_group(im_request_t *req)
{
    const char *failure = NULL;
    int64_t id;
    im_store_group_t group;
    im_store_strings_t names = {0};
    json_t *body = NULL;

    if (!path_group_id(req, &id) || !(body = im_req_json_object(req))) {
        return;
    }
    const char *target = im_req_param(req, "id");
    if (!load_group(req, id, &group, &names, &failure)) {
        im_api_audit(req, "group.update", TARGET_TYPE, target, false, failure);
        return;
    }
    if (!apply_fields(req, body, false, &group)) {
        im_api_audit(req, "group.update", TARGET_TYPE, target, false, "invalid group fields");
        im_store_strings_release(&names);
        return;
    }
    group.updated_at = 0;
    int rc = im_store_group_update(store_of(req), &group, NULL);
    im_api_audit(req, "group.update", TARGET_TYPE, target, rc == IM_OK,
                 rc == IM_OK ? NULL : store_failure(rc));
    if (rc == IM_ECONFLICT) {
        im_resp_error(req, 409, "a group named \"%s\" already exists", group.name);
    } else if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "group %" PRId64 " not found", id);
    } else if (rc) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot update the group: database error");
    } else {
        send_group(req, 200, &group, &names);
    }
    im_store_strings_release(&names);
}

static void delete_group(im_request_t *req)
{
    int64_t id;

    if (!path_group_id(req, &id)) {
        return;
    }
    int rc = im_store_group_delete(store_of(req), id);
    im_api_audit(req, "group.delete", TARGET_TYPE, im_req_param(req, "id"), rc == IM_OK,
                 rc == IM_OK ? NULL : store_failure(rc));
    if (rc == IM_OK) {
        index_invalidate(im_req_app(req)->group_index);
        im_resp_empty(req, 204);
    } else if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "group %" PRId64 " not found", id);
    } else {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot delete the group: database error");
    }
}

/* Appends name to names unless it is there already. */
static void add_unique(im_store_strings_t *names, const char *name)
{
    for (size_t i = 0; i < names->count; i++) {
        if (strcmp(names->items[i], name) == 0) {
            return;
        }
    }
    names->items = im_realloc(names->items, (names->count + 1) * sizeof(*names->items));
    names->items[names->count++] = im_strdup(name);
}

/* Resolves every reference of container_ids (ids, id prefixes or names) to a container name
 * through the engine. Sends 422 naming the unknown or ambiguous references, or the engine's
 * error, and returns false on failure. */
static bool resolve_members(im_request_t *req, json_t *refs, im_store_strings_t *names,
                            char *failure, size_t failure_size)
{
    json_t *unknown = json_array();
    json_t *ref = NULL;
    size_t i = 0;
    bool ok = true;

    json_array_foreach(refs, i, ref)
    {
        const char *text = json_string_value(ref);
        char id[IM_CONTAINER_ID_SIZE];
        char name[IM_CONTAINER_NAME_SIZE];
        char err[ERROR_SIZE] = "";
        const char *bare = text && text[0] == '/' ? text + 1 : text;
        if (!bare || !im_container_ref_is_valid(bare)) {
            json_array_append_new(unknown, json_string(text ? text : "(not a string)"));
            continue;
        }
        int rc = im_container_resolve(im_req_app(req)->engine, bare, id, name, err, sizeof(err));
        if (rc == IM_ENOTFOUND || rc == IM_ECONFLICT || rc == IM_EINVAL) {
            json_array_append_new(unknown, json_string(text));
            continue;
        }
        if (rc) {
            snprintf(failure, failure_size, "%s", err);
            im_resp_from_rc(req, rc, err);
            ok = false;
            break;
        }
        add_unique(names, name);
    }
    if (ok && json_array_size(unknown) > 0) {
        char *list = json_dumps(unknown, JSON_COMPACT);
        snprintf(failure, failure_size, "unknown containers: %s", list ? list : "?");
        im_resp_invalid(req, "body", "container_ids",
                        "no container matches %s; give container names, full ids or unique id "
                        "prefixes of at least %d hex digits",
                        list ? list : "some of the references", IM_CONTAINER_PREFIX_MIN);
        free(list);
        ok = false;
    }
    json_decref(unknown);
    return ok;
}

static void set_group_containers(im_request_t *req)
{
    const char *load_failure = NULL;
    int64_t id;
    im_store_group_t group;
    im_store_strings_t old_names = {0};
    im_store_strings_t names = {0};
    char failure[ERROR_SIZE] = "";
    json_t *body = NULL;

    if (!path_group_id(req, &id) || !(body = im_req_json_object(req))) {
        return;
    }
    const char *target = im_req_param(req, "id");
    json_t *refs = json_object_get(body, "container_ids");
    if (!json_is_array(refs) || json_array_size(refs) > MEMBERS_MAX) {
        im_resp_invalid(req, "body", "container_ids",
                        "field required: an array of at most %d container names or ids",
                        MEMBERS_MAX);
        im_api_audit(req, "group.containers.set", TARGET_TYPE, target, false,
                     "invalid container_ids");
        return;
    }
    if (!load_group(req, id, &group, &old_names, &load_failure)) {
        im_api_audit(req, "group.containers.set", TARGET_TYPE, target, false, load_failure);
        return;
    }
    im_store_strings_release(&old_names);
    if (!resolve_members(req, refs, &names, failure, sizeof(failure))) {
        im_api_audit(req, "group.containers.set", TARGET_TYPE, target, false, failure);
        im_store_strings_release(&names);
        return;
    }

    group.updated_at = 0;
    int rc = im_store_group_update(store_of(req), &group, &names);
    im_api_audit(req, "group.containers.set", TARGET_TYPE, target, rc == IM_OK,
                 rc == IM_OK ? NULL : store_failure(rc));
    if (rc == IM_OK) {
        index_invalidate(im_req_app(req)->group_index);
        im_store_strings_release(&names);
        rc = im_store_group_member_list(store_of(req), id, &names);
    }
    if (rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "group %" PRId64 " not found", id);
    } else if (rc) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot set the group's containers: database error");
    } else {
        send_group(req, 200, &group, &names);
    }
    im_store_strings_release(&names);
}

/* Adds a number field of item to *sum when it is not null. */
static void add_figure(json_t *item, const char *field, double *sum)
{
    json_t *value = json_object_get(item, field);
    if (json_is_number(value)) {
        *sum += json_number_value(value);
    }
}

static void group_stats(im_request_t *req)
{
    const char *failure = NULL;
    int64_t id;
    im_store_group_t group;
    im_store_strings_t names = {0};

    if (!path_group_id(req, &id) || !load_group(req, id, &group, &names, &failure)) {
        return;
    }
    bool ready = false;
    json_t *by_name = snapshot_items_by_name(req, &ready);
    if (!ready) {
        json_decref(by_name);
        im_store_strings_release(&names);
        im_resp_error(req, 503, "container statistics are not collected yet; retry in a second");
        return;
    }

    json_t *containers = json_array();
    json_t *missing = json_array();
    json_int_t running = 0;
    json_int_t stopped = 0;
    double cpu = 0;
    double memory = 0;
    for (size_t i = 0; i < names.count; i++) {
        json_t *item = json_object_get(by_name, names.items[i]);
        if (!item) {
            json_array_append_new(missing, json_string(names.items[i]));
            continue;
        }
        const char *status = json_string_value(json_object_get(item, "status"));
        if (status && strcmp(status, "running") == 0) {
            running++;
        } else if (im_api_status_is_stopped(status)) {
            stopped++;
        }
        add_figure(item, "cpu_usage", &cpu);
        add_figure(item, "memory_usage", &memory);
        json_array_append_new(containers,
                              json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "container_id",
                                        json_object_get(item, "container_id"), "name",
                                        json_object_get(item, "name"), "status",
                                        json_object_get(item, "status"), "cpu_usage",
                                        json_object_get(item, "cpu_usage"), "memory_usage",
                                        json_object_get(item, "memory_usage"), "memory_limit",
                                        json_object_get(item, "memory_limit")));
    }
    json_decref(by_name);
    im_store_strings_release(&names);

    json_t *out =
        json_pack("{s:I, s:s, s:I, s:I, s:I, s:f, s:I, s:o, s:o}", "group_id", (json_int_t)group.id,
                  "group_name", group.name, "total_containers",
                  (json_int_t)json_array_size(containers), "running_containers", running,
                  "stopped_containers", stopped, "total_cpu_usage", round(cpu * 100.0) / 100.0,
                  "total_memory_usage",
                  (json_int_t)memory, "containers", containers, "missing_containers", missing);
    im_resp_json(req, 200, out);
}

const im_route_t im_api_group_routes[] = {
    {"GET", "/api/v1/groups", IM_ROLE_VIEWER, list_groups, "List container groups"},
    {"POST", "/api/v1/groups", IM_ROLE_ADMIN, create_group, "Create a container group"},
    {"GET", "/api/v1/groups/{id}", IM_ROLE_VIEWER, get_group, "Read one container group"},
    {"PUT", "/api/v1/groups/{id}", IM_ROLE_ADMIN, update_group,
     "Change a group's name, description or color"},
    {"DELETE", "/api/v1/groups/{id}", IM_ROLE_ADMIN, delete_group, "Delete a container group"},
    {"PUT", "/api/v1/groups/{id}/containers", IM_ROLE_ADMIN, set_group_containers,
     "Set a group's member containers, kept by container name"},
    {"GET", "/api/v1/stats/groups/{id}", IM_ROLE_VIEWER, group_stats,
     "Totals and per-container figures of a group from the latest collection"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
