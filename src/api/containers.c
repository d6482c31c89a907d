/* /api/v1/containers: listing, detail, inspect, diff, lifecycle actions, rename, resource
 * updates, bulk actions and prune. Every state-changing request is audited with its outcome. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "collect/collector.h"
#include "collect/events.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

#define SEARCH_MAX  128
#define BULK_MAX    100
#define ERROR_SIZE  1024
#define TARGET_TYPE "container"
/* How long a list request waits for engine events already received to reach the snapshot,
 * and an action for its container to be re-read. Both usually take a few milliseconds. */
#define EVENTS_WAIT_MS   2000
#define REFRESH_WAIT_MS  5000
#define CREATE_SETTLE_MS 2000

static struct im_engine *engine_of(im_request_t *req)
{
    return im_req_app(req)->engine;
}

static json_t *now_iso8601(void)
{
    char text[32];

    im_time_iso8601(im_now(), text);
    return json_string(text);
}

/* Checks the {id} path segment before any engine call; false after sending a 422. */
static bool check_ref_param(im_request_t *req)
{
    const char *ref = im_req_param(req, "id");
    const char *bare = (ref && ref[0] == '/') ? ref + 1 : ref;

    if (im_container_ref_is_valid(bare)) {
        return true;
    }
    im_resp_invalid(req, "path", "id",
                    "must be a container name, full id or id prefix of at least %d hex digits "
                    "(1 to %d characters of A-Z a-z 0-9 _ . -, not starting with . or -)",
                    IM_CONTAINER_PREFIX_MIN, IM_CONTAINER_REF_MAX);
    return false;
}

/* Resolves the {id} path segment. On failure it sends the error, audits it when
 * audit_action is set, and returns false. */
static bool resolve_param(im_request_t *req, const char *audit_action,
                          char id[IM_CONTAINER_ID_SIZE], char name[IM_CONTAINER_NAME_SIZE])
{
    char err[ERROR_SIZE] = "";
    const char *ref = im_req_param(req, "id");

    if (!check_ref_param(req)) {
        if (audit_action) {
            im_api_audit(req, audit_action, TARGET_TYPE, ref, false, "invalid container id");
        }
        return false;
    }
    int rc = im_container_resolve(engine_of(req), ref, id, name, err, sizeof(err));
    if (rc == IM_OK) {
        return true;
    }
    if (audit_action) {
        im_api_audit(req, audit_action, TARGET_TYPE, ref, false, err);
    }
    im_resp_from_rc(req, rc, err);
    return false;
}

/* Fetches the inspect document of the {id} container; false after sending the error. */
static bool inspect_param(im_request_t *req, json_t **inspect)
{
    char err[ERROR_SIZE] = "";

    if (!check_ref_param(req)) {
        return false;
    }
    int rc =
        im_container_inspect(engine_of(req), im_req_param(req, "id"), inspect, err, sizeof(err));
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return false;
    }
    return true;
}

static json_t *action_response(const char *message, const char *id, json_t *details)
{
    return json_pack("{s:b, s:s, s:s, s:o}", "success", 1, "message", message, "container_id", id,
                     "details", details);
}

/* ---- reads ------------------------------------------------------------------------------- */

/* Reads a free-text query filter of at most max bytes; false after sending a 422. */
static bool query_text(im_request_t *req, const char *name, size_t max, const char **out)
{
    const char *value = im_req_query(req, name);

    *out = NULL;
    if (!value || !value[0]) {
        return true;
    }
    if (strlen(value) > max) {
        im_resp_invalid(req, "query", name, "must be at most %zu characters", max);
        return false;
    }
    *out = value;
    return true;
}

static bool read_list_filter(im_request_t *req, im_container_filter_t *filter, bool *all)
{
    const char *group = im_req_query(req, "group_id");

    memset(filter, 0, sizeof(*filter));
    if (!im_req_query_bool(req, "all_containers", false, all) ||
        !query_text(req, "search", SEARCH_MAX, &filter->search) ||
        !query_text(req, "compose_project", SEARCH_MAX, &filter->compose_project) ||
        !query_text(req, "status", 16, &filter->status)) {
        return false;
    }
    if (filter->status && !im_container_status_filter_is_valid(filter->status)) {
        im_resp_invalid(req, "query", "status",
                        "must be running, exited, paused, restarting, created, removing, dead or "
                        "stopped");
        return false;
    }
    if (group && group[0]) {
        if (!im_parse_int64(group, 1, INT64_MAX, &filter->group_id)) {
            im_resp_invalid(req, "query", "group_id", "must be a positive integer group id");
            return false;
        }
        filter->has_group_id = true;
    }
    return true;
}

