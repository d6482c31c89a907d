/* Statistics history endpoints: container and system history, compare, trends, export and
 * prune. Ranges up to 15 minutes come from the collector's in-memory points. Longer ones
 * come from the finest database tier that covers them, topped up with the in-memory points
 * newer than the tier's latest point. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stats-internal.h"
#include "app.h"
#include "collect/collector.h"
#include "collect/history.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "store/store.h"

#define DEFAULT_POINTS        500
#define MAX_POINTS            5000
#define EXPORT_DEFAULT_POINTS 10000
#define EXPORT_MAX_POINTS     20000
#define COMPARE_MAX           10
/* A trend whose fitted change stays within this many percent is "stable". */
#define TREND_STABLE_PERCENT 5.0

typedef struct {
    const char *name;
    int64_t seconds;
} period_t;

/* Whose history a request reads. */
typedef struct {
    char container_id[IM_STORE_CONTAINER_ID_MAX + 1]; /* full id; "" for the host */
    char name[IM_STORE_CONTAINER_NAME_MAX + 1];
    bool by_name; /* the database query reads every series that carried this name */
    bool live;    /* the engine lists the container, so in-memory points may exist */
} target_t;

/* The downsampled points of one target over one period. */
typedef struct {
    im_store_history_point_t *points; /* free() */
    size_t count;
    int64_t since;
    int64_t until;
    int64_t width;      /* seconds per bucket */
    const char *source; /* "memory", or the tier name "10s", "1m", "1h" */
} series_t;

typedef enum { METRIC_CPU, METRIC_MEMORY, METRIC_NETWORK } metric_t;

static const period_t periods[] = {{"5m", 300},    {"15m", 900},   {"1h", 3600},    {"6h", 21600},
                                   {"24h", 86400}, {"7d", 604800}, {"30d", 2592000}};

/* ---- parameters ------------------------------------------------------------------------ */

/* Reads period (5m, 15m, 1h, 6h, 24h, 7d or 30d). Returns false after sending a 422. */
static bool read_period(im_request_t *req, const char *fallback, period_t *out)
{
    const char *value = im_req_query(req, "period");

    if (!value || !value[0]) {
        value = fallback;
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(periods); i++) {
        if (strcmp(value, periods[i].name) == 0) {
            *out = periods[i];
            return true;
        }
    }
    im_resp_invalid(req, "query", "period", "must be one of 5m, 15m, 1h, 6h, 24h, 7d, 30d");
    return false;
}

static bool read_metric(im_request_t *req, metric_t *out)
{
    const char *value = im_req_query(req, "metric");

    if (!value || !value[0] || strcmp(value, "cpu") == 0) {
        *out = METRIC_CPU;
    } else if (strcmp(value, "memory") == 0) {
        *out = METRIC_MEMORY;
    } else if (strcmp(value, "network") == 0) {
        *out = METRIC_NETWORK;
    } else {
        im_resp_invalid(req, "query", "metric", "must be cpu, memory or network");
        return false;
    }
    return true;
}

static const char *metric_name(metric_t metric)
{
    switch (metric) {
    case METRIC_CPU:
        return "cpu";
    case METRIC_MEMORY:
        return "memory";
    default:
        return "network";
    }
}

/* The plotted value of a bucket: the mean CPU percent, the mean memory bytes, or the mean
 * received plus sent bytes per second. */
static double metric_value(const im_store_history_point_t *p, metric_t metric)
{
    switch (metric) {
    case METRIC_CPU:
        return p->cpu.avg;
    case METRIC_MEMORY:
        return p->memory.avg;
    default:
        return p->network_rx_rate.avg + p->network_tx_rate.avg;
    }
}

/* ---- targets and loading ---------------------------------------------------------------- */

static void target_host(target_t *out)
{
    memset(out, 0, sizeof(*out));
    im_strlcpy(out->name, "host", sizeof(out->name));
    out->live = true;
}

/* Resolves a container reference among live containers first, then among the series of
 * removed ones. A reference that is a name reads every series of that name. Returns false
 * after sending a 422 or 404 that names `field`. */
