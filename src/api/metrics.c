/* GET /metrics: Prometheus text format 0.0.4 with cAdvisor's container metric names,
 * node_exporter's host metric names and inframon_* self-metrics, all from the collector's
 * latest snapshot. A bearer token is required unless METRICS_PUBLIC=true. */
#include <dirent.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "collect/collector.h"
#include "collect/events.h"
#include "collect/history.h"
#include "core/util.h"
#include "engine/engine.h"

/* Appends a label value with \, " and newline escaped as the text format requires. */
static void append_label_value(im_buf_t *out, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"') {
            im_buf_append(out, "\\", 1);
            im_buf_append(out, c, 1);
        } else if (*c == '\n') {
            im_buf_append(out, "\\n", 2);
        } else {
            im_buf_append(out, c, 1);
        }
    }
}

static void append_labels(im_buf_t *out, const im_sampler_figures_t *f)
{
    im_buf_appendf(out, "{id=\"/docker/%s\",image=\"", f->id);
    append_label_value(out, f->image);
    im_buf_appendf(out, "\",name=\"");
    append_label_value(out, f->name);
    im_buf_appendf(out, "\"}");
}

typedef enum { VALUE_DOUBLE, VALUE_U64 } value_kind_t;

typedef struct {
    const char *name;
    const char *type;
    const char *help;
} family_t;

/* Returns a family's value for one container's figures. ctx is the family's own data. */
typedef double (*pick_fn_t)(const im_sampler_figures_t *f, const void *ctx);

/* Appends value in the shortest of %.15g to %.17g that reads back as the same double, so
 * 0.8028572040 is not printed as 0.80285720400000005. */
static void append_value(im_buf_t *out, double value)
{
    char text[32];

    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, value);
        if (strtod(text, NULL) == value) {
            break;
        }
    }
    im_buf_appendf(out, " %s\n", text);
}

/* Emits one family over every sampled container. */
static void container_family(im_buf_t *out, const im_collector_snapshot_t *snapshot,
                             const family_t *family, pick_fn_t pick, const void *ctx)
{
    im_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help, family->name,
                   family->type);
    for (size_t i = 0; i < snapshot->container_count; i++) {
        const im_sampler_figures_t *f = &snapshot->containers[i];
        if (!f->sampled) {
            continue;
        }
        im_buf_appendf(out, "%s", family->name);
        append_labels(out, f);
        append_value(out, pick(f, ctx));
    }
}

/* A container family whose value is one uint64_t field of im_sampler_figures_t, divided by
 * divisor to give the family's unit. */
typedef struct {
    family_t family;
    size_t offset;
    double divisor;
} counter_family_t;

/* The offset of a uint64_t field of im_sampler_figures_t. A field of any other type fails
 * to compile, because _Generic then has no matching association. */
#define U64_FIELD(field)                                                                           \
    (offsetof(im_sampler_figures_t, field) +                                                       \
     0 * sizeof(_Generic(((im_sampler_figures_t *)0)->field, uint64_t : 1)))

static double counter_value(const im_sampler_figures_t *f, const void *ctx)
{
    const counter_family_t *counter = ctx;
    uint64_t value;
    memcpy(&value, (const char *)f + counter->offset, sizeof(value));
    return (double)value / counter->divisor;
}

/* Whole seconds since the epoch of the container's latest sample. */
static double last_seen(const im_sampler_figures_t *f, const void *ctx)
{
    (void)ctx;
    return (double)(f->sampled_at_ms / 1000);
}