static void send_list(im_request_t *req, const im_container_filter_t *filter, json_t *items);
static void fill_stats_from_snapshot(im_request_t *req, json_t *items);

static bool filter_is_empty(const im_container_filter_t *filter)
{
    return !filter->status && !filter->search && !filter->compose_project && !filter->has_group_id;
}

/* Builds the list's entity tag from the snapshot's and the membership generation, so that
 * a membership change gives a new tag while the snapshot stays the same. */
static void list_etag(const char *snapshot_etag, uint64_t generation, char out[64])
{
    size_t inner = strlen(snapshot_etag);
    inner = inner >= 2 ? inner - 2 : 0; /* without the quotes */
    snprintf(out, 64, "\"%.*s-g%" PRIx64 "\"", (int)inner, snapshot_etag + 1, generation);
}

/* Sends body with its entity tag, or 304 when the client has it already. */
static void send_tagged(im_request_t *req, const char *etag, const char *data, size_t len)
{
    im_resp_header(req, "ETag", etag);
    if (im_req_etag_matches(req, etag)) {
        im_resp_empty(req, 304);
    } else {
        im_resp_bytes(req, 200, "application/json", data, len);
    }
}

/* Serves the list from the collector's snapshot: the pre-serialized body when there are no
 * filters and no container belongs to a group, else the snapshot's items with group_ids
 * joined in and filtered here. Returns false, having sent nothing, when the snapshot cannot
 * be trusted (the events feed is down or the list was never read). */
static bool list_from_snapshot(im_request_t *req, const im_container_filter_t *filter, bool all,
                               json_t *members, uint64_t generation)
{
    im_app_t *app = im_req_app(req);

    if (!app->collector || !app->events || !im_events_connected(app->events, NULL, 0)) {
        return false;
    }
    /* `docker run` sends "create", then "start" once the container runs, and the engine may
     * reply to the client before the events stream delivers "start". Until that "start"
     * arrives (at most CREATE_SETTLE_MS) the snapshot may show the container as created, so
     * ask the engine. Containers that have started do not count. */
    if (im_collector_settling(app->collector, CREATE_SETTLE_MS)) {
        return false;
    }
    im_collector_wait_events(app->collector, EVENTS_WAIT_MS);
    const im_collector_snapshot_t *snapshot = im_collector_acquire(app->collector);
    if (!snapshot || !snapshot->containers_ready) {
        im_collector_release(snapshot);
        return false;
    }
    char etag[64];
    list_etag(snapshot->etag, generation, etag);
    /* The snapshot's items carry group_ids [], which is right while no group has members. */
    if (filter_is_empty(filter) && json_object_size(members) == 0) {
        const im_collector_body_t *body = im_collector_snapshot_list_body(snapshot, all);
        send_tagged(req, etag, body->data, body->len);
        im_collector_release(snapshot);
        return true;
    }
    json_t *items = json_array();
    json_t *item = NULL;
    size_t index = 0;
    json_array_foreach(im_collector_snapshot_items(snapshot), index, item)
    {
        const char *status = json_string_value(json_object_get(item, "status"));
        bool listed_by_default =
            status && (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0 ||
                       strcmp(status, "restarting") == 0);
        if (all || filter->status || listed_by_default) {
            /* Snapshot items are shared and immutable: group_ids goes into a copy. */
            json_array_append_new(items, json_copy(item));
        }
    }
    im_collector_release(snapshot);
    im_api_group_ids_fill(items, members);
    if (filter_is_empty(filter)) {
        im_resp_header(req, "ETag", etag);
        if (im_req_etag_matches(req, etag)) {
            json_decref(items);
            im_resp_empty(req, 304);
            return true;
        }
    }
    send_list(req, filter, items);
    return true;
}