static bool resolve_target(im_request_t *req, const char *ref, const char *where, const char *field,
                           target_t *out)
{
    im_app_t *app = im_req_app(req);

    memset(out, 0, sizeof(*out));
    if (!ref || !im_container_ref_is_valid(ref[0] == '/' ? ref + 1 : ref)) {
        im_resp_invalid(req, where, field, "must be a container name, full id or id prefix");
        return false;
    }
    if (ref[0] == '/') {
        ref++;
    }
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    char engine_err[1024] = "";
    int engine_rc = IM_OK;
    /* A removed container is not an error here: its series are looked up below. */
    const im_sampler_figures_t *f = im__stats_find_or_read(req, &snapshot, ref, &engine_rc,
                                                           engine_err, sizeof(engine_err));
    if (f) {
        im_strlcpy(out->container_id, f->id, sizeof(out->container_id));
        im_strlcpy(out->name, f->name[0] == '/' ? f->name + 1 : f->name, sizeof(out->name));
        out->live = true;
    }
    im_collector_release(snapshot);
    if (!f) {
        im_store_history_series_t series;
        int rc = im_store_history_series_find(app->store, ref, &series);
        if (rc == IM_ENOTFOUND) {
            im_resp_error(req, 404,
                          "container %s not found, now or in the history (or the id prefix is "
                          "ambiguous)",
                          ref);
            return false;
        }
        if (rc != IM_OK) {
            im_resp_from_rc(req, rc, "reading the statistics history failed");
            return false;
        }
        im_strlcpy(out->container_id, series.container_id, sizeof(out->container_id));
        im_strlcpy(out->name, series.name, sizeof(out->name));
    }
    out->by_name = strcmp(ref, out->name) == 0;
    return true;
}

/* Copies the in-memory points of target newer than since (Unix seconds). */
static size_t memory_points(im_app_t *app, const target_t *target, int64_t since,
                            im_store_history_point_t **out)
{
    im_sampler_point_t *raw = NULL;

    *out = NULL;
    if (!app->collector || !target->live) {
        return 0;
    }
    const char *id = target->container_id[0] ? target->container_id : NULL;
    size_t n = im_collector_history(app->collector, id, since * 1000 - 1, &raw);
    n = im_history_from_memory(raw, n, out);
    free(raw);
    return n;
}

/* Appends the in-memory points newer than the stored ones, which the writer has not
 * stored yet, to the stored points. */
static void append_recent(im_app_t *app, const target_t *target, int64_t after,
                          im_store_history_points_t *stored)
{
    im_store_history_point_t *recent = NULL;
    size_t n = memory_points(app, target, after, &recent);
    if (n > 0) {
        stored->points = im_realloc(stored->points, (stored->count + n) * sizeof(*stored->points));
        memcpy(stored->points + stored->count, recent, n * sizeof(*recent));
        stored->count += n;
    }
    free(recent);
}

/* Puts the stored 10-second points from since up to the first in-memory point in front of
 * the in-memory points, so that a short range reaches back past a restart of the server,
 * whose memory starts empty. The count of points added goes to *stored. */
static int prepend_stored(im_app_t *app, const target_t *target, int64_t since,
                          im_store_history_points_t *points, size_t *stored)
{
    int64_t until = points->count ? points->points[0].time : im_now() + 1;
    im_store_history_points_t older = {NULL, 0};

    *stored = 0;
    if (until - since < IM_HISTORY_POINT_SECONDS) {
        return IM_OK;
    }
    im_store_history_query_t query = {
        .container_id = target->by_name ? NULL : target->container_id,
        .name = target->by_name ? target->name : NULL,
        .tier = IM_STORE_TIER_10S,
        .since = since,
        .until = until,
    };
    int rc = im_store_history_query(app->store, &query, &older);
    if (rc != IM_OK || older.count == 0) {
        im_store_history_points_release(&older);
        return rc;
    }
    older.points = im_realloc(older.points, (older.count + points->count) * sizeof(*older.points));
    if (points->count) {
        memcpy(older.points + older.count, points->points, points->count * sizeof(*points->points));
    }
    *stored = older.count;
    older.count += points->count;
    im_store_history_points_release(points);
    *points = older;
    return IM_OK;
}

/* Loads the points of target over the period that ends now, downsampled to max_points.
 * Returns IM_OK or the store's error. */
