#include "collect/collector.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect/events.h"
#include "collect/history.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"

/* Container ids queued by events between two snapshots; a longer burst falls back to a full
 * re-list. */
#define PENDING_MAX 256

/* The state a container event implies, checked after the container is re-read. */
typedef enum {
    EXPECT_NONE,
    EXPECT_PAUSED,  /* "pause" */
    EXPECT_RUNNING, /* "unpause" */
} expect_t;

typedef struct {
    char id[65];
    bool started;
    expect_t expect;
    int rechecks;       /* re-reads done because the engine still listed the old state */
    int64_t recheck_ns; /* monotonic time of the next re-read, for queued rechecks */
} pending_t;

/* Docker 20.10.24 sends "pause" and "unpause" before its container list shows the new state,
 * so a re-read right after the event can still see the old one. Such a container is read
 * again after RECHECK_DELAY_MS, at most RECHECK_MAX times. */
#define RECHECK_DELAY_MS 50
#define RECHECK_MAX      20

/* Maximum number of created but not yet started containers tracked for
 * im_collector_settling(). Past it, every further create makes the whole window count. */
#define UNSTARTED_MAX 32

typedef struct {
    char id[65];
    int64_t created_ms; /* monotonic */
} unstarted_t;

/* The engine's list is read again this often even without events, because its state_text
 * ("Up 5 minutes") ages while nothing happens to the container. Each re-list is one
 * GET /containers/json. */
#define RELIST_INTERVAL_NS ((int64_t)10 * 1000000000)

/* Identical failures are logged once, then again every this many cycles with a count. */
#define REPEAT_LOG_EVERY 300

struct im_collector {
    im_host_sampler_t sampler; /* used by the collector thread only, after start */
    int64_t interval_ns;
    int64_t started_at_ms;

    pthread_t thread;
    pthread_mutex_t control_lock; /* guards stopping */
    pthread_cond_t wake;          /* signalled by stop; uses CLOCK_MONOTONIC */
    bool stopping;
    /* Engine work queued by the events feed and by API actions, guarded by control_lock. */
    bool relist;
    pending_t pending[PENDING_MAX];
    size_t pending_count;
    uint64_t requested_generation;        /* +1 per queued change */
    unstarted_t unstarted[UNSTARTED_MAX]; /* "create" received, no "start" or "destroy" yet */
    size_t unstarted_count;
    int64_t unstarted_overflow_ms; /* monotonic time of the latest untracked create */
    uint64_t applied_generation;   /* requested_generation as of the latest published snapshot */
    pthread_cond_t applied;        /* signalled when applied_generation moves */

    struct im_engine *engine;
    struct im_events *events;
    im_history_writer_t *history;    /* NULL: no database history; borrowed */
    im_history_batcher_t *batcher;   /* collector thread only */
    im_sampler_t *containers;        /* collector thread only, except its history lock */
    bool containers_ready;           /* collector thread only */
    int64_t relisted_ns;             /* collector thread only: monotonic time of the last re-list */
    uint64_t publications;           /* collector thread only: snapshots published */
    pending_t rechecks[PENDING_MAX]; /* collector thread only: containers to read again */
    size_t recheck_count;

    pthread_mutex_t snapshot_lock; /* guards current and stats; held only for a swap or copy */
    im_collector_snapshot_t *current;
    im_collector_stats_t stats;