static void list_containers(im_request_t *req)
{
    im_container_filter_t filter;
    bool all = false;
    json_t *items = NULL;
    char err[ERROR_SIZE] = "";
    uint64_t generation = 0;

    if (!read_list_filter(req, &filter, &all)) {
        return;
    }
    json_t *members = im_api_group_members(req, &generation);
    if (!members) {
        im_resp_from_rc(req, IM_EUNAVAILABLE, "cannot read group membership: database error");
        return;
    }
    if (list_from_snapshot(req, &filter, all, members, generation)) {
        json_decref(members);
        return;
    }
    /* Without a live events feed the snapshot may be stale: ask the engine. A status filter
     * looks at every container, since "exited" would never match running ones. */
    int rc = im_container_list(engine_of(req), all || filter.status, &items, err, sizeof(err));
    if (rc) {
        json_decref(members);
        im_resp_from_rc(req, rc, err);
        return;
    }
    fill_stats_from_snapshot(req, items);
    im_api_group_ids_fill(items, members);
    json_decref(members);
    send_list(req, &filter, items);
}

/* Fills cpu_usage, memory_usage and memory_limit of items listed by the engine from the
 * collector's latest snapshot. */
static void fill_stats_from_snapshot(im_request_t *req, json_t *items)
{
    static const char *const fields[] = {"cpu_usage", "memory_usage", "memory_limit"};
    im_app_t *app = im_req_app(req);
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    json_t *by_id = json_object();
    json_t *item = NULL;
    size_t index = 0;

    json_t *sampled_items = snapshot ? im_collector_snapshot_items(snapshot) : NULL;
    if (sampled_items) {
        json_array_foreach(sampled_items, index, item)
        {
            const char *id = json_string_value(json_object_get(item, "container_id"));
            if (id) {
                json_object_set(by_id, id, item);
            }
        }
    }
    json_array_foreach(items, index, item)
    {
        const char *id = json_string_value(json_object_get(item, "container_id"));
        json_t *sampled = id ? json_object_get(by_id, id) : NULL;
        for (size_t i = 0; sampled && i < IM_ARRAY_LEN(fields); i++) {
            json_t *value = json_object_get(sampled, fields[i]);
            json_object_set(item, fields[i], value ? value : json_null());
        }
    }
    json_decref(by_id);
    im_collector_release(snapshot);
}

bool im_api_status_is_stopped(const char *status)
{
    return status && (strcmp(status, "exited") == 0 || strcmp(status, "created") == 0 ||
                      strcmp(status, "dead") == 0);
}

/* Sends the filtered list; items is stolen. */
static void send_list(im_request_t *req, const im_container_filter_t *filter, json_t *items)
{
    json_t *item = NULL;
    size_t index = 0;
    json_t *selected = json_array();
    json_int_t running = 0;
    json_int_t stopped = 0;
    json_array_foreach(items, index, item)
    {
        if (!im_container_matches(item, filter)) {
            continue;
        }
        const char *status = json_string_value(json_object_get(item, "status"));
        if (status && strcmp(status, "running") == 0) {
            running++;
        } else if (im_api_status_is_stopped(status)) {
            stopped++;
        }
        json_array_append(selected, item);
    }
    json_decref(items);

    size_t total = json_array_size(selected);
    char message[64];
    snprintf(message, sizeof(message), "Found %zu container%s", total, total == 1 ? "" : "s");
    json_t *data = json_pack("{s:o, s:I, s:I, s:I}", "containers", selected, "total",
                             (json_int_t)total, "running", running, "stopped", stopped);
    im_resp_json(req, 200,
                 json_pack("{s:b, s:s, s:o, s:o}", "success", 1, "message", message, "timestamp",
                           now_iso8601(), "data", data));
}

static void get_container(im_request_t *req)
{
    json_t *inspect = NULL;

    if (!inspect_param(req, &inspect)) {
        return;
    }
    json_t *detail = im_container_map_detail(inspect, !im_req_has_role(req, IM_ROLE_ADMIN));
    json_decref(inspect);
    if (!detail) {
        im_resp_from_rc(req, IM_EUPSTREAM, "the engine's inspect reply has no Id");
        return;
    }
    uint64_t generation = 0;
    json_t *members = im_api_group_members(req, &generation);
    json_t *wrapped = json_pack("[O]", detail);
    im_api_group_ids_fill(wrapped, members);
    json_decref(wrapped);
    json_decref(members);
    im_resp_json(req, 200, detail);
}

static void inspect_container(im_request_t *req)
{
    json_t *inspect = NULL;

    if (!inspect_param(req, &inspect)) {
        return;
    }
    if (!im_req_has_role(req, IM_ROLE_ADMIN)) {
        json_t *masked = im_container_mask_inspect(inspect);
        json_decref(inspect);
        inspect = masked;
    }
    im_resp_json(req, 200, inspect);
}