static int load_series(im_request_t *req, const target_t *target, int64_t period_seconds,
                       size_t max_points, series_t *out)
{
    im_app_t *app = im_req_app(req);
    im_store_history_points_t all = {NULL, 0};
    int64_t resolution = app->config->collect_interval_seconds;

    memset(out, 0, sizeof(*out));
    out->until = im_now() + 1;
    out->since = out->until - period_seconds;
    if (period_seconds <= IM_SAMPLER_HISTORY_SECONDS) {
        out->source = "memory";
        all.count = memory_points(app, target, out->since, &all.points);
        size_t stored = 0;
        int rc = prepend_stored(app, target, out->since, &all, &stored);
        if (rc != IM_OK) {
            return rc;
        }
        if (stored > 0) {
            out->source = all.count > stored ? "10s+memory" : "10s";
        }
    } else {
        im_store_tier_t tier = im_history_pick_query_tier(
            period_seconds, app->config->retention_raw_hours, max_points);
        im_store_history_query_t query = {
            .container_id = target->by_name ? NULL : target->container_id,
            .name = target->by_name ? target->name : NULL,
            .tier = tier,
            .since = out->since,
            .until = out->until,
        };
        resolution = im_history_tier_seconds(tier);
        out->source = im_history_tier_name(tier);
        int rc = im_store_history_query(app->store, &query, &all);
        if (rc != IM_OK) {
            return rc;
        }
        // NOTE: the 1-hour tier lags by up to an hour, and memory fills only its last
        // 15 minutes, so a 30-day range may miss up to 45 minutes at its end.
        int64_t after = all.count ? all.points[all.count - 1].time + resolution : out->since;
        append_recent(app, target, after, &all);
    }
    out->count = im_history_downsample(all.points, all.count, out->since, out->until,
                                       resolution > 0 ? resolution : 1, max_points, &out->points,
                                       &out->width);
    im_store_history_points_release(&all);
    return IM_OK;
}

/* Sends the 503 or 500 for a failed history read. */
static void send_load_error(im_request_t *req, int rc)
{
    im_resp_from_rc(req, rc, "reading the statistics history from the database failed");
}

/* Reads the container_id query parameter into target, or targets the host when it is
 * absent and not required. Returns false after sending the error. */
static bool read_target(im_request_t *req, bool required, const char *requirement, target_t *target)
{
    const char *ref = im_req_query(req, "container_id");

    if (ref && ref[0]) {
        return resolve_target(req, ref, "query", "container_id", target);
    }
    if (required) {
        im_resp_invalid(req, "query", "container_id", "is required %s", requirement);
        return false;
    }
    target_host(target);
    return true;
}

/* Loads a series like load_series. Returns false after sending the error. */
static bool load_or_fail(im_request_t *req, const target_t *target, int64_t period_seconds,
                         int64_t max_points, series_t *out)
{
    int rc = load_series(req, target, period_seconds, (size_t)max_points, out);
    if (rc != IM_OK) {
        send_load_error(req, rc);
        return false;
    }
    return true;
}

/* ---- rows ------------------------------------------------------------------------------- */

/* Gauge columns of a row: the name and where its value is in a point. */
typedef struct {
    const char *name;
    size_t offset;
    bool fractional; /* shown with up to 2 decimals, else as a whole number */
} gauge_column_t;

static const gauge_column_t gauge_columns[] = {
    {"cpu_usage", offsetof(im_store_history_point_t, cpu), true},
    {"memory_usage", offsetof(im_store_history_point_t, memory), false},
    {"network_rx_rate", offsetof(im_store_history_point_t, network_rx_rate), true},
    {"network_tx_rate", offsetof(im_store_history_point_t, network_tx_rate), true},
    {"block_read_rate", offsetof(im_store_history_point_t, block_read_rate), true},
    {"block_write_rate", offsetof(im_store_history_point_t, block_write_rate), true},
    {"pids", offsetof(im_store_history_point_t, pids), false},
};

static const im_store_gauge_t *gauge_at(const im_store_history_point_t *p,
                                        const gauge_column_t *column)
{
    return (const im_store_gauge_t *)((const char *)p + column->offset);
}

/* The rows are written as text directly rather than through jansson objects, because
 * allocating the objects and printing doubles took most of a long history's time. */

static void put_int(im_buf_t *out, int64_t value)
{
    char digits[24];
    char text[24];
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    size_t n = 0;
    size_t len = 0;

    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0) {
        text[len++] = '-';
    }
    while (n > 0) {
        text[len++] = digits[--n];
    }
    im_buf_append(out, text, len);
}