    /* failure logging state, collector thread only */
    char last_error[512];
    uint64_t failing_cycles;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

/* ---- snapshots ---- */

static void snapshot_free(im_collector_snapshot_t *snapshot)
{
    json_decref(snapshot->system);
    json_decref(snapshot->disk);
    json_decref(snapshot->network);
    json_decref(snapshot->host_info);
    json_decref(snapshot->engine_items);
    json_decref(snapshot->container_items);
    pthread_mutex_destroy(&snapshot->list_lock);
    free(snapshot->containers);
    free(snapshot->containers_body.data);
    free(snapshot->containers_all_body.data);
    free(snapshot->host_metrics.data);
    free(snapshot->system_body.data);
    free(snapshot->disk_body.data);
    free(snapshot->network_body.data);
    free(snapshot);
}

/* Serializes value compactly. 15 significant digits print 12.3 as "12.3" where jansson's
 * default of 17 would print "12.300000000000001". */
static im_collector_body_t serialize(const json_t *value, const char *endpoint)
{
    im_collector_body_t body = {NULL, 0};
    body.data = json_dumps(value, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!body.data) {
        im_log_error("collector", "cannot serialize the %s body", endpoint);
        return body;
    }
    body.len = strlen(body.data);
    return body;
}

/* Appends "name{labels} value" lines of node_exporter's host metrics for GET /metrics. */
static void host_metrics(const im_host_sample_t *cur, im_buf_t *out)
{
    long ticks = sysconf(_SC_CLK_TCK);
    double tick = ticks > 0 ? 1.0 / (double)ticks : 0.01;

    if (cur->has_stat) {
        im_buf_appendf(out, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
                            "# TYPE node_cpu_seconds_total counter\n");
        for (size_t i = 0; i < cur->stat.cpu_count; i++) {
            const im_host_cpu_times_t *t = &cur->stat.cpus[i].times;
            const struct {
                const char *mode;
                uint64_t value;
            } modes[] = {{"user", t->user},       {"nice", t->nice},     {"system", t->system},
                         {"idle", t->idle},       {"iowait", t->iowait}, {"irq", t->irq},
                         {"softirq", t->softirq}, {"steal", t->steal}};
            for (size_t m = 0; m < IM_ARRAY_LEN(modes); m++) {
                im_buf_appendf(out, "node_cpu_seconds_total{cpu=\"%d\",mode=\"%s\"} %.2f\n",
                               cur->stat.cpus[i].id, modes[m].mode, (double)modes[m].value * tick);
            }
        }
        im_buf_appendf(out,
                       "# HELP node_boot_time_seconds Node boot time, in unixtime.\n"
                       "# TYPE node_boot_time_seconds gauge\n"
                       "node_boot_time_seconds %" PRId64 "\n",
                       cur->stat.boot_time);
    }
    if (cur->has_mem) {
        const struct {
            const char *name;
            uint64_t value;
        } mem[] = {{"MemTotal", cur->mem.total},         {"MemFree", cur->mem.free},
                   {"MemAvailable", cur->mem.available}, {"Buffers", cur->mem.buffers},
                   {"Cached", cur->mem.cached},          {"SwapTotal", cur->mem.swap_total},
                   {"SwapFree", cur->mem.swap_free}};
        for (size_t i = 0; i < IM_ARRAY_LEN(mem); i++) {
            im_buf_appendf(out,
                           "# HELP node_memory_%s_bytes Memory information field %s_bytes.\n"
                           "# TYPE node_memory_%s_bytes gauge\nnode_memory_%s_bytes %" PRIu64 "\n",
                           mem[i].name, mem[i].name, mem[i].name, mem[i].name, mem[i].value);
        }
    }
    if (cur->has_load) {
        im_buf_appendf(
            out,
            "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 %.2f\n"
            "# HELP node_load5 5m load average.\n# TYPE node_load5 gauge\nnode_load5 %.2f\n"
            "# HELP node_load15 15m load average.\n# TYPE node_load15 gauge\n"
            "node_load15 %.2f\n",
            cur->load.load1, cur->load.load5, cur->load.load15);
    }
    if (cur->has_net) {
        static const char *const names[] = {"receive_bytes", "transmit_bytes"};
        for (size_t k = 0; k < 2; k++) {
            im_buf_appendf(out,
                           "# HELP node_network_%s_total Network device statistic %s.\n"
                           "# TYPE node_network_%s_total counter\n",
                           names[k], names[k], names[k]);
            for (size_t i = 0; i < cur->net.count; i++) {
                const im_host_iface_t *iface = &cur->net.items[i];
                im_buf_appendf(out, "node_network_%s_total{device=\"%s\"} %" PRIu64 "\n", names[k],
                               iface->name, k == 0 ? iface->rx_bytes : iface->tx_bytes);
            }
        }
    }
    if (cur->has_disks) {
        static const char *const names[] = {"read_bytes", "written_bytes"};
        for (size_t k = 0; k < 2; k++) {
            im_buf_appendf(out,
                           "# HELP node_disk_%s_total The total number of bytes %s.\n"
                           "# TYPE node_disk_%s_total counter\n",
                           names[k], k == 0 ? "read" : "written", names[k]);
            for (size_t i = 0; i < cur->disks.count; i++) {
                const im_host_disk_t *disk = &cur->disks.items[i];
                im_buf_appendf(out, "node_disk_%s_total{device=\"%s\"} %" PRIu64 "\n", names[k],
                               disk->name, k == 0 ? disk->read_bytes : disk->write_bytes);
            }
        }
    }
    if (cur->has_mounts) {
        static const char *const names[] = {"size", "free", "avail"};
        for (size_t k = 0; k < 3; k++) {
            im_buf_appendf(out,
                           "# HELP node_filesystem_%s_bytes Filesystem %s in bytes.\n"
                           "# TYPE node_filesystem_%s_bytes gauge\n",
                           names[k], names[k], names[k]);
            for (size_t i = 0; i < cur->mounts.count; i++) {
                const im_host_mount_t *m = &cur->mounts.items[i];
                if (!m->has_usage || strchr(m->device, '"') || strchr(m->mountpoint, '"') ||
                    strchr(m->device, '\\') || strchr(m->mountpoint, '\\')) {
                    continue;
                }
                uint64_t value = k == 0   ? m->usage.total
                                 : k == 1 ? m->usage.total - m->usage.used
                                          : m->usage.free;
                im_buf_appendf(out,
                               "node_filesystem_%s_bytes{device=\"%s\",fstype=\"%s\","
                               "mountpoint=\"%s\"} %" PRIu64 "\n",
                               names[k], m->device, m->fstype, m->mountpoint, value);
            }
        }
    }
}

/* Builds the GET /api/v1/containers body from items, keeping running ones only unless all. */
static im_collector_body_t containers_body(json_t *items, bool all, const char *timestamp)
{
    json_t *selected = json_array();
    json_int_t running = 0;
    json_int_t stopped = 0;
    json_t *item = NULL;
    size_t index = 0;

    json_array_foreach(items, index, item)
    {
        const char *status = json_string_value(json_object_get(item, "status"));
        bool listed_by_default =
            status && (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0 ||
                       strcmp(status, "restarting") == 0);
        if (!all && !listed_by_default) {
            continue;
        }
        if (status && strcmp(status, "running") == 0) {
            running++;
        } else if (status && (strcmp(status, "exited") == 0 || strcmp(status, "created") == 0 ||
                              strcmp(status, "dead") == 0)) {
            stopped++;
        }
        json_array_append(selected, item);
    }
    size_t total = json_array_size(selected);
    char message[64];
    snprintf(message, sizeof(message), "Found %zu container%s", total, total == 1 ? "" : "s");
    json_t *body = json_pack("{s:b, s:s, s:s, s:{s:o, s:I, s:I, s:I}}", "success", 1, "message",
                             message, "timestamp", timestamp, "data", "containers", selected,
                             "total", (json_int_t)total, "running", running, "stopped", stopped);
    im_collector_body_t out = serialize(body, "/containers");
    json_decref(body);
    return out;
}

static void add_containers(im_collector_t *collector, im_collector_snapshot_t *snapshot)
{
    snapshot->collector_source = "cgroup";
    if (!collector->containers) {
        return;
    }
    snapshot->containers_ready = collector->containers_ready;
    snapshot->collector_source = im_sampler_source(collector->containers);
    snapshot->engine_stats_calls = im_sampler_engine_stats_calls(collector->containers);
    snapshot->container_count = im_sampler_figures(collector->containers, &snapshot->containers);
    snapshot->engine_items = im_sampler_items(collector->containers);
    snapshot->listed_at = im_now();
}

/* Builds the snapshot's list items and bodies once, on the first request that needs them. */
static im_collector_snapshot_t *built_list(const im_collector_snapshot_t *snapshot)
{
    /* Readers share the snapshot as const. Only these lazily built members change, under
     * list_lock, and they stay fixed once built. */
    im_collector_snapshot_t *owned = (im_collector_snapshot_t *)(uintptr_t)snapshot;
    if (atomic_load_explicit(&owned->list_built, memory_order_acquire)) {
        return owned;
    }
    pthread_mutex_lock(&owned->list_lock);
    if (!atomic_load_explicit(&owned->list_built, memory_order_relaxed) && owned->engine_items) {
        json_t *items = json_array();
        for (size_t i = 0; i < owned->container_count; i++) {
            json_t *item = json_array_get(owned->engine_items, i);
            json_array_append_new(items, im_sampler_list_item(item, &owned->containers[i]));
        }
        char timestamp[32];
        im_time_iso8601(owned->listed_at, timestamp);
        owned->containers_body = containers_body(items, false, timestamp);
        owned->containers_all_body = containers_body(items, true, timestamp);
        owned->container_items = items;
    }
    atomic_store_explicit(&owned->list_built, true, memory_order_release);
    pthread_mutex_unlock(&owned->list_lock);
    return owned;
}

json_t *im_collector_snapshot_items(const im_collector_snapshot_t *snapshot)
{
    return built_list(snapshot)->container_items;
}

const im_collector_body_t *im_collector_snapshot_list_body(const im_collector_snapshot_t *snapshot,
                                                           bool all)
{
    im_collector_snapshot_t *owned = built_list(snapshot);
    return all ? &owned->containers_all_body : &owned->containers_body;
}

static im_collector_snapshot_t *build_snapshot(im_collector_t *collector, uint64_t sequence)
{
    const im_host_sample_t *cur = im_host_sampler_current(&collector->sampler);
    const im_host_sample_t *prev = im_host_sampler_previous(&collector->sampler);
    im_collector_snapshot_t *snapshot = im_calloc(1, sizeof(*snapshot));
    pthread_mutex_init(&snapshot->list_lock, NULL);
    atomic_init(&snapshot->list_built, false);

    snapshot->sequence = sequence;
    /* The start time keeps tags of a restarted server from matching older ones. */
    snprintf(snapshot->etag, sizeof(snapshot->etag), "\"%" PRIx64 "-%" PRIu64 "\"",
             (uint64_t)collector->started_at_ms, sequence);
    snapshot->system = im_host_system_json(cur, prev);
    snapshot->disk = im_host_disk_json(cur);
    snapshot->network = im_host_network_json(cur, prev);
    snapshot->host_info = im_host_info_json(cur, &collector->sampler.uname, NULL);
    snapshot->system_body = serialize(snapshot->system, "/stats/system");
    snapshot->disk_body = serialize(snapshot->disk, "/stats/system/disk");
    snapshot->network_body = serialize(snapshot->network, "/stats/system/network");
    add_containers(collector, snapshot);
    im_buf_t metrics;
    im_buf_init(&metrics);
    host_metrics(cur, &metrics);
    snapshot->host_metrics.data = im_buf_detach(&metrics, &snapshot->host_metrics.len);
    atomic_init(&snapshot->refs, 1);
    return snapshot;
}

/* Makes snapshot the current one and drops the collector's reference to the old one. */
static void publish(im_collector_t *collector, im_collector_snapshot_t *snapshot)
{
    pthread_mutex_lock(&collector->snapshot_lock);
    im_collector_snapshot_t *old = collector->current;
    collector->current = snapshot;
    pthread_mutex_unlock(&collector->snapshot_lock);
    im_collector_release(old);
}

const im_collector_snapshot_t *im_collector_acquire(im_collector_t *collector)
{
    pthread_mutex_lock(&collector->snapshot_lock);
    im_collector_snapshot_t *snapshot = collector->current;
    if (snapshot) {
        atomic_fetch_add_explicit(&snapshot->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&collector->snapshot_lock);
    return snapshot;
}

void im_collector_release(const im_collector_snapshot_t *snapshot)
{
    if (!snapshot) {
        return;
    }
    im_collector_snapshot_t *owned = (im_collector_snapshot_t *)(uintptr_t)snapshot;
    if (atomic_fetch_sub_explicit(&owned->refs, 1, memory_order_acq_rel) == 1) {
        snapshot_free(owned);
    }
}

void im_collector_get_stats(im_collector_t *collector, im_collector_stats_t *out)
{
    pthread_mutex_lock(&collector->snapshot_lock);
    *out = collector->stats;
    pthread_mutex_unlock(&collector->snapshot_lock);
}

/* ---- the collection cycle ---- */

/* Logs a failure when it first appears or changes, every REPEAT_LOG_EVERY cycles while it
 * lasts, and once when sampling works again. */
static void log_cycle_result(im_collector_t *collector, int rc, const char *error)
{
    if (rc == IM_OK) {
        if (collector->failing_cycles > 0) {
            im_log_info("collector", "host sampling recovered after %" PRIu64 " failed cycles",
                        collector->failing_cycles);
        }
        collector->failing_cycles = 0;
        collector->last_error[0] = '\0';
        return;
    }
    collector->failing_cycles++;
    if (strcmp(error, collector->last_error) != 0) {
        im_log_warn("collector", "host sampling failed: %s", error);
        im_strlcpy(collector->last_error, error, sizeof(collector->last_error));
    } else if (collector->failing_cycles % REPEAT_LOG_EVERY == 0) {
        im_log_warn("collector", "host sampling still failing after %" PRIu64 " cycles: %s",
                    collector->failing_cycles, error);
    }
}

/* ---- engine changes ---- */

/* Tracks containers between their "create" and "start" (or "destroy") events. Called with
 * control_lock held. */
static void note_unstarted(im_collector_t *collector, const char *id, const char *action)
{
    if (strcmp(action, "create") == 0) {
        if (collector->unstarted_count < UNSTARTED_MAX) {
            unstarted_t *entry = &collector->unstarted[collector->unstarted_count++];
            im_strlcpy(entry->id, id, sizeof(entry->id));
            entry->created_ms = im_monotonic_ms();
        } else {
            collector->unstarted_overflow_ms = im_monotonic_ms();
        }
        return;
    }
    if (strcmp(action, "start") != 0 && strcmp(action, "destroy") != 0) {
        return;
    }
    for (size_t i = 0; i < collector->unstarted_count; i++) {
        if (strcmp(collector->unstarted[i].id, id) == 0) {
            collector->unstarted[i] = collector->unstarted[--collector->unstarted_count];
            return;
        }
    }
}

/* Receives the events feed on its thread: queues the container and wakes the collector. */
static void on_engine_event(void *ctx, int status, json_t *event)
{
    im_collector_t *collector = ctx;

    if (status != IM_OK) {
        return;
    }
    pthread_mutex_lock(&collector->control_lock);
    if (!event) {
        collector->relist = true;
    } else {
        const char *id = json_string_value(json_object_get(json_object_get(event, "Actor"), "ID"));
        const char *action = json_string_value(json_object_get(event, "Action"));
        if (!id || strlen(id) != 64) {
            id = json_string_value(json_object_get(event, "id"));
        }
        if (!id || strlen(id) != 64 || !action) {
            pthread_mutex_unlock(&collector->control_lock);
            return;
        }
        /* exec_* and top events change nothing the list shows. */
        if (strncmp(action, "exec_", 5) == 0 || strcmp(action, "top") == 0 ||
            strcmp(action, "attach") == 0 || strcmp(action, "resize") == 0) {
            pthread_mutex_unlock(&collector->control_lock);
            return;
        }
        note_unstarted(collector, id, action);
        if (collector->pending_count < PENDING_MAX) {
            pending_t *p = &collector->pending[collector->pending_count++];
            im_strlcpy(p->id, id, sizeof(p->id));
            p->started = strcmp(action, "start") == 0;
            p->expect = strcmp(action, "pause") == 0     ? EXPECT_PAUSED
                        : strcmp(action, "unpause") == 0 ? EXPECT_RUNNING
                                                         : EXPECT_NONE;
            p->rechecks = 0;
        } else {
            collector->relist = true;
        }
    }
    collector->requested_generation++;
    pthread_cond_signal(&collector->wake);
    pthread_mutex_unlock(&collector->control_lock);
}

static const char *expected_status(expect_t expect)
{
    return expect == EXPECT_PAUSED ? "paused" : "running";
}

/* Returns true when the container's status is the one its event implies, or when it is
 * gone from the list (removed since). */
static bool status_as_expected(im_collector_t *collector, const pending_t *p)
{
    im_sampler_figures_t *figures = NULL;
    size_t count = im_sampler_figures(collector->containers, &figures);
    bool expected = true;

    for (size_t i = 0; i < count; i++) {
        if (strcmp(figures[i].id, p->id) == 0) {
            expected = strcmp(figures[i].status, expected_status(p->expect)) == 0;
            break;
        }
    }
    free(figures);
    return expected;
}

/* Queues another re-read of p when the engine still lists the state from before its event. */
static void schedule_recheck(im_collector_t *collector, const pending_t *p)
{
    if (p->expect == EXPECT_NONE || status_as_expected(collector, p)) {
        return;
    }
    if (p->rechecks >= RECHECK_MAX || collector->recheck_count == PENDING_MAX) {
        im_log_warn("collector",
                    "container %.12s is still not listed as %s after %d re-reads; the next "
                    "event or the periodic re-list updates it",
                    p->id, expected_status(p->expect), p->rechecks);
        return;
    }
    pending_t *recheck = &collector->rechecks[collector->recheck_count++];
    *recheck = *p;
    recheck->started = false;
    recheck->rechecks++;
    recheck->recheck_ns = monotonic_ns() + (int64_t)RECHECK_DELAY_MS * 1000000;
}

/* Moves the rechecks that are due into the pending queue; returns the earliest time
 * (monotonic ns) of those still waiting, or INT64_MAX. */
static int64_t queue_due_rechecks(im_collector_t *collector)
{
    int64_t now = monotonic_ns();
    int64_t next = INT64_MAX;
    size_t waiting = 0;

    pthread_mutex_lock(&collector->control_lock);
    for (size_t i = 0; i < collector->recheck_count; i++) {
        pending_t *recheck = &collector->rechecks[i];
        if (recheck->recheck_ns > now) {
            next = recheck->recheck_ns < next ? recheck->recheck_ns : next;
            collector->rechecks[waiting++] = *recheck;
        } else if (collector->pending_count < PENDING_MAX) {
            collector->pending[collector->pending_count++] = *recheck;
            collector->requested_generation++;
        } else {
            collector->relist = true;
            collector->requested_generation++;
        }
    }
    collector->recheck_count = waiting;
    pthread_mutex_unlock(&collector->control_lock);
    return next;
}

/* Applies queued changes with engine calls on the collector thread; returns the generation
 * they bring the snapshot to. */
static uint64_t apply_pending(im_collector_t *collector)
{
    pending_t *work = NULL;
    size_t count = 0;
    bool relist = false;
    char err[512];

    pthread_mutex_lock(&collector->control_lock);
    uint64_t generation = collector->requested_generation;
    relist = collector->relist;
    collector->relist = false;
    if (collector->pending_count) {
        count = collector->pending_count;
        work = im_malloc(count * sizeof(*work));
        memcpy(work, collector->pending, count * sizeof(*work));
        collector->pending_count = 0;
    }
    pthread_mutex_unlock(&collector->control_lock);

    if (!collector->containers) {
        free(work);
        return generation;
    }
    /* While the feed is down, list requests read the engine themselves, and a re-list
     * follows the reconnection. */
    if (!relist && monotonic_ns() - collector->relisted_ns >= RELIST_INTERVAL_NS &&
        im_events_connected(collector->events, NULL, 0)) {
        relist = true;
    }
    if (relist) {
        /* A failed re-list is retried at the next interval, not at every publication. */
        collector->relisted_ns = monotonic_ns();
        if (im_sampler_relist(collector->containers, err, sizeof(err)) == IM_OK) {
            collector->containers_ready = true;
        } else {
            im_log_warn("collector", "listing containers failed: %s", err);
        }
    }
    for (size_t i = 0; i < count && collector->containers_ready; i++) {
        if (im_sampler_refresh(collector->containers, work[i].id, work[i].started, err,
                               sizeof(err)) != IM_OK) {
            im_log_warn("collector", "refreshing container %.12s failed: %s", work[i].id, err);
            continue;
        }
        schedule_recheck(collector, &work[i]);
    }
    free(work);
    return generation;
}

static void mark_applied(im_collector_t *collector, uint64_t generation)
{
    pthread_mutex_lock(&collector->control_lock);
    if (generation > collector->applied_generation) {
        collector->applied_generation = generation;
    }
    pthread_cond_broadcast(&collector->applied);
    pthread_mutex_unlock(&collector->control_lock);
}

static im_sampler_point_t host_point(const im_collector_snapshot_t *snapshot)
{
    json_t *system = snapshot->system;
    im_sampler_point_t point = {
        .time_ms = im_now_ms(),
        .cpu_percent = (float)json_number_value(json_object_get(system, "cpu_usage")),
        .network_rx_rate = (float)json_number_value(json_object_get(system, "network_rx_rate")),
        .network_tx_rate = (float)json_number_value(json_object_get(system, "network_tx_rate")),
        .memory_used = (uint64_t)json_integer_value(json_object_get(system, "memory_used")),
        .memory_limit = (uint64_t)json_integer_value(json_object_get(system, "memory_total")),
        .network_rx = (uint64_t)json_integer_value(json_object_get(system, "network_rx")),
        .network_tx = (uint64_t)json_integer_value(json_object_get(system, "network_tx")),
        .block_read = (uint64_t)json_integer_value(json_object_get(system, "disk_read_bytes")),
        .block_write = (uint64_t)json_integer_value(json_object_get(system, "disk_write_bytes")),
    };
    return point;
}

static void push_host_point(im_collector_t *collector, const im_collector_snapshot_t *snapshot)
{
    if (!collector->containers) {
        return;
    }
    im_sampler_point_t point = host_point(snapshot);
    im_sampler_push_host(collector->containers, &point);
}

/* Hands the finished 10-second batch to the history writer, without waiting. */
static void submit_history(im_collector_t *collector)
{
    im_store_history_record_t *records = NULL;
    size_t count = im_history_batcher_take(collector->batcher, &records);
    if (count > 0) {
        im_history_writer_submit(collector->history, records, count);
    }
}

/* Adds the cycle's readings to the current 10-second bucket, after submitting the previous
 * bucket when this cycle starts a new one. */
static void batch_history(im_collector_t *collector, const im_collector_snapshot_t *snapshot)
{
    if (!collector->history) {
        return;
    }
    int64_t now_ms = im_now_ms();
    if (im_history_batcher_due(collector->batcher, now_ms)) {
        submit_history(collector);
    }
    for (size_t i = 0; i < snapshot->container_count; i++) {
        im_history_batcher_add_container(collector->batcher, &snapshot->containers[i], now_ms);
    }
    /* The first snapshot has no rates yet. */
    if (snapshot->sequence > 1) {
        json_t *system = snapshot->system;
        im_sampler_point_t point = host_point(snapshot);
        im_history_batcher_add_host(collector->batcher, &point,
                                    json_number_value(json_object_get(system, "disk_read_rate")),
                                    json_number_value(json_object_get(system, "disk_write_rate")),
                                    now_ms);
    }
}

/* Waits until generation is applied or timeout_ms passes; false on timeout. */
static bool wait_applied(im_collector_t *collector, uint64_t generation, int timeout_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec deadline = ns_to_timespec((int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
                                              (int64_t)timeout_ms * 1000000);
    bool done = true;
    pthread_mutex_lock(&collector->control_lock);
    while (collector->applied_generation < generation && !collector->stopping) {
        if (pthread_cond_timedwait(&collector->applied, &collector->control_lock, &deadline) ==
            ETIMEDOUT) {
            done = collector->applied_generation >= generation;
            break;
        }
    }
    pthread_mutex_unlock(&collector->control_lock);
    return done;
}

bool im_collector_refresh_container(im_collector_t *collector, const char *id, int timeout_ms)
{
    if (!collector->containers || strlen(id) != 64) {
        return true;
    }
    pthread_mutex_lock(&collector->control_lock);
    if (collector->pending_count < PENDING_MAX) {
        pending_t *p = &collector->pending[collector->pending_count++];
        *p = (pending_t){.started = true, .expect = EXPECT_NONE};
        im_strlcpy(p->id, id, sizeof(p->id));
    } else {
        collector->relist = true;
    }
    uint64_t generation = ++collector->requested_generation;
    pthread_cond_signal(&collector->wake);
    pthread_mutex_unlock(&collector->control_lock);
    return wait_applied(collector, generation, timeout_ms);
}

bool im_collector_settling(im_collector_t *collector, int window_ms)
{
    int64_t now = im_monotonic_ms();

    pthread_mutex_lock(&collector->control_lock);
    /* Drop creates older than the window, because such a container was created without a start. */
    for (size_t i = 0; i < collector->unstarted_count;) {
        if (now - collector->unstarted[i].created_ms >= window_ms) {
            collector->unstarted[i] = collector->unstarted[--collector->unstarted_count];
        } else {
            i++;
        }
    }
    bool settling =
        collector->unstarted_count > 0 || (collector->unstarted_overflow_ms != 0 &&
                                           now - collector->unstarted_overflow_ms < window_ms);
    pthread_mutex_unlock(&collector->control_lock);
    return settling;
}

bool im_collector_wait_events(im_collector_t *collector, int timeout_ms)
{
    pthread_mutex_lock(&collector->control_lock);
    uint64_t generation = collector->requested_generation;
    pthread_mutex_unlock(&collector->control_lock);
    return wait_applied(collector, generation, timeout_ms);
}

size_t im_collector_history(im_collector_t *collector, const char *id, int64_t since_ms,
                            im_sampler_point_t **out)
{
    if (!collector->containers) {
        *out = NULL;
        return 0;
    }
    return im_sampler_history(collector->containers, id, since_ms, out);
}

/* Runs one cycle: samples the host, builds and publishes a snapshot. Returns the sampling
 * result, with its message in err. */
static int collect_cycle(im_collector_t *collector, char *err, size_t errlen)
{
    int64_t started = monotonic_ns();

    int rc = im_host_sampler_update(&collector->sampler, err, errlen);
    log_cycle_result(collector, rc, err);

    uint64_t generation = apply_pending(collector);
    if (collector->containers) {
        im_sampler_sample(collector->containers);
    }

    im_collector_snapshot_t *snapshot = build_snapshot(collector, ++collector->publications);
    push_host_point(collector, snapshot);
    batch_history(collector, snapshot);

    int64_t duration_us = (monotonic_ns() - started) / 1000;
    pthread_mutex_lock(&collector->snapshot_lock);
    im_collector_stats_t *stats = &collector->stats;
    stats->cycles++;
    stats->failed_cycles += rc ? 1 : 0;
    stats->overruns += duration_us * 1000 > collector->interval_ns ? 1 : 0;
    stats->last_duration_us = duration_us;
    stats->max_duration_us =
        duration_us > stats->max_duration_us ? duration_us : stats->max_duration_us;
    stats->total_duration_us += duration_us;
    snapshot->stats = *stats;
    pthread_mutex_unlock(&collector->snapshot_lock);

    snapshot->collected_at_ms = im_now_ms();
    publish(collector, snapshot);
    mark_applied(collector, generation);
    return rc;
}

/* Publishes the queued engine changes without a new reading, so that a container started or
 * stopped a moment ago shows in the list at once. */
static void publish_changes(im_collector_t *collector)
{
    uint64_t generation = apply_pending(collector);
    im_collector_snapshot_t *snapshot = build_snapshot(collector, ++collector->publications);

    pthread_mutex_lock(&collector->snapshot_lock);
    snapshot->stats = collector->stats;
    pthread_mutex_unlock(&collector->snapshot_lock);
    snapshot->collected_at_ms = im_now_ms();
    publish(collector, snapshot);
    mark_applied(collector, generation);
}

typedef enum { WAKE_STOP, WAKE_DEADLINE, WAKE_CHANGES } wake_reason_t;

/* Waits until deadline_ns (monotonic), queued engine changes or a stop request. */
static wake_reason_t wait_until(im_collector_t *collector, int64_t deadline_ns)
{
    struct timespec deadline = ns_to_timespec(deadline_ns);
    wake_reason_t reason = WAKE_DEADLINE;
    pthread_mutex_lock(&collector->control_lock);
    for (;;) {
        if (collector->stopping) {
            reason = WAKE_STOP;
            break;
        }
        if (collector->requested_generation > collector->applied_generation) {
            reason = WAKE_CHANGES;
            break;
        }
        int rc = pthread_cond_timedwait(&collector->wake, &collector->control_lock, &deadline);
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&collector->control_lock);
    return reason;
}

/* The thread: runs a cycle at every multiple of the interval after start, so the schedule
 * does not drift with cycle durations. After an overrun it skips the missed deadlines. */
static void *collector_main(void *arg)
{
    im_collector_t *collector = arg;
    char err[512];
    int64_t deadline = monotonic_ns() + collector->interval_ns;

    for (;;) {
        int64_t recheck_at = queue_due_rechecks(collector);
        wake_reason_t reason = wait_until(collector, deadline < recheck_at ? deadline : recheck_at);
        if (reason == WAKE_STOP) {
            break;
        }
        if (reason == WAKE_CHANGES) {
            publish_changes(collector);
            continue;
        }
        if (monotonic_ns() < deadline) {
            continue; /* a recheck is due: the next turn queues it */
        }
        collect_cycle(collector, err, sizeof(err));
        deadline += collector->interval_ns;
        int64_t now = monotonic_ns();
        if (deadline <= now) {
            deadline = now + collector->interval_ns;
        }
    }
    return NULL;
}

/* ---- start and stop ---- */

static int init_sync(im_collector_t *collector, char *err, size_t errlen)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (rc == 0) {
            rc = pthread_cond_init(&collector->wake, &attr);
        }
        /* wait_applied() computes its deadline on CLOCK_MONOTONIC too. */
        if (rc == 0) {
            rc = pthread_cond_init(&collector->applied, &attr);
            if (rc != 0) {
                pthread_cond_destroy(&collector->wake);
            }
        }
        pthread_condattr_destroy(&attr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the collector's condition variables: %s",
                 strerror(rc));
        return IM_ERR;
    }
    pthread_mutex_init(&collector->control_lock, NULL);
    pthread_mutex_init(&collector->snapshot_lock, NULL);
    return IM_OK;
}

int im_collector_start(const im_collector_options_t *opts, im_collector_t **out, char *err,
                       size_t errlen)
{
    im_collector_t *collector = im_calloc(1, sizeof(*collector));
    bool sync_ready = false;
    char cycle_error[512] = "";
    im_host_roots_t roots = {opts->proc_root, opts->sys_root, opts->host_root};
    int interval =
        opts->interval_seconds > 0 ? opts->interval_seconds : IM_COLLECTOR_DEFAULT_INTERVAL_SECONDS;

    *out = NULL;
    collector->interval_ns = (int64_t)interval * 1000000000;
    collector->started_at_ms = im_now_ms();
    collector->history = opts->history;
    collector->batcher = im_history_batcher_new();
    int rc = im_host_sampler_init(&collector->sampler, &roots, err, errlen);
    if (rc) {
        goto out;
    }
    rc = init_sync(collector, err, errlen);
    if (rc) {
        goto out;
    }
    sync_ready = true;

    /* The first cycle runs here so that a snapshot exists before any request. /proc/stat is
     * read first, so when it failed, cycle_error is its message. */
    collect_cycle(collector, cycle_error, sizeof(cycle_error));
    if (!im_host_sampler_current(&collector->sampler)->has_stat) {
        snprintf(err, errlen, "cannot read host statistics under proc root %s: %s",
                 collector->sampler.proc, cycle_error);
        rc = IM_EINVAL;
        goto out;
    }
    if (opts->engine && opts->events) {
        const im_host_sample_t *first = im_host_sampler_current(&collector->sampler);
        im_sampler_options_t sampler_opts = {
            .proc_root = collector->sampler.proc,
            .sys_root = collector->sampler.sys,
            .engine = opts->engine,
            .interval_seconds = interval,
            .online_cpus = first && first->has_stat ? (int)first->stat.cpu_count : 0,
            .host_memory_total = first && first->has_mem ? first->mem.total : 0,
        };
        collector->engine = opts->engine;
        collector->events = opts->events;
        collector->containers = im_sampler_new(&sampler_opts);
    }
    rc = pthread_create(&collector->thread, NULL, collector_main, collector);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the collector thread: %s", strerror(rc));
        rc = IM_ERR;
        goto out;
    }
    if (collector->events &&
        im_events_subscribe(collector->events, on_engine_event, collector) != IM_OK) {
        im_log_warn("collector", "cannot subscribe to engine events: too many subscribers");
    }
    im_log_info("collector",
                "started: interval %d s, proc root %s, sys root %s, host root %s, first cycle "
                "%.2f ms",
                interval, collector->sampler.proc, collector->sampler.sys, collector->sampler.root,
                (double)collector->stats.last_duration_us / 1000.0);
    *out = collector;
    collector = NULL;

out:
    if (collector) {
        im_collector_release(collector->current);
        im_host_sampler_release(&collector->sampler);
        im_sampler_free(collector->containers);
        im_history_batcher_free(collector->batcher);
        if (sync_ready) {
            pthread_cond_destroy(&collector->applied);
            pthread_cond_destroy(&collector->wake);
            pthread_mutex_destroy(&collector->control_lock);
            pthread_mutex_destroy(&collector->snapshot_lock);
        }
        free(collector);
    }
    return rc;
}