static void diff_container(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";
    json_t *diff = NULL;

    if (!resolve_param(req, NULL, id, name)) {
        return;
    }
    int rc = im_container_diff(engine_of(req), id, &diff, err, sizeof(err));
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    im_resp_json(req, 200, diff);
}

/* ---- lifecycle actions ------------------------------------------------------------------- */

static void audit_action_name(im_container_action_t action, char out[32])
{
    snprintf(out, 32, "container.%s", im_container_action_name(action));
}

/* Reads the query options an action takes; false after sending a 422. opts->signal points
 * into signal, which receives the normalized name ("SIGTERM"). */
static bool read_action_options(im_request_t *req, im_container_action_t action,
                                im_container_action_options_t *opts, char signal[16])
{
    int64_t timeout = -1;
    bool force = false;
    bool volumes = false;

    memset(opts, 0, sizeof(*opts));
    opts->timeout = -1;
    if (action == IM_CONTAINER_STOP || action == IM_CONTAINER_RESTART) {
        if (!im_req_query_int(req, "timeout", 0, IM_CONTAINER_STOP_TIMEOUT_MAX, -1, &timeout)) {
            return false;
        }
        opts->timeout = (int)timeout;
    }
    if (action == IM_CONTAINER_KILL) {
        const char *requested = im_req_query(req, "signal");
        if (requested && !im_container_signal_normalize(requested, signal)) {
            im_resp_invalid(req, "query", "signal",
                            "must be a signal name such as SIGTERM or TERM, or a number from 1 "
                            "to 64");
            return false;
        }
        opts->signal = requested ? signal : NULL;
    }
    if (action == IM_CONTAINER_REMOVE) {
        if (!im_req_query_bool(req, "force", false, &force) ||
            !im_req_query_bool(req, "volumes", false, &volumes)) {
            return false;
        }
        opts->force = force;
        opts->volumes = volumes;
    }
    return true;
}

static json_t *action_details(const char *name, im_container_action_t action,
                              const im_container_action_options_t *opts)
{
    json_t *details =
        json_pack("{s:s, s:s}", "name", name, "action", im_container_action_name(action));

    if ((action == IM_CONTAINER_STOP || action == IM_CONTAINER_RESTART) && opts->timeout >= 0) {
        json_object_set_new(details, "timeout", json_integer(opts->timeout));
    }
    if (action == IM_CONTAINER_KILL) {
        json_object_set_new(details, "signal",
                            json_string(opts->signal ? opts->signal : "SIGKILL"));
    }
    if (action == IM_CONTAINER_REMOVE) {
        json_object_set_new(details, "force", json_boolean(opts->force));
        json_object_set_new(details, "volumes", json_boolean(opts->volumes));
    }
    return details;
}

static void run_action(im_request_t *req, im_container_action_t action)
{
    im_container_action_options_t opts;
    char signal[16] = "";
    char audit_name[32];
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";

    audit_action_name(action, audit_name);
    if (!read_action_options(req, action, &opts, signal)) {
        im_api_audit(req, audit_name, TARGET_TYPE, im_req_param(req, "id"), false,
                     "invalid query parameter");
        return;
    }
    if (!resolve_param(req, audit_name, id, name)) {
        return;
    }

    int rc = im_container_action(engine_of(req), id, name, action, &opts, err, sizeof(err));
    im_api_audit(req, audit_name, TARGET_TYPE, id, rc == IM_OK, rc ? err : NULL);
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    /* The list is served from the collector's snapshot: make it show the new state now. */
    if (im_req_app(req)->collector) {
        im_collector_refresh_container(im_req_app(req)->collector, id, REFRESH_WAIT_MS);
    }
    char message[IM_CONTAINER_NAME_SIZE + 64];
    snprintf(message, sizeof(message), "Container %s %s", name, im_container_action_past(action));
    im_resp_json(req, 200, action_response(message, id, action_details(name, action, &opts)));
}

static void start_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_START);
}

static void stop_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_STOP);
}

static void restart_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_RESTART);
}

static void pause_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_PAUSE);
}

static void unpause_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_UNPAUSE);
}

static void kill_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_KILL);
}

static void remove_container(im_request_t *req)
{
    run_action(req, IM_CONTAINER_REMOVE);
}