static void container_metrics(im_buf_t *out, const im_collector_snapshot_t *snapshot)
{
    static const counter_family_t counters[] = {
        {{"container_cpu_usage_seconds_total", "counter",
          "Cumulative cpu time consumed in seconds."},
         U64_FIELD(counters.cpu_usage_ns),
         1e9},
        {{"container_cpu_user_seconds_total", "counter",
          "Cumulative user cpu time consumed in seconds."},
         U64_FIELD(counters.cpu_user_ns),
         1e9},
        {{"container_cpu_system_seconds_total", "counter",
          "Cumulative system cpu time consumed in seconds."},
         U64_FIELD(counters.cpu_system_ns),
         1e9},
        {{"container_cpu_cfs_periods_total", "counter",
          "Number of elapsed enforcement period intervals."},
         U64_FIELD(counters.cpu_periods),
         1},
        {{"container_cpu_cfs_throttled_periods_total", "counter",
          "Number of throttled period intervals."},
         U64_FIELD(counters.cpu_throttled_periods),
         1},
        {{"container_cpu_cfs_throttled_seconds_total", "counter",
          "Total time duration the container has been throttled."},
         U64_FIELD(counters.cpu_throttled_ns),
         1e9},
        {{"container_memory_usage_bytes", "gauge",
          "Current memory usage in bytes, including all memory regardless of when it was "
          "accessed."},
         U64_FIELD(counters.memory_usage),
         1},
        {{"container_memory_working_set_bytes", "gauge", "Current working set in bytes."},
         U64_FIELD(memory_used),
         1},
        {{"container_memory_rss", "gauge", "Size of RSS in bytes."},
         U64_FIELD(counters.memory_rss),
         1},
        {{"container_memory_cache", "gauge", "Number of bytes of page cache memory."},
         U64_FIELD(counters.memory_cache),
         1},
        {{"container_memory_swap", "gauge", "Container swap usage in bytes."},
         U64_FIELD(counters.memory_swap),
         1},
        {{"container_spec_memory_limit_bytes", "gauge",
          "Memory limit for the container, 0 for none."},
         U64_FIELD(counters.memory_limit),
         1},
        {{"container_network_receive_bytes_total", "counter",
          "Cumulative count of bytes received."},
         U64_FIELD(network_rx),
         1},
        {{"container_network_transmit_bytes_total", "counter",
          "Cumulative count of bytes transmitted."},
         U64_FIELD(network_tx),
         1},
        {{"container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read."},
         U64_FIELD(counters.blkio_read_bytes),
         1},
        {{"container_fs_writes_bytes_total", "counter", "Cumulative count of bytes written."},
         U64_FIELD(counters.blkio_write_bytes),
         1},
        {{"container_processes", "gauge", "Number of processes running inside the container."},
         U64_FIELD(counters.pids),
         1},
    };
    static const family_t last_seen_family = {"container_last_seen", "gauge",
                                              "Last time a container was seen by the exporter."};

    for (size_t i = 0; i < IM_ARRAY_LEN(counters); i++) {
        container_family(out, snapshot, &counters[i].family, counter_value, &counters[i]);
    }
    container_family(out, snapshot, &last_seen_family, last_seen, NULL);
}

static void self_metrics(im_buf_t *out, const im_collector_snapshot_t *snapshot, im_app_t *app)
{
    const im_collector_stats_t *s = &snapshot->stats;
    size_t running = 0;

    for (size_t i = 0; i < snapshot->container_count; i++) {
        running += strcmp(snapshot->containers[i].status, "running") == 0 ? 1 : 0;
    }
    im_buf_appendf(out,
                   "# HELP inframon_collector_cycles_total Completed collection cycles.\n"
                   "# TYPE inframon_collector_cycles_total counter\n"
                   "inframon_collector_cycles_total %" PRIu64 "\n"
                   "# HELP inframon_collector_failed_cycles_total Cycles in which a host reader "
                   "failed.\n"
                   "# TYPE inframon_collector_failed_cycles_total counter\n"
                   "inframon_collector_failed_cycles_total %" PRIu64 "\n"
                   "# HELP inframon_collector_overruns_total Cycles longer than the interval.\n"
                   "# TYPE inframon_collector_overruns_total counter\n"
                   "inframon_collector_overruns_total %" PRIu64 "\n"
                   "# HELP inframon_collector_duration_seconds Duration of the latest cycle.\n"
                   "# TYPE inframon_collector_duration_seconds gauge\n"
                   "inframon_collector_duration_seconds %.6f\n"
                   "# HELP inframon_collector_duration_seconds_max Longest cycle since start.\n"
                   "# TYPE inframon_collector_duration_seconds_max gauge\n"
                   "inframon_collector_duration_seconds_max %.6f\n"
                   "# HELP inframon_engine_stats_calls_total Engine stats API calls made by the "
                   "collector (0 while cgroup files are readable).\n"
                   "# TYPE inframon_engine_stats_calls_total counter\n"
                   "inframon_engine_stats_calls_total %" PRIu64 "\n"
                   "# HELP inframon_engine_requests_total Engine API requests and streams "
                   "started by InfraMon, failed ones included.\n"
                   "# TYPE inframon_engine_requests_total counter\n"
                   "inframon_engine_requests_total %" PRIu64 "\n"
                   "# HELP inframon_engine_events_connected 1 while the engine events stream is "
                   "open.\n"
                   "# TYPE inframon_engine_events_connected gauge\n"
                   "inframon_engine_events_connected %d\n"
                   "# HELP inframon_containers Containers the engine lists, by state.\n"
                   "# TYPE inframon_containers gauge\n"
                   "inframon_containers{state=\"running\"} %zu\n"
                   "inframon_containers{state=\"other\"} %zu\n",
                   s->cycles, s->failed_cycles, s->overruns, (double)s->last_duration_us / 1e6,
                   (double)s->max_duration_us / 1e6, snapshot->engine_stats_calls,
                   app->engine ? im_engine_request_count(app->engine) : 0,
                   app->events && im_events_connected(app->events, NULL, 0) ? 1 : 0, running,
                   snapshot->container_count - running);
}