void im_collector_stop(im_collector_t *collector)
{
    if (!collector) {
        return;
    }
    if (collector->events) {
        im_events_unsubscribe(collector->events, on_engine_event, collector);
    }
    pthread_mutex_lock(&collector->control_lock);
    collector->stopping = true;
    pthread_cond_signal(&collector->wake);
    pthread_cond_broadcast(&collector->applied);
    pthread_mutex_unlock(&collector->control_lock);
    pthread_join(collector->thread, NULL);
    /* The bucket in progress is written too, so that a restart loses no readings. */
    if (collector->history) {
        submit_history(collector);
    }
    im_history_batcher_free(collector->batcher);

    im_log_info("collector",
                "stopped after %" PRIu64 " cycles (%" PRIu64 " failed, %" PRIu64
                " overruns, max %.2f ms)",
                collector->stats.cycles, collector->stats.failed_cycles, collector->stats.overruns,
                (double)collector->stats.max_duration_us / 1000.0);
    im_collector_release(collector->current);
    im_host_sampler_release(&collector->sampler);
    im_sampler_free(collector->containers);
    pthread_cond_destroy(&collector->applied);
    pthread_cond_destroy(&collector->wake);
    pthread_mutex_destroy(&collector->control_lock);
    pthread_mutex_destroy(&collector->snapshot_lock);
    free(collector);
}
