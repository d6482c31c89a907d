/* Host statistics: /stats/system and its info, disk and network views, served from the
 * collector's latest snapshot so that no request reads /proc or waits for a collection. */
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "collect/collector.h"
#include "engine/engine.h"

/* Acquires the latest snapshot, or sends a 503 and returns NULL. */
static const im_collector_snapshot_t *acquire_snapshot(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    if (!snapshot) {
        im_resp_error(req, 503, "host statistics are not available: the collector is not running");
    }
    return snapshot;
}

/* Sends one of the snapshot's pre-serialized bodies, or 304 when the client has it. */
static void send_body(im_request_t *req,
                      const im_collector_body_t *(*pick)(const im_collector_snapshot_t *snapshot))
{
    const im_collector_snapshot_t *snapshot = acquire_snapshot(req);
    if (!snapshot) {
        return;
    }
    const im_collector_body_t *body = pick(snapshot);
    im_resp_header(req, "ETag", snapshot->etag);
    if (!body->data) {
        im_resp_error(req, 500, "the host statistics body could not be serialized");
    } else if (im_req_etag_matches(req, snapshot->etag)) {
        im_resp_empty(req, 304);
    } else {
        im_resp_bytes(req, 200, "application/json", body->data, body->len);
    }
    im_collector_release(snapshot);
}

static const im_collector_body_t *pick_system(const im_collector_snapshot_t *snapshot)
{
    return &snapshot->system_body;
}

static const im_collector_body_t *pick_disk(const im_collector_snapshot_t *snapshot)
{
    return &snapshot->disk_body;
}

static const im_collector_body_t *pick_network(const im_collector_snapshot_t *snapshot)
{
    return &snapshot->network_body;
}

static void get_system(im_request_t *req)
{
    send_body(req, pick_system);
}

static void get_disk(im_request_t *req)
{
    send_body(req, pick_disk);
}

static void get_network(im_request_t *req)
{
    send_body(req, pick_network);
}

/* Returns {name, version, api_version} of the engine, or null when it cannot be reached.
 * The engine module caches its version after the first negotiation, so this usually makes
 * no engine call.
 * NOTE: until the engine has replied once, each call sends GET /version, which can hold this
 * request for up to the engine client's connect timeout (3 s) or request timeout (30 s). */
static json_t *engine_summary(im_app_t *app)
{
    json_t *version = NULL;
    json_t *summary = NULL;
    char err[256];

    if (!app->engine || im_engine_version_json(app->engine, &version, err, sizeof(err)) != IM_OK) {
        return json_null();
    }
    summary = json_object();
    static const char *const keys[] = {"name", "version", "api_version"};
    for (size_t i = 0; i < IM_ARRAY_LEN(keys); i++) {
        json_t *value = json_object_get(version, keys[i]);
        json_object_set(summary, keys[i], value ? value : json_null());
    }
    json_decref(version);
    return summary;
}

static void get_info(im_request_t *req)
{
    const im_collector_snapshot_t *snapshot = acquire_snapshot(req);
    if (!snapshot) {
        return;
    }
    /* A shallow copy: the snapshot's own object is shared with other readers. */
    json_t *body = json_copy(snapshot->host_info);
    /* "cgroup", or "engine-stats" when the container cgroup files are unreadable. */
    json_object_set_new(body, "collector_source", json_string(snapshot->collector_source));
    im_collector_release(snapshot);
    json_object_set_new(body, "engine", engine_summary(im_req_app(req)));
    im_resp_json(req, 200, body);
}

const im_route_t im_api_system_routes[] = {
    {"GET", "/api/v1/stats/system", IM_ROLE_VIEWER, get_system,
     "Host CPU, memory, swap, disk, network, load and uptime"},
    {"GET", "/api/v1/stats/system/info", IM_ROLE_VIEWER, get_info,
     "Host and engine identification"},
    {"GET", "/api/v1/stats/system/disk", IM_ROLE_VIEWER, get_disk,
     "Real filesystems with their usage"},
    {"GET", "/api/v1/stats/system/network", IM_ROLE_VIEWER, get_network,
     "Network interfaces with counters and rates"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