/* Counts the open file descriptors of this process; -1 when /proc/self/fd is unreadable. */
static long open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        return -1;
    }
    long count = 0;
    const struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        count += entry->d_name[0] != '.' ? 1 : 0;
    }
    closedir(dir);
    return count - 1; /* minus the descriptor that opendir opened */
}

/* Appends the process_* metrics that Prometheus client libraries export, from this
 * process's own /proc/self (not HOST_PROC), so that InfraMon's CPU and memory can be
 * graphed beside what it watches. Families whose source is unreadable are left out. */
static void process_metrics(im_buf_t *out, const im_app_t *app)
{
    char stat[1024];
    unsigned long long utime = 0, stime = 0, vsize = 0;
    long long rss_pages = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    stat[n] = '\0';
    /* The command name in field 2 may contain spaces and parentheses, so field 3 starts after
     * the last ")". utime and stime are fields 14 and 15, vsize 23 and rss 24. */
    const char *rest = strrchr(stat, ')');
    if (rest && sscanf(rest + 1,
                       " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                       "%*d %*d %*u %llu %lld",
                       &utime, &stime, &vsize, &rss_pages) == 4) {
        double ticks = (double)sysconf(_SC_CLK_TCK);
        im_buf_appendf(out,
                       "# HELP process_cpu_seconds_total Total user and system CPU time spent "
                       "in seconds.\n"
                       "# TYPE process_cpu_seconds_total counter\n"
                       "process_cpu_seconds_total %.2f\n"
                       "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                       "# TYPE process_resident_memory_bytes gauge\n"
                       "process_resident_memory_bytes %lld\n"
                       "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                       "# TYPE process_virtual_memory_bytes gauge\n"
                       "process_virtual_memory_bytes %llu\n",
                       (double)(utime + stime) / ticks, rss_pages * sysconf(_SC_PAGESIZE), vsize);
    }
    long fds = open_fd_count();
    struct rlimit limit;
    if (fds >= 0 && getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        im_buf_appendf(out,
                       "# HELP process_open_fds Number of open file descriptors.\n"
                       "# TYPE process_open_fds gauge\n"
                       "process_open_fds %ld\n"
                       "# HELP process_max_fds Maximum number of open file descriptors.\n"
                       "# TYPE process_max_fds gauge\n"
                       "process_max_fds %.0f\n",
                       fds, limit.rlim_cur == RLIM_INFINITY ? 1e18 : (double)limit.rlim_cur);
    }
    im_buf_appendf(out,
                   "# HELP process_start_time_seconds Start time of the process since unix "
                   "epoch in seconds.\n"
                   "# TYPE process_start_time_seconds gauge\n"
                   "process_start_time_seconds %" PRId64 "\n",
                   app->started_at);
}

static void get_metrics(im_request_t *req)
{
    im_app_t *app = im_req_app(req);
    im_buf_t out;

    if (!app->config->metrics_public && !im_req_principal(req)) {
        im_resp_error(req, 401,
                      "Not authenticated: /metrics needs a bearer token unless "
                      "METRICS_PUBLIC=true");
        return;
    }
    const im_collector_snapshot_t *snapshot =
        app->collector ? im_collector_acquire(app->collector) : NULL;
    if (!snapshot) {
        im_resp_error(req, 503, "metrics are not available: the collector is not running");
        return;
    }
    im_buf_init(&out);
    container_metrics(&out, snapshot);
    if (snapshot->host_metrics.data) {
        im_buf_append(&out, snapshot->host_metrics.data, snapshot->host_metrics.len);
    }
    self_metrics(&out, snapshot, app);
    process_metrics(&out, app);
    if (app->history) {
        im_history_writer_metrics(app->history, &out);
    }
    im_collector_release(snapshot);
    im_resp_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    im_buf_release(&out);
}

const im_route_t im_api_metrics_routes[] = {
    /* The role check is in get_metrics, because METRICS_PUBLIC decides it at run time. */
    {"GET", "/metrics", IM_ROLE_PUBLIC, get_metrics,
     "Prometheus metrics; needs a bearer token (any role) unless METRICS_PUBLIC=true"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