/* Writes value rounded to 2 decimals, with at least one decimal: 12.5, 3.05, 7.0. */
static void put_fixed2(im_buf_t *out, double value)
{
    int64_t scaled = llround(value * 100.0);
    int64_t magnitude = scaled < 0 ? -scaled : scaled;
    char decimals[3] = {'.', (char)('0' + magnitude % 100 / 10), (char)('0' + magnitude % 10)};

    if (scaled < 0) {
        im_buf_append(out, "-", 1);
    }
    put_int(out, magnitude / 100);
    im_buf_append(out, decimals, magnitude % 10 ? 3 : 2);
}

static void put_gauge_value(im_buf_t *out, double value, bool fractional)
{
    if (fractional) {
        put_fixed2(out, value);
    } else {
        put_int(out, llround(value));
    }
}

/* Writes "name<suffix>": preceded by a comma unless it is the first member. */
static void put_key(im_buf_t *out, const char *name, const char *suffix, bool first)
{
    im_buf_append(out, first ? "\"" : ",\"", first ? 1 : 2);
    im_buf_append(out, name, strlen(name));
    im_buf_append(out, suffix, strlen(suffix));
    im_buf_append(out, "\":", 2);
}

static void put_counter(im_buf_t *out, const char *name, uint64_t value)
{
    put_key(out, name, "", false);
    put_int(out, value > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)value);
}

/* Writes one history row as a JSON object. A gauge's plain field is its mean over the
 * bucket, and aggregate adds <gauge>_min, _max and _avg. */
static void put_row(im_buf_t *out, const im_store_history_point_t *p, bool aggregate)
{
    char timestamp[32];

    im_time_iso8601(p->time, timestamp);
    im_buf_append(out, "{", 1);
    put_key(out, "timestamp", "", true);
    im_buf_append(out, "\"", 1);
    im_buf_append(out, timestamp, strlen(timestamp));
    im_buf_append(out, "\"", 1);
    for (size_t i = 0; i < IM_ARRAY_LEN(gauge_columns); i++) {
        const gauge_column_t *column = &gauge_columns[i];
        const im_store_gauge_t *gauge = gauge_at(p, column);
        put_key(out, column->name, "", false);
        put_gauge_value(out, gauge->avg, column->fractional);
        if (aggregate) {
            put_key(out, column->name, "_min", false);
            put_gauge_value(out, gauge->min, column->fractional);
            put_key(out, column->name, "_max", false);
            put_gauge_value(out, gauge->max, column->fractional);
            put_key(out, column->name, "_avg", false);
            put_fixed2(out, gauge->avg);
        }
    }
    put_key(out, "memory_limit", "", false);
    if (p->memory_limit) {
        put_int(out, (int64_t)p->memory_limit);
    } else {
        im_buf_append(out, "null", 4);
    }
    put_counter(out, "network_rx", p->network_rx);
    put_counter(out, "network_tx", p->network_tx);
    put_counter(out, "block_read", p->block_read);
    put_counter(out, "block_write", p->block_write);
    put_counter(out, "samples", (uint64_t)p->samples);
    im_buf_append(out, "}", 1);
}

/* Sends {"stats": [rows], ...the members of envelope} (envelope reference stolen), as an
 * attachment named download.json when download is not NULL. */
static void send_rows(im_request_t *req, json_t *envelope, const series_t *series, bool aggregate,
                      const char *download)
{
    char *members = json_dumps(envelope, JSON_COMPACT | JSON_REAL_PRECISION(15));
    im_buf_t out;

    json_decref(envelope);
    if (!members) {
        im_resp_error(req, 500, "the statistics body could not be serialized");
        return;
    }
    im_buf_init(&out);
    im_buf_append(&out, "{\"stats\":[", 10);
    for (size_t i = 0; i < series->count; i++) {
        if (i > 0) {
            im_buf_append(&out, ",", 1);
        }
        put_row(&out, &series->points[i], aggregate);
    }
    /* members is "{...}": its members follow the array, and its brace closes the body. */
    im_buf_append(&out, "]", 1);
    if (strcmp(members, "{}") != 0) {
        im_buf_append(&out, ",", 1);
    }
    im_buf_append(&out, members + 1, strlen(members + 1));
    free(members);
    if (download) {
        char disposition[IM_STORE_CONTAINER_NAME_MAX + 96];
        snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.json\"", download);
        im_resp_header(req, "Content-Disposition", disposition);
    }
    im_resp_bytes(req, 200, "application/json", out.data, out.len);
    im_buf_release(&out);
}