/* ---- rename and update ------------------------------------------------------------------- */

static void rename_container(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";
    json_t *body = im_req_json_object(req);

    if (!body) {
        im_api_audit(req, "container.rename", TARGET_TYPE, im_req_param(req, "id"), false,
                     "invalid request body");
        return;
    }
    const char *new_name = json_string_value(json_object_get(body, "new_name"));
    if (!im_container_name_is_valid(new_name)) {
        im_resp_invalid(req, "body", "new_name",
                        "must be 1 to %d characters matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                        IM_CONTAINER_REF_MAX);
        im_api_audit(req, "container.rename", TARGET_TYPE, im_req_param(req, "id"), false,
                     "invalid new_name");
        return;
    }
    if (!resolve_param(req, "container.rename", id, name)) {
        return;
    }

    int rc = im_container_rename(engine_of(req), id, name, new_name, err, sizeof(err));
    im_api_audit(req, "container.rename", TARGET_TYPE, id, rc == IM_OK, rc ? err : NULL);
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    char message[2 * IM_CONTAINER_NAME_SIZE + 64];
    snprintf(message, sizeof(message), "Container %s renamed to %s", name, new_name);
    im_resp_json(req, 200,
                 action_response(message, id,
                                 json_pack("{s:s, s:s}", "old_name", name, "new_name", new_name)));
}

static json_t *update_details(const im_container_update_t *update)
{
    json_t *details = json_object();

    if (update->has_memory_limit) {
        json_object_set_new(details, "memory_limit", json_integer(update->memory_limit));
    }
    if (update->has_cpu_shares) {
        json_object_set_new(details, "cpu_shares", json_integer(update->cpu_shares));
    }
    if (update->has_cpu_quota) {
        json_object_set_new(details, "cpu_quota", json_integer(update->cpu_quota));
    }
    if (update->has_restart_policy) {
        json_object_set_new(details, "restart_policy", json_string(update->restart_policy));
        json_object_set_new(details, "restart_max_retries",
                            json_integer(update->restart_max_retries));
    }
    return details;
}

static void update_container(im_request_t *req)
{
    im_container_update_t update;
    char field[32] = "";
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";
    json_t *body = im_req_json_object(req);

    if (!body) {
        im_api_audit(req, "container.update", TARGET_TYPE, im_req_param(req, "id"), false,
                     "invalid request body");
        return;
    }
    if (im_container_update_parse(body, &update, field, err, sizeof(err)) != IM_OK) {
        im_resp_invalid(req, "body", field, "%s", err);
        im_api_audit(req, "container.update", TARGET_TYPE, im_req_param(req, "id"), false, err);
        return;
    }
    if (!resolve_param(req, "container.update", id, name)) {
        return;
    }

    int rc = im_container_update(engine_of(req), id, name, &update, err, sizeof(err));
    im_api_audit(req, "container.update", TARGET_TYPE, id, rc == IM_OK, rc ? err : NULL);
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    char message[IM_CONTAINER_NAME_SIZE + 64];
    snprintf(message, sizeof(message), "Container %s updated", name);
    im_resp_json(req, 200, action_response(message, id, update_details(&update)));
}

/* ---- bulk actions ------------------------------------------------------------------------ */

typedef struct {
    json_t *ids;
    im_container_action_t action;
    im_container_action_options_t opts;
    char signal[16]; /* the normalized signal that opts.signal points to */
} bulk_request_t;

static bool read_bulk_ids(im_request_t *req, json_t *body, bulk_request_t *bulk)
{
    json_t *entry = NULL;
    size_t index = 0;

    bulk->ids = json_object_get(body, "container_ids");
    if (!json_is_array(bulk->ids) || json_array_size(bulk->ids) == 0 ||
        json_array_size(bulk->ids) > BULK_MAX) {
        im_resp_invalid(req, "body", "container_ids", "must be a list of 1 to %d container ids",
                        BULK_MAX);
        return false;
    }
    json_array_foreach(bulk->ids, index, entry)
    {
        const char *ref = json_string_value(entry);
        const char *bare = (ref && ref[0] == '/') ? ref + 1 : ref;
        if (!im_container_ref_is_valid(bare)) {
            char field[48];
            snprintf(field, sizeof(field), "container_ids[%zu]", index);
            im_resp_invalid(req, "body", field,
                            "must be a container name, full id or id prefix of at least %d hex "
                            "digits",
                            IM_CONTAINER_PREFIX_MIN);
            return false;
        }
    }
    return true;
}

static bool read_bulk_options(im_request_t *req, json_t *body, bulk_request_t *bulk)
{
    json_t *timeout = json_object_get(body, "timeout");
    json_t *force = json_object_get(body, "force");
    json_t *volumes = json_object_get(body, "volumes");
    json_t *signal = json_object_get(body, "signal");

    bulk->opts.timeout = -1;
    if (timeout && !json_is_null(timeout)) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
            json_integer_value(timeout) > IM_CONTAINER_STOP_TIMEOUT_MAX) {
            im_resp_invalid(req, "body", "timeout", "must be an integer from 0 to %d seconds",
                            IM_CONTAINER_STOP_TIMEOUT_MAX);
            return false;
        }
        bulk->opts.timeout = (int)json_integer_value(timeout);
    }
    if (force && !json_is_null(force) && !json_is_boolean(force)) {
        im_resp_invalid(req, "body", "force", "must be true or false");
        return false;
    }
    if (volumes && !json_is_null(volumes) && !json_is_boolean(volumes)) {
        im_resp_invalid(req, "body", "volumes", "must be true or false");
        return false;
    }
    bulk->opts.force = json_is_true(force);
    bulk->opts.volumes = json_is_true(volumes);
    if (signal && !json_is_null(signal)) {
        const char *requested = json_string_value(signal);
        if (!requested || !im_container_signal_normalize(requested, bulk->signal)) {
            im_resp_invalid(req, "body", "signal",
                            "must be a signal name such as SIGTERM or TERM, or a number from 1 "
                            "to 64");
            return false;
        }
        bulk->opts.signal = bulk->signal;
    }
    return true;
}

