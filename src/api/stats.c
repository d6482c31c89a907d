/* Live container statistics served from the collector: formatted figures, the engine's
 * one-shot stats, the dashboard and the top consumers. Only GET /containers/{id}/stats
 * calls the engine. The history endpoints are in stats_history.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "api/api.h"
#include "api/stats-internal.h"
#include "app.h"
#include "collect/collector.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

const im_collector_snapshot_t *im__stats_acquire(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    if (!snapshot) {
        im_resp_error(req, 503, "statistics are not available: the collector is not running");
    }
    return snapshot;
}

/* Finds a container by full id, unique id prefix (4+ hex digits) or name. */
const im_sampler_figures_t *im__stats_find_container(const im_collector_snapshot_t *snapshot,
                                                     const char *ref)
{
    const im_sampler_figures_t *prefix_match = NULL;
    size_t prefix_matches = 0;
    size_t ref_len = strlen(ref);

    if (ref[0] == '/') {
        ref++;
        ref_len--;
    }
    for (size_t i = 0; i < snapshot->container_count; i++) {
        const im_sampler_figures_t *f = &snapshot->containers[i];
        if (strcmp(f->name, ref) == 0 || strcmp(f->id, ref) == 0) {
            return f;
        }
        if (ref_len >= IM_CONTAINER_PREFIX_MIN && strncmp(f->id, ref, ref_len) == 0) {
            prefix_match = f;
            prefix_matches++;
        }
    }
    return prefix_matches == 1 ? prefix_match : NULL;
}

/* How long a lookup waits for the collector to read a container the snapshot lacks. */
#define READ_WAIT_MS 5000

const im_sampler_figures_t *im__stats_find_or_read(im_request_t *req,
                                                   const im_collector_snapshot_t **snapshot,
                                                   const char *ref, int *rc, char *err,
                                                   size_t errlen)
{
    im_app_t *app = im_req_app(req);
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];

    *rc = IM_OK;
    const im_sampler_figures_t *f = *snapshot ? im__stats_find_container(*snapshot, ref) : NULL;
    if (f || !app->collector) {
        return f;
    }
    /* Only an unknown reference costs an engine call, so lookups of listed containers stay
     * on the snapshot. */
    *rc = im_container_resolve(app->engine, ref, id, name, err, errlen);
    if (*rc != IM_OK) {
        return NULL;
    }
    if (!im_collector_refresh_container(app->collector, id, READ_WAIT_MS)) {
        im_log_warn("stats", "request %s: container %.12s was not read within %d ms",
                    im_req_id(req), id, READ_WAIT_MS);
    }
    im_collector_release(*snapshot);
    *snapshot = im_collector_acquire(app->collector);
    f = *snapshot ? im__stats_find_container(*snapshot, id) : NULL;
    if (!f) {
        *rc = IM_ENOTFOUND;
        snprintf(err, errlen, "container %s not found", ref);
    }
    return f;
}

bool im__stats_resolve(im_request_t *req, const im_collector_snapshot_t **snapshot,
                       const im_sampler_figures_t **out)
{
    const char *ref = im_req_param(req, "id");
    char err[1024] = "";
    int rc = IM_OK;

    if (!ref || !im_container_ref_is_valid(ref[0] == '/' ? ref + 1 : ref)) {
        im_resp_invalid(req, "path", "id", "must be a container name, full id or id prefix");
        return false;
    }
    *out = im__stats_find_or_read(req, snapshot, ref, &rc, err, sizeof(err));
    if (*out) {
        return true;
    }
    if (rc == IM_OK || rc == IM_ENOTFOUND) {
        im_resp_error(req, 404, "container %s not found (or the id prefix is ambiguous)", ref);
    } else {
        im_resp_from_rc(req, rc, err);
    }
    return false;
}

/* Sends body (stolen) with 15 significant digits, so 54.36 prints as 54.36 and not as
 * jansson's default 54.359999999999999. */
