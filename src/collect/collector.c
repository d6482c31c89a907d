#include "collect/collector.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

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

static im_collector_snapshot_t *build_snapshot(im_collector_t *collector, uint64_t sequence)
{
    const im_host_sample_t *cur = im_host_sampler_current(&collector->sampler);
    const im_host_sample_t *prev = im_host_sampler_previous(&collector->sampler);
    im_collector_snapshot_t *snapshot = im_calloc(1, sizeof(*snapshot));

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

/* Runs one cycle: samples the host, builds and publishes a snapshot. Returns the sampling
 * result, with its message in err. */
static int collect_cycle(im_collector_t *collector, char *err, size_t errlen)
{
    int64_t started = monotonic_ns();

    int rc = im_host_sampler_update(&collector->sampler, err, errlen);
    log_cycle_result(collector, rc, err);

    /* TODO: sample the containers here (cgroup files, with the engine's stats API as the
     * fallback), add them to the snapshot and queue the cycle's batch for the store. */

    pthread_mutex_lock(&collector->snapshot_lock);
    uint64_t sequence = collector->stats.cycles + 1;
    pthread_mutex_unlock(&collector->snapshot_lock);
    im_collector_snapshot_t *snapshot = build_snapshot(collector, sequence);

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
    return rc;
}

/* Waits until deadline_ns (monotonic) or a stop request. Returns false when stopping. */
static bool wait_until(im_collector_t *collector, int64_t deadline_ns)
{
    struct timespec deadline = ns_to_timespec(deadline_ns);
    pthread_mutex_lock(&collector->control_lock);
    while (!collector->stopping) {
        int rc = pthread_cond_timedwait(&collector->wake, &collector->control_lock, &deadline);
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    bool keep_running = !collector->stopping;
    pthread_mutex_unlock(&collector->control_lock);
    return keep_running;
}

/* The thread: runs a cycle at every multiple of the interval after start, so the schedule
 * does not drift with cycle durations. After an overrun it skips the missed deadlines. */
static void *collector_main(void *arg)
{
    im_collector_t *collector = arg;
    char err[512];
    int64_t deadline = monotonic_ns() + collector->interval_ns;

    while (wait_until(collector, deadline)) {
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
        pthread_condattr_destroy(&attr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the collector's condition variable: %s", strerror(rc));
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
    rc = pthread_create(&collector->thread, NULL, collector_main, collector);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the collector thread: %s", strerror(rc));
        rc = IM_ERR;
        goto out;
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
        if (sync_ready) {
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
    pthread_mutex_lock(&collector->control_lock);
    collector->stopping = true;
    pthread_cond_signal(&collector->wake);
    pthread_mutex_unlock(&collector->control_lock);
    pthread_join(collector->thread, NULL);

    im_log_info("collector",
                "stopped after %" PRIu64 " cycles (%" PRIu64 " failed, %" PRIu64
                " overruns, max %.2f ms)",
                collector->stats.cycles, collector->stats.failed_cycles, collector->stats.overruns,
                (double)collector->stats.max_duration_us / 1000.0);
    im_collector_release(collector->current);
    im_host_sampler_release(&collector->sampler);
    pthread_cond_destroy(&collector->wake);
    pthread_mutex_destroy(&collector->control_lock);
    pthread_mutex_destroy(&collector->snapshot_lock);
    free(collector);
}