static bool read_bulk_request(im_request_t *req, bulk_request_t *bulk)
{
    json_t *body = im_req_json_object(req);

    memset(bulk, 0, sizeof(*bulk));
    if (!body) {
        return false;
    }
    const char *action = json_string_value(json_object_get(body, "action"));
    if (!im_container_action_parse(action, &bulk->action)) {
        im_resp_invalid(req, "body", "action",
                        "must be start, stop, restart, pause, unpause, kill or remove");
        return false;
    }
    return read_bulk_ids(req, body, bulk) && read_bulk_options(req, body, bulk);
}

/* Runs the action on one container and returns its result entry. */
static json_t *run_bulk_item(im_request_t *req, const bulk_request_t *bulk, const char *ref,
                             const char *audit_name, bool *ok)
{
    char id[IM_CONTAINER_ID_SIZE] = "";
    char name[IM_CONTAINER_NAME_SIZE] = "";
    char err[ERROR_SIZE] = "";
    char message[IM_CONTAINER_NAME_SIZE + 64];
    struct im_engine *e = engine_of(req);

    int rc = im_container_resolve(e, ref, id, name, err, sizeof(err));
    if (rc == IM_OK) {
        rc = im_container_action(e, id, name, bulk->action, &bulk->opts, err, sizeof(err));
    }
    im_api_audit(req, audit_name, TARGET_TYPE, id[0] ? id : ref, rc == IM_OK, rc ? err : NULL);

    *ok = rc == IM_OK;
    if (rc == IM_OK && im_req_app(req)->collector) {
        im_collector_refresh_container(im_req_app(req)->collector, id, REFRESH_WAIT_MS);
    }
    if (rc == IM_OK) {
        snprintf(message, sizeof(message), "Container %s %s", name,
                 im_container_action_past(bulk->action));
    }
    return json_pack("{s:s, s:s?, s:o, s:b, s:s}", "container_id", id[0] ? id : ref, "name",
                     name[0] ? name : NULL, "requested", json_string(ref), "success", rc == IM_OK,
                     "message", rc == IM_OK ? message : err);
}