void im__stats_send_json(im_request_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (!text) {
        im_resp_error(req, 500, "the statistics body could not be serialized");
        return;
    }
    im_resp_bytes(req, 200, "application/json", text, strlen(text));
    free(text);
}

json_t *im__stats_rounded(double value)
{
    return json_real(round(value * 100.0) / 100.0);
}

static json_t *rate_or_null(const im_sampler_figures_t *f, double value)
{
    return f->has_rates ? im__stats_rounded(value) : json_null();
}

static json_t *formatted_json(const im_sampler_figures_t *f)
{
    const im_cgroup_sample_t *c = &f->counters;
    char timestamp[32];
    json_t *out = json_object();

    im_time_iso8601(f->sampled_at_ms / 1000, timestamp);
    json_object_set_new(out, "container_id", json_string(f->id));
    json_object_set_new(out, "name", json_string(f->name));
    json_object_set_new(out, "timestamp", f->sampled ? json_string(timestamp) : json_null());
    /* cpu_usage is on the docker stats scale: 100 is one core. */
    json_object_set_new(out, "cpu_usage", rate_or_null(f, f->cpu_percent));
    json_object_set_new(out, "cpu_usage_host_percent", rate_or_null(f, f->cpu_host_percent));
    json_object_set_new(out, "cpu_usage_limit_percent",
                        f->has_rates && f->cpu_limit_percent >= 0
                            ? im__stats_rounded(f->cpu_limit_percent)
                            : json_null());
    json_object_set_new(out, "cpu_user_seconds", json_real((double)c->cpu_user_ns / 1e9));
    json_object_set_new(out, "cpu_system_seconds", json_real((double)c->cpu_system_ns / 1e9));
    json_object_set_new(out, "cpu_throttled_periods",
                        json_integer((json_int_t)c->cpu_throttled_periods));
    json_object_set_new(out, "cpu_throttled_seconds", json_real((double)c->cpu_throttled_ns / 1e9));
    json_object_set_new(out, "memory_usage", json_integer((json_int_t)f->memory_used));
    json_object_set_new(out, "memory_limit",
                        c->memory_limit ? json_integer((json_int_t)c->memory_limit) : json_null());
    json_object_set_new(out, "memory_percent",
                        f->memory_percent >= 0 ? im__stats_rounded(f->memory_percent)
                                               : json_null());
    json_object_set_new(out, "memory_rss", json_integer((json_int_t)c->memory_rss));
    json_object_set_new(out, "memory_cache", json_integer((json_int_t)c->memory_cache));
    json_object_set_new(out, "memory_swap", json_integer((json_int_t)c->memory_swap));
    json_object_set_new(out, "memory_inactive_file",
                        json_integer((json_int_t)c->memory_inactive_file));
    json_object_set_new(out, "network_rx", json_integer((json_int_t)f->network_rx));
    json_object_set_new(out, "network_tx", json_integer((json_int_t)f->network_tx));
    json_object_set_new(out, "network_rx_rate", rate_or_null(f, f->network_rx_rate));
    json_object_set_new(out, "network_tx_rate", rate_or_null(f, f->network_tx_rate));
    json_object_set_new(out, "network_shared", json_boolean(f->network_shared));
    json_object_set_new(out, "block_read", json_integer((json_int_t)c->blkio_read_bytes));
    json_object_set_new(out, "block_write", json_integer((json_int_t)c->blkio_write_bytes));
    json_object_set_new(out, "block_read_rate", rate_or_null(f, f->block_read_rate));
    json_object_set_new(out, "block_write_rate", rate_or_null(f, f->block_write_rate));
    json_object_set_new(out, "pids", json_integer((json_int_t)c->pids));
    return out;
}