/* Adds period, start_time, end_time, resolution_seconds and source to body. */
static void add_range(json_t *body, const period_t *period, const series_t *series)
{
    char start[32];
    char end[32];
    im_time_iso8601(series->since, start);
    im_time_iso8601(series->until, end);
    json_object_set_new(body, "period", json_string(period->name));
    json_object_set_new(body, "start_time", json_string(start));
    json_object_set_new(body, "end_time", json_string(end));
    json_object_set_new(body, "resolution_seconds", json_integer((json_int_t)series->width));
    json_object_set_new(body, "source", json_string(series->source));
}

/* ---- shared with stats.c ---------------------------------------------------------------- */

bool im__stats_read_period(im_request_t *req, const char *fallback, const char **name,
                           int64_t *seconds)
{
    period_t period;
    if (!read_period(req, fallback, &period)) {
        return false;
    }
    *name = period.name;
    *seconds = period.seconds;
    return true;
}

int im__stats_history_mean(im_request_t *req, const im_sampler_figures_t *f, int64_t period_seconds,
                           const char *metric, double *mean, bool *found)
{
    target_t target;
    series_t series;
    metric_t kind = strcmp(metric, "memory") == 0    ? METRIC_MEMORY
                    : strcmp(metric, "network") == 0 ? METRIC_NETWORK
                                                     : METRIC_CPU;

    memset(&target, 0, sizeof(target));
    im_strlcpy(target.container_id, f->id, sizeof(target.container_id));
    im_strlcpy(target.name, f->name, sizeof(target.name));
    target.live = true;
    /* One bucket over the whole period gives the mean weighted by samples. */
    int rc = load_series(req, &target, period_seconds, 1, &series);
    if (rc != IM_OK) {
        return rc;
    }
    *found = series.count > 0;
    *mean = series.count > 0 ? metric_value(&series.points[0], kind) : 0;
    free(series.points);
    return IM_OK;
}

/* ---- history ---------------------------------------------------------------------------- */

static void send_history(im_request_t *req, const target_t *target, bool is_container)
{
    period_t period;
    int64_t points_max = 0;
    bool aggregate = false;
    series_t series;

    if (!read_period(req, "15m", &period) ||
        !im_req_query_int(req, "points", 1, MAX_POINTS, DEFAULT_POINTS, &points_max) ||
        !im_req_query_bool(req, "aggregate", false, &aggregate)) {
        return;
    }
    if (!load_or_fail(req, target, period.seconds, points_max, &series)) {
        return;
    }
    json_t *body = json_object();
    if (is_container) {
        json_object_set_new(body, "container_id", json_string(target->container_id));
        json_object_set_new(body, "container_name", json_string(target->name));
    }
    add_range(body, &period, &series);
    json_object_set_new(body, "aggregate", json_boolean(aggregate));
    send_rows(req, body, &series, aggregate, NULL);
    free(series.points);
}

static void get_container_history(im_request_t *req)
{
    target_t target;
    if (resolve_target(req, im_req_param(req, "id"), "path", "id", &target)) {
        send_history(req, &target, true);
    }
}

static void get_system_history(im_request_t *req)
{
    target_t target;
    target_host(&target);
    send_history(req, &target, false);
}

/* ---- compare and trends ----------------------------------------------------------------- */

/* Returns [{timestamp, value}] of one metric, and its min, max and mean over the buckets. */
static json_t *metric_data(const series_t *series, metric_t metric, double *min, double *max,
                           double *avg)
{
    json_t *data = json_array();
    char timestamp[32];
    double sum = 0;

    *min = 0;
    *max = 0;
    for (size_t i = 0; i < series->count; i++) {
        double value = metric_value(&series->points[i], metric);
        im_time_iso8601(series->points[i].time, timestamp);
        json_array_append_new(data, json_pack("{s:s, s:o}", "timestamp", timestamp, "value",
                                              im__stats_rounded(value)));
        *min = i == 0 || value < *min ? value : *min;
        *max = i == 0 || value > *max ? value : *max;
        sum += value;
    }
    *avg = series->count ? sum / (double)series->count : 0;
    return data;
}