// Per-container failures are part of the result, so the request returns 200 once the body is
// valid. "success" is true only when every container succeeded.
static void bulk_action(im_request_t *req)
{
    bulk_request_t bulk;
    char audit_name[32];
    json_t *entry = NULL;
    size_t index = 0;
    json_int_t succeeded = 0;

    if (!read_bulk_request(req, &bulk)) {
        im_api_audit(req, "container.bulk_action", TARGET_TYPE, NULL, false, "invalid request");
        return;
    }
    audit_action_name(bulk.action, audit_name);

    json_t *results = json_array();
    json_array_foreach(bulk.ids, index, entry)
    {
        bool ok = false;
        json_array_append_new(results,
                              run_bulk_item(req, &bulk, json_string_value(entry), audit_name, &ok));
        succeeded += ok;
    }

    json_int_t total = (json_int_t)json_array_size(bulk.ids);
    char message[96];
    snprintf(message, sizeof(message), "%lld of %lld container%s %s", (long long)succeeded,
             (long long)total, total == 1 ? "" : "s", im_container_action_past(bulk.action));
    im_resp_json(req, 200,
                 json_pack("{s:b, s:s, s:I, s:I, s:I, s:o}", "success", succeeded == total,
                           "message", message, "total", total, "succeeded", succeeded, "failed",
                           total - succeeded, "results", results));
}

/* ---- prune ------------------------------------------------------------------------------- */

static void prune_containers(im_request_t *req)
{
    im_prune_options_t opts = {
        .label = im_req_query(req, "filter_label"),
        .until = im_req_query(req, "filter_until"),
    };
    char err[ERROR_SIZE] = "";
    json_t *result = NULL;

    if (opts.label && opts.label[0] && !im_prune_label_is_valid(opts.label)) {
        im_resp_invalid(req, "query", "filter_label",
                        "must be key or key=value, 1 to 256 printable characters");
        im_api_audit(req, "container.prune", TARGET_TYPE, NULL, false, "invalid filter_label");
        return;
    }
    if (opts.until && opts.until[0] && !im_prune_until_is_valid(opts.until)) {
        im_resp_invalid(req, "query", "filter_until",
                        "must be Unix seconds, an RFC 3339 time or a duration such as 24h");
        im_api_audit(req, "container.prune", TARGET_TYPE, NULL, false, "invalid filter_until");
        return;
    }

    int rc = im_prune(engine_of(req), IM_PRUNE_CONTAINERS, &opts, &result, err, sizeof(err));
    im_api_audit(req, "container.prune", TARGET_TYPE, NULL, rc == IM_OK, rc ? err : NULL);
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    json_object_set_new(result, "success", json_true());
    im_resp_json(req, 200, result);
}

const im_route_t im_api_container_routes[] = {
    {"GET", "/api/v1/containers", IM_ROLE_VIEWER, list_containers,
     "Containers with live CPU and memory; filters status, search, group_id, compose_project"},
    {"DELETE", "/api/v1/containers", IM_ROLE_ADMIN, prune_containers,
     "Remove stopped containers (prune)"},
    {"POST", "/api/v1/containers/bulk-action", IM_ROLE_OPERATOR, bulk_action,
     "Run one action on several containers"},
    {"GET", "/api/v1/containers/{id}", IM_ROLE_VIEWER, get_container, "Container detail"},
    {"DELETE", "/api/v1/containers/{id}", IM_ROLE_OPERATOR, remove_container, "Remove a container"},
    {"PATCH", "/api/v1/containers/{id}", IM_ROLE_OPERATOR, update_container,
     "Change memory limit, CPU shares or quota, restart policy"},
    {"GET", "/api/v1/containers/{id}/inspect", IM_ROLE_VIEWER, inspect_container,
     "The engine's inspect JSON, secret-looking variables masked for non-admins"},
    {"GET", "/api/v1/containers/{id}/diff", IM_ROLE_VIEWER, diff_container,
     "Files changed in the container's filesystem"},
    {"POST", "/api/v1/containers/{id}/start", IM_ROLE_OPERATOR, start_container,
     "Start a container"},
    {"POST", "/api/v1/containers/{id}/stop", IM_ROLE_OPERATOR, stop_container,
     "Stop a container (timeout)"},
    {"POST", "/api/v1/containers/{id}/restart", IM_ROLE_OPERATOR, restart_container,
     "Restart a container (timeout)"},
    {"POST", "/api/v1/containers/{id}/pause", IM_ROLE_OPERATOR, pause_container,
     "Pause a container"},
    {"POST", "/api/v1/containers/{id}/unpause", IM_ROLE_OPERATOR, unpause_container,
     "Resume a paused container"},
    {"POST", "/api/v1/containers/{id}/kill", IM_ROLE_OPERATOR, kill_container,
     "Send a signal to a container (signal)"},
    {"PUT", "/api/v1/containers/{id}/rename", IM_ROLE_OPERATOR, rename_container,
     "Rename a container"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