static void get_formatted(im_request_t *req)
{
    const im_collector_snapshot_t *snapshot = im__stats_acquire(req);
    const im_sampler_figures_t *f = NULL;

    if (!snapshot) {
        return;
    }
    if (im__stats_resolve(req, &snapshot, &f)) {
        if (!f->sampled) {
            /* A stopped or just-started container has no sample yet: its figures are
             * unknown, which is null, not 0 and not an error. */
            json_t *out = formatted_json(f);
            const char *key;
            json_t *value;
            json_object_foreach(out, key, value)
            {
                if (json_is_number(value) || json_is_boolean(value)) {
                    json_object_set_new_nocheck(out, key, json_null());
                }
            }
            json_object_set_new(out, "status", json_string(f->status));
            im__stats_send_json(req, out);
        } else {
            im__stats_send_json(req, formatted_json(f));
        }
    }
    im_collector_release(snapshot);
}

bool im__stats_resolve_engine(im_request_t *req, char *id, char *name)
{
    char err[1024] = "";
    const char *ref = im_req_param(req, "id");

    if (!ref || !im_container_ref_is_valid(ref[0] == '/' ? ref + 1 : ref)) {
        im_resp_invalid(req, "path", "id", "must be a container name, full id or id prefix");
        return false;
    }
    int rc = im_container_resolve(im_req_app(req)->engine, ref, id, name, err, sizeof(err));
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, err);
        return false;
    }
    return true;
}

/* The engine's one-shot stats document: the contract promises the engine's JSON, so this
 * request calls the engine. */
static void get_engine_stats(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[1024] = "";
    char path[160];
    json_t *stats = NULL;

    if (!im__stats_resolve_engine(req, id, name)) {
        return;
    }
    snprintf(path, sizeof(path), "/containers/%s/stats?stream=false&one-shot=true", id);
    int rc = im_engine_get_json(im_req_app(req)->engine, path, &stats, err, sizeof(err));
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    im_resp_json(req, 200, stats);
}

/* ---- dashboard and top consumers ---- */

static void get_dashboard(im_request_t *req)
{
    const im_collector_snapshot_t *snapshot = im__stats_acquire(req);
    json_int_t running = 0;
    json_int_t paused = 0;
    json_int_t stopped = 0;
    double cpu = 0;
    uint64_t memory = 0;
    uint64_t rx = 0;
    uint64_t tx = 0;

    if (!snapshot) {
        return;
    }
    for (size_t i = 0; i < snapshot->container_count; i++) {
        const im_sampler_figures_t *f = &snapshot->containers[i];
        if (strcmp(f->status, "running") == 0) {
            running++;
        } else if (strcmp(f->status, "paused") == 0) {
            paused++;
        } else {
            stopped++;
        }
        if (f->sampled && (strcmp(f->status, "running") == 0 || strcmp(f->status, "paused") == 0)) {
            cpu += f->has_rates ? f->cpu_percent : 0;
            memory += f->memory_used;
            /* A shared namespace is counted once, under the container that owns it. */
            if (!f->network_shared) {
                rx += f->network_rx;
                tx += f->network_tx;
            }
        }
    }
    char timestamp[32];
    im_time_iso8601(snapshot->collected_at_ms / 1000, timestamp);
    json_t *body =
        json_pack("{s:O, s:{s:I, s:I, s:I, s:I}, s:{s:o, s:I, s:I, s:I}, s:O, s:s}", "system",
                  snapshot->system, "containers", "total_containers",
                  (json_int_t)snapshot->container_count, "running", running, "stopped", stopped,
                  "paused", paused, "resources", "containers_cpu_usage", im__stats_rounded(cpu),
                  "containers_memory_usage", (json_int_t)memory, "containers_network_rx",
                  (json_int_t)rx, "containers_network_tx", (json_int_t)tx, "uptime",
                  json_object_get(snapshot->system, "uptime"), "timestamp", timestamp);
    im_collector_release(snapshot);
    im__stats_send_json(req, body);
}

typedef struct {
    const im_sampler_figures_t *figures;
    double value;
} ranked_t;

static int compare_ranked(const void *a, const void *b)
{
    double x = ((const ranked_t *)a)->value;
    double y = ((const ranked_t *)b)->value;
    if (x < y) {
        return 1;
    }
    if (x > y) {
        return -1;
    }
    return 0;
}