typedef struct {
    target_t targets[COMPARE_MAX];
    size_t count;
    size_t seen;
    bool failed;
    im_request_t *req;
} compare_ids_t;

/* Collects one container_ids value, which may itself be a comma-separated list. The value
 * is copied whole: a copy cut short could turn the last name into another container's. */
static void collect_compare_id(void *ctx, const char *value)
{
    compare_ids_t *ids = ctx;
    char *copy = im_strdup(value);
    char *save = NULL;

    for (char *ref = strtok_r(copy, ",", &save); ref && !ids->failed;
         ref = strtok_r(NULL, ",", &save)) {
        if (++ids->seen > COMPARE_MAX) {
            continue;
        }
        if (!resolve_target(ids->req, ref, "query", "container_ids", &ids->targets[ids->count])) {
            ids->failed = true;
            break;
        }
        ids->count++;
    }
    free(copy);
}

static void get_compare(im_request_t *req)
{
    compare_ids_t ids = {.req = req};
    period_t period;
    metric_t metric;
    int64_t points_max = 0;

    if (!read_metric(req, &metric) || !read_period(req, "1h", &period) ||
        !im_req_query_int(req, "points", 1, MAX_POINTS, DEFAULT_POINTS, &points_max)) {
        return;
    }
    im_req_query_each(req, "container_ids", collect_compare_id, &ids);
    if (ids.failed) {
        return;
    }
    if (ids.seen == 0 || ids.seen > COMPARE_MAX) {
        im_resp_invalid(req, "query", "container_ids",
                        "give 1 to %d containers, as repeated container_ids parameters",
                        COMPARE_MAX);
        return;
    }
    json_t *containers = json_array();
    series_t series = {0};
    for (size_t i = 0; i < ids.count; i++) {
        if (!load_or_fail(req, &ids.targets[i], period.seconds, points_max, &series)) {
            json_decref(containers);
            return;
        }
        double min = 0;
        double max = 0;
        double avg = 0;
        json_t *data = metric_data(&series, metric, &min, &max, &avg);
        json_array_append_new(containers,
                              json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "container_id",
                                        ids.targets[i].container_id, "container_name",
                                        ids.targets[i].name, "data", data, "min_value",
                                        im__stats_rounded(min), "max_value", im__stats_rounded(max),
                                        "avg_value", im__stats_rounded(avg)));
        if (i + 1 < ids.count) {
            free(series.points);
        }
    }
    json_t *body = json_pack("{s:s, s:o}", "metric", metric_name(metric), "containers", containers);
    add_range(body, &period, &series);
    free(series.points);
    im__stats_send_json(req, body);
}

/* Fits a least-squares line through the values and returns the change from the line's start
 * to its end as a percent of the start. The change is 0 when both ends are 0, and null when
 * only the start is 0. */
static json_t *fitted_change(const series_t *series, metric_t metric, double *change)
{
    size_t n = series->count;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;

    *change = 0;
    if (n < 2) {
        return json_real(0);
    }
    for (size_t i = 0; i < n; i++) {
        double x = (double)(series->points[i].time - series->points[0].time);
        double y = metric_value(&series->points[i], metric);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double denominator = (double)n * sxx - sx * sx;
    double slope = denominator != 0 ? ((double)n * sxy - sx * sy) / denominator : 0;
    double intercept = (sy - slope * sx) / (double)n;
    double span = (double)(series->points[n - 1].time - series->points[0].time);
    double first = intercept;
    double last = intercept + slope * span;
    if (fabs(first) < 1e-9) {
        if (fabs(last) < 1e-9) {
            return json_real(0);
        }
        *change = last > 0 ? INFINITY : -INFINITY;
        return json_null();
    }
    *change = (last - first) / fabs(first) * 100.0;
    return im__stats_rounded(*change);
}

static void get_trends(im_request_t *req)
{
    period_t period;
    metric_t metric;
    int64_t points_max = 0;
    target_t target;
    series_t series;

    if (!read_metric(req, &metric) || !read_period(req, "24h", &period) ||
        !im_req_query_int(req, "points", 2, MAX_POINTS, 200, &points_max) ||
        !read_target(req, false, "", &target) ||
        !load_or_fail(req, &target, period.seconds, points_max, &series)) {
        return;
    }
    double min = 0;
    double max = 0;
    double avg = 0;
    double change = 0;
    json_t *data = metric_data(&series, metric, &min, &max, &avg);
    json_t *change_json = fitted_change(&series, metric, &change);
    const char *trend = change > TREND_STABLE_PERCENT    ? "increasing"
                        : change < -TREND_STABLE_PERCENT ? "decreasing"
                                                         : "stable";
    json_t *body = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "metric", metric_name(metric),
                             "trend", trend, "change_percent", change_json, "data", data,
                             "min_value", im__stats_rounded(min), "max_value",
                             im__stats_rounded(max), "avg_value", im__stats_rounded(avg));
    json_object_set_new(body, "container_id",
                        target.container_id[0] ? json_string(target.container_id) : json_null());
    add_range(body, &period, &series);
    free(series.points);
    im__stats_send_json(req, body);
}

/* ---- export ----------------------------------------------------------------------------- */

/* Writes the rows as CSV (RFC 4180): a header line, then one line per bucket. Every field
 * is a timestamp or a number, so none needs quoting. */
static void export_csv(im_request_t *req, const series_t *series, const char *filename)
{
    im_buf_t out;
    char timestamp[32];
    char disposition[IM_STORE_CONTAINER_NAME_MAX + 96];

    im_buf_init(&out);
    im_buf_appendf(&out, "timestamp");
    for (size_t i = 0; i < IM_ARRAY_LEN(gauge_columns); i++) {
        const char *name = gauge_columns[i].name;
        im_buf_appendf(&out, ",%s,%s_min,%s_max", name, name, name);
    }
    im_buf_appendf(&out, ",memory_limit,network_rx,network_tx,block_read,block_write,samples\r\n");
    for (size_t r = 0; r < series->count; r++) {
        const im_store_history_point_t *p = &series->points[r];
        im_time_iso8601(p->time, timestamp);
        im_buf_append(&out, timestamp, strlen(timestamp));
        for (size_t i = 0; i < IM_ARRAY_LEN(gauge_columns); i++) {
            const im_store_gauge_t *g = gauge_at(p, &gauge_columns[i]);
            const double values[] = {g->avg, g->min, g->max};
            for (size_t v = 0; v < IM_ARRAY_LEN(values); v++) {
                im_buf_append(&out, ",", 1);
                put_fixed2(&out, values[v]);
            }
        }
        const uint64_t counters[] = {p->memory_limit, p->network_rx,  p->network_tx,
                                     p->block_read,   p->block_write, (uint64_t)p->samples};
        for (size_t i = 0; i < IM_ARRAY_LEN(counters); i++) {
            im_buf_append(&out, ",", 1);
            put_int(&out, counters[i] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)counters[i]);
        }
        im_buf_append(&out, "\r\n", 2);
    }
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.csv\"", filename);
    im_resp_header(req, "Content-Disposition", disposition);
    im_resp_bytes(req, 200, "text/csv; charset=utf-8", out.data, out.len);
    im_buf_release(&out);
}

static void get_export(im_request_t *req)
{
    const char *type = im_req_query(req, "stats_type");
    const char *format = im_req_query(req, "format");
    period_t period;
    int64_t points_max = 0;
    target_t target;
    series_t series;
    char filename[IM_STORE_CONTAINER_NAME_MAX + 32];

    if (!type || !type[0]) {
        /* A container_id alone selects that container rather than being ignored. */
        const char *ref = im_req_query(req, "container_id");
        type = ref && ref[0] ? "container" : "system";
    }
    if (!format || !format[0]) {
        format = "json";
    }
    if (strcmp(type, "system") != 0 && strcmp(type, "container") != 0) {
        im_resp_invalid(req, "query", "stats_type", "must be system or container");
        return;
    }
    if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
        im_resp_invalid(req, "query", "format", "must be json or csv");
        return;
    }
    bool is_container = strcmp(type, "container") == 0;
    if (!is_container) {
        const char *ref = im_req_query(req, "container_id");
        if (ref && ref[0]) {
            im_resp_invalid(req, "query", "container_id", "applies only to stats_type=container");
            return;
        }
        target_host(&target);
    }
    if (!read_period(req, "24h", &period) ||
        !im_req_query_int(req, "points", 1, EXPORT_MAX_POINTS, EXPORT_DEFAULT_POINTS,
                          &points_max) ||
        (is_container && !read_target(req, true, "when stats_type=container", &target)) ||
        !load_or_fail(req, &target, period.seconds, points_max, &series)) {
        return;
    }
    /* Container names are [A-Za-z0-9_.-], so they are safe in a quoted filename. */
    snprintf(filename, sizeof(filename), "inframon-%s-%s", target.name, period.name);
    if (strcmp(format, "csv") == 0) {
        export_csv(req, &series, filename);
    } else {
        json_t *body =
            json_pack("{s:s, s:o, s:s}", "stats_type", type, "container_id",
                      target.container_id[0] ? json_string(target.container_id) : json_null(),
                      "container_name", target.name);
        add_range(body, &period, &series);
        send_rows(req, body, &series, true, filename);
    }
    free(series.points);
}