/* Returns the latest figure of metric for a container. */
static double latest_value(const im_sampler_figures_t *f, const char *metric)
{
    if (strcmp(metric, "cpu") == 0) {
        return f->cpu_percent;
    }
    if (strcmp(metric, "memory") == 0) {
        return (double)f->memory_used;
    }
    return f->network_rx_rate + f->network_tx_rate;
}

/* Ranks the sampled containers by their latest figure, or by their mean over the period
 * when one is given (period_seconds > 0). Returns the count, or -1 after sending an error. */
static ssize_t rank_containers(im_request_t *req, const im_collector_snapshot_t *snapshot,
                               const char *metric, int64_t period_seconds, ranked_t *ranked)
{
    size_t n = 0;

    for (size_t i = 0; i < snapshot->container_count; i++) {
        const im_sampler_figures_t *f = &snapshot->containers[i];
        double value = 0;
        bool found = true;
        if (!f->sampled) {
            continue;
        }
        if (period_seconds > 0) {
            int rc = im__stats_history_mean(req, f, period_seconds, metric, &value, &found);
            if (rc != IM_OK) {
                im_resp_from_rc(req, rc, "reading the statistics history from the database failed");
                return -1;
            }
        } else {
            value = latest_value(f, metric);
        }
        if (found) {
            ranked[n++] = (ranked_t){f, value};
        }
    }
    qsort(ranked, n, sizeof(*ranked), compare_ranked);
    return (ssize_t)n;
}

static void get_top_consumers(im_request_t *req)
{
    const char *metric = im_req_query(req, "metric");
    const char *period = im_req_query(req, "period");
    int64_t period_seconds = 0;
    int64_t limit = 0;

    if (!metric || !metric[0]) {
        metric = "cpu";
    }
    if (strcmp(metric, "cpu") != 0 && strcmp(metric, "memory") != 0 &&
        strcmp(metric, "network") != 0) {
        im_resp_invalid(req, "query", "metric", "must be cpu, memory or network");
        return;
    }
    if (!im_req_query_int(req, "limit", 1, 50, 10, &limit)) {
        return;
    }
    if (period && period[0] && !im__stats_read_period(req, NULL, &period, &period_seconds)) {
        return;
    }
    const im_collector_snapshot_t *snapshot = im__stats_acquire(req);
    if (!snapshot) {
        return;
    }
    ranked_t *ranked = im_calloc(snapshot->container_count + 1, sizeof(*ranked));
    ssize_t n = rank_containers(req, snapshot, metric, period_seconds, ranked);
    if (n < 0) {
        free(ranked);
        im_collector_release(snapshot);
        return;
    }
    json_t *items = json_array();
    for (ssize_t i = 0; i < n && i < limit; i++) {
        json_t *item = formatted_json(ranked[i].figures);
        json_object_set_new(item, "value", im__stats_rounded(ranked[i].value));
        json_array_append_new(items, item);
    }
    free(ranked);
    im_collector_release(snapshot);
    /* value is the latest figure, or the mean over period when one is given. */
    im__stats_send_json(req, json_pack("{s:s, s:I, s:o, s:o}", "metric", metric, "limit",
                                       (json_int_t)limit, "period",
                                       period_seconds ? json_string(period) : json_null(),
                                       "containers", items));
}

const im_route_t im_api_stats_routes[] = {
    {"GET", "/api/v1/containers/{id}/stats", IM_ROLE_VIEWER, get_engine_stats,
     "The engine's one-shot stats JSON"},
    {"GET", "/api/v1/containers/{id}/stats/formatted", IM_ROLE_VIEWER, get_formatted,
     "Latest collected figures of a container"},
    {"GET", "/api/v1/stats/dashboard", IM_ROLE_VIEWER, get_dashboard,
     "Host figures and container counts for the dashboard"},
    {"GET", "/api/v1/stats/top-consumers", IM_ROLE_VIEWER, get_top_consumers,
     "Containers ranked by CPU, memory or network"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