/* ---- prune ------------------------------------------------------------------------------ */

/* Reads retention_days from the query, else from a JSON body. Returns false after sending
 * the error. */
static bool read_retention_days(im_request_t *req, int64_t *days)
{
    size_t len = 0;

    if (im_req_query(req, "retention_days")) {
        return im_req_query_int(req, "retention_days", 1, 3650, 0, days);
    }
    im_req_body(req, &len);
    if (len == 0) {
        im_resp_invalid(req, "query", "retention_days", "is required: days of history to keep");
        return false;
    }
    json_t *body = im_req_json_object(req);
    if (!body) {
        return false;
    }
    json_t *value = json_object_get(body, "retention_days");
    if (!json_is_integer(value) || json_integer_value(value) < 1 ||
        json_integer_value(value) > 3650) {
        im_resp_invalid(req, "body", "retention_days", "must be an integer from 1 to 3650");
        return false;
    }
    *days = json_integer_value(value);
    return true;
}

static void post_prune(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    int64_t days = 0;
    im_store_history_pruned_t pruned;
    char message[160];

    if (!read_retention_days(req, &days)) {
        return;
    }
    int64_t before = im_now() - days * 86400;
    im_store_history_cutoffs_t cutoffs = {{before, before, before}};
    int rc = im_store_history_prune(app->store, &cutoffs, &pruned);
    snprintf(message, sizeof(message), "deleted statistics history older than %lld days",
             (long long)days);
    im_api_audit(req, "stats.prune", "history", NULL, rc == IM_OK,
                 rc == IM_OK ? NULL : "database error");
    if (rc != IM_OK) {
        im_resp_from_rc(req, rc, "pruning the statistics history failed");
        return;
    }
    im_log_info("history",
                "%s by %s: %lld 10-second, %lld 1-minute and %lld 1-hour points, %lld series",
                message, im_req_principal(req) ? im_req_principal(req)->username : "?",
                (long long)pruned.points[0], (long long)pruned.points[1],
                (long long)pruned.points[2], (long long)pruned.series);
    json_t *body = json_pack("{s:b, s:s, s:I, s:{s:I, s:I, s:I}, s:I}", "success", 1, "message",
                             message, "retention_days", (json_int_t)days, "deleted_points", "10s",
                             (json_int_t)pruned.points[IM_STORE_TIER_10S], "1m",
                             (json_int_t)pruned.points[IM_STORE_TIER_1M], "1h",
                             (json_int_t)pruned.points[IM_STORE_TIER_1H], "deleted_series",
                             (json_int_t)pruned.series);
    im__stats_send_json(req, body);
}

const im_route_t im_api_history_routes[] = {
    {"GET", "/api/v1/containers/{id}/stats/history", IM_ROLE_VIEWER, get_container_history,
     "Container statistics history: period, points, aggregate"},
    {"GET", "/api/v1/stats/system/history", IM_ROLE_VIEWER, get_system_history,
     "Host statistics history: period, points, aggregate"},
    {"GET", "/api/v1/stats/compare", IM_ROLE_VIEWER, get_compare,
     "One metric of several containers over a period"},
    {"GET", "/api/v1/stats/trends", IM_ROLE_VIEWER, get_trends,
     "Trend of one metric of the host or a container over a period"},
    {"GET", "/api/v1/stats/export", IM_ROLE_VIEWER, get_export,
     "Statistics history as JSON or CSV"},
    {"POST", "/api/v1/stats/prune", IM_ROLE_ADMIN, post_prune,
     "Delete statistics history older than retention_days"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
