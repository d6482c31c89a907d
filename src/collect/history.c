/* The history batcher and writer (see history.h). */

#include "collect/history.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

#define LOG_MODULE "history"

/* How often the writer applies retention. */
#define PRUNE_INTERVAL_SECONDS 600

/* ---- batcher ---------------------------------------------------------------------------- */

/* The gauges of one reading, in the order of the im_store_history_point_t members. */
enum { G_CPU, G_MEMORY, G_RX_RATE, G_TX_RATE, G_READ_RATE, G_WRITE_RATE, G_PIDS, G_COUNT };

typedef struct {
    double min;
    double max;
    double sum;
} gauge_acc_t;

/* The readings of one series in the current bucket. */
typedef struct {
    char id[IM_STORE_CONTAINER_ID_MAX + 1];
    char name[IM_STORE_CONTAINER_NAME_MAX + 1];
    int64_t samples;
    gauge_acc_t gauges[G_COUNT];
    uint64_t memory_limit;
    uint64_t network_rx;
    uint64_t network_tx;
    uint64_t block_read;
    uint64_t block_write;
} series_acc_t;

struct im_history_batcher {
    int64_t bucket; /* start of the current bucket, Unix seconds; 0: no reading yet */
    series_acc_t *series;
    size_t count;
    size_t capacity;
    size_t hint; /* where the last lookup matched; the sampler keeps its order */
};

im_history_batcher_t *im_history_batcher_new(void)
{
    return im_calloc(1, sizeof(im_history_batcher_t));
}

void im_history_batcher_free(im_history_batcher_t *batcher)
{
    if (batcher) {
        free(batcher->series);
        free(batcher);
    }
}

static int64_t bucket_of(int64_t now_ms)
{
    int64_t seconds = now_ms / 1000;
    return seconds - seconds % IM_HISTORY_POINT_SECONDS;
}

bool im_history_batcher_due(const im_history_batcher_t *batcher, int64_t now_ms)
{
    return batcher->count > 0 && bucket_of(now_ms) != batcher->bucket;
}

/* Returns the accumulator of id, adding an empty one when the bucket has none. */
static series_acc_t *series_for(im_history_batcher_t *batcher, const char *id, const char *name,
                                int64_t now_ms)
{
    if (batcher->count == 0) {
        batcher->bucket = bucket_of(now_ms);
    }
    if (batcher->hint < batcher->count && strcmp(batcher->series[batcher->hint].id, id) == 0) {
        return &batcher->series[batcher->hint++];
    }
    for (size_t i = 0; i < batcher->count; i++) {
        if (strcmp(batcher->series[i].id, id) == 0) {
            batcher->hint = i + 1;
            return &batcher->series[i];
        }
    }
    if (batcher->count == batcher->capacity) {
        batcher->capacity = batcher->capacity ? batcher->capacity * 2 : 64;
        batcher->series = im_realloc(batcher->series, batcher->capacity * sizeof(series_acc_t));
    }
    series_acc_t *acc = &batcher->series[batcher->count++];
    memset(acc, 0, sizeof(*acc));
    im_strlcpy(acc->id, id, sizeof(acc->id));
    im_strlcpy(acc->name, name, sizeof(acc->name));
    batcher->hint = batcher->count;
    return acc;
}

static void add_reading(series_acc_t *acc, const double values[G_COUNT])
{
    for (int g = 0; g < G_COUNT; g++) {
        gauge_acc_t *gauge = &acc->gauges[g];
        if (acc->samples == 0 || values[g] < gauge->min) {
            gauge->min = values[g];
        }
        if (acc->samples == 0 || values[g] > gauge->max) {
            gauge->max = values[g];
        }
        gauge->sum += values[g];
    }
    acc->samples++;
}

void im_history_batcher_add_container(im_history_batcher_t *batcher, const im_sampler_figures_t *f,
                                      int64_t now_ms)
{
    if (!f->sampled || !f->has_rates ||
        (strcmp(f->status, "running") != 0 && strcmp(f->status, "paused") != 0)) {
        return;
    }
    series_acc_t *acc =
        series_for(batcher, f->id, f->name[0] == '/' ? f->name + 1 : f->name, now_ms);
    const double values[G_COUNT] = {
        [G_CPU] = f->cpu_percent,
        [G_MEMORY] = (double)f->memory_used,
        [G_RX_RATE] = f->network_rx_rate,
        [G_TX_RATE] = f->network_tx_rate,
        [G_READ_RATE] = f->block_read_rate,
        [G_WRITE_RATE] = f->block_write_rate,
        [G_PIDS] = (double)f->counters.pids,
    };
    add_reading(acc, values);
    acc->memory_limit = f->counters.memory_limit;
    acc->network_rx = f->network_rx;
    acc->network_tx = f->network_tx;
    acc->block_read = f->counters.blkio_read_bytes;
    acc->block_write = f->counters.blkio_write_bytes;
}

void im_history_batcher_add_host(im_history_batcher_t *batcher, const im_sampler_point_t *point,
                                 double disk_read_rate, double disk_write_rate, int64_t now_ms)
{
    series_acc_t *acc = series_for(batcher, IM_STORE_HOST_SERIES, "host", now_ms);
    const double values[G_COUNT] = {
        [G_CPU] = point->cpu_percent,         [G_MEMORY] = (double)point->memory_used,
        [G_RX_RATE] = point->network_rx_rate, [G_TX_RATE] = point->network_tx_rate,
        [G_READ_RATE] = disk_read_rate,       [G_WRITE_RATE] = disk_write_rate,
        [G_PIDS] = (double)point->pids,
    };
    add_reading(acc, values);
    acc->memory_limit = point->memory_limit;
    acc->network_rx = point->network_rx;
    acc->network_tx = point->network_tx;
    acc->block_read = point->block_read;
    acc->block_write = point->block_write;
}

/* Rounds to `digits` decimals, the precision that the API shows. */
static double round_to(double value, int digits)
{
    double scale = digits == 2 ? 100.0 : 1.0;
    return (double)(int64_t)(value * scale + (value < 0 ? -0.5 : 0.5)) / scale;
}

static im_store_gauge_t finish_gauge(const gauge_acc_t *acc, int64_t samples, int digits)
{
    im_store_gauge_t gauge = {acc->min, acc->max, round_to(acc->sum / (double)samples, digits)};
    return gauge;
}

size_t im_history_batcher_take(im_history_batcher_t *batcher, im_store_history_record_t **out)
{
    size_t n = 0;

    *out = NULL;
    if (batcher->count == 0) {
        return 0;
    }
    im_store_history_record_t *records = im_calloc(batcher->count, sizeof(*records));
    for (size_t i = 0; i < batcher->count; i++) {
        const series_acc_t *acc = &batcher->series[i];
        if (acc->samples == 0) {
            continue;
        }
        im_store_history_record_t *r = &records[n++];
        im_store_history_point_t *p = &r->point;
        im_strlcpy(r->container_id, acc->id, sizeof(r->container_id));
        im_strlcpy(r->name, acc->name, sizeof(r->name));
        p->time = batcher->bucket;
        p->samples = acc->samples;
        /* Means of byte counts and rates are whole numbers, as the schema stores them. */
        p->cpu = finish_gauge(&acc->gauges[G_CPU], acc->samples, 2);
        p->memory = finish_gauge(&acc->gauges[G_MEMORY], acc->samples, 0);
        p->network_rx_rate = finish_gauge(&acc->gauges[G_RX_RATE], acc->samples, 0);
        p->network_tx_rate = finish_gauge(&acc->gauges[G_TX_RATE], acc->samples, 0);
        p->block_read_rate = finish_gauge(&acc->gauges[G_READ_RATE], acc->samples, 0);
        p->block_write_rate = finish_gauge(&acc->gauges[G_WRITE_RATE], acc->samples, 0);
        p->pids = finish_gauge(&acc->gauges[G_PIDS], acc->samples, 2);
        p->memory_limit = acc->memory_limit;
        p->network_rx = acc->network_rx;
        p->network_tx = acc->network_tx;
        p->block_read = acc->block_read;
        p->block_write = acc->block_write;
    }
    batcher->count = 0;
    batcher->hint = 0;
    if (n == 0) {
        free(records);
        return 0;
    }
    *out = records;
    return n;
}

/* ---- writer ----------------------------------------------------------------------------- */

typedef struct {
    im_store_history_record_t *records;
    size_t count;
} batch_t;

struct im_history_writer {
    im_store_t *store;
    int raw_hours;
    int retention_days;

    pthread_t thread;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* a batch arrived or stop was requested */
    pthread_cond_t idle;  /* the queue drained */
    bool stopping;
    bool busy; /* the thread is writing a batch it took from the queue */
    batch_t queue[IM_HISTORY_QUEUE_MAX];
    size_t head;
    size_t queued;
    im_history_writer_stats_t stats;

    /* writer thread only */
    int64_t last_rollup_minute;
    int64_t last_prune;
};

im_store_history_cutoffs_t im_history_cutoffs(int64_t now, int raw_hours, int retention_days)
{
    im_store_history_cutoffs_t cutoffs;
    cutoffs.before[IM_STORE_TIER_10S] = now - (int64_t)raw_hours * 3600;
    cutoffs.before[IM_STORE_TIER_1M] = now - (int64_t)IM_HISTORY_MINUTE_TIER_DAYS * 86400;
    cutoffs.before[IM_STORE_TIER_1H] = now - (int64_t)retention_days * 86400;
    return cutoffs;
}

static void run_prune(im_history_writer_t *writer, int64_t now)
{
    im_store_history_cutoffs_t cutoffs =
        im_history_cutoffs(now, writer->raw_hours, writer->retention_days);
    im_store_history_pruned_t pruned;
    int rc = im_store_history_prune(writer->store, &cutoffs, &pruned);
    writer->last_prune = now;
    if (rc != IM_OK) {
        im_log_warn(LOG_MODULE, "history retention failed (error %d); retrying in %d s", rc,
                    PRUNE_INTERVAL_SECONDS);
        return;
    }
    int64_t total = pruned.points[0] + pruned.points[1] + pruned.points[2];
    pthread_mutex_lock(&writer->lock);
    writer->stats.pruned_points += (uint64_t)total;
    pthread_mutex_unlock(&writer->lock);
    if (total > 0 || pruned.series > 0) {
        im_log_info(LOG_MODULE,
                    "history retention deleted %" PRId64 " 10-second, %" PRId64
                    " 1-minute and %" PRId64 " 1-hour points and %" PRId64 " series",
                    pruned.points[0], pruned.points[1], pruned.points[2], pruned.series);
    }
}

/* Rolls up once per minute: a 10-second point that starts a new minute completes the
 * previous one. */
static void run_rollup(im_history_writer_t *writer, int64_t until)
{
    int64_t minute = until / 60;
    if (minute == writer->last_rollup_minute) {
        return;
    }
    int rc = im_store_history_rollup(writer->store, until);
    if (rc != IM_OK) {
        pthread_mutex_lock(&writer->lock);
        writer->stats.rollup_failures++;
        pthread_mutex_unlock(&writer->lock);
        im_log_warn(LOG_MODULE, "history rollup failed (error %d); the next batch retries", rc);
        return;
    }
    writer->last_rollup_minute = minute;
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void write_batch(im_history_writer_t *writer, batch_t *batch)
{
    int64_t started = monotonic_us();
    int rc = im_store_history_write(writer->store, batch->records, batch->count);
    int64_t elapsed_us = monotonic_us() - started;

    pthread_mutex_lock(&writer->lock);
    if (rc == IM_OK) {
        writer->stats.batches_written++;
        writer->stats.records_written += batch->count;
    } else {
        writer->stats.batches_failed++;
    }
    writer->stats.last_write_us = elapsed_us;
    pthread_mutex_unlock(&writer->lock);
    if (rc != IM_OK) {
        im_log_warn(LOG_MODULE, "writing %zu history points failed (error %d); they are lost",
                    batch->count, rc);
        return;
    }
    run_rollup(writer, batch->records[0].point.time + IM_HISTORY_POINT_SECONDS);
}

static void *writer_main(void *arg)
{
    im_history_writer_t *writer = arg;

    run_rollup(writer, im_now());
    run_prune(writer, im_now());
    pthread_mutex_lock(&writer->lock);
    for (;;) {
        while (writer->queued == 0 && !writer->stopping) {
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 60;
            pthread_cond_timedwait(&writer->wake, &writer->lock, &deadline);
            if (writer->queued == 0 && im_now() - writer->last_prune >= PRUNE_INTERVAL_SECONDS) {
                break;
            }
        }
        if (writer->queued == 0 && writer->stopping) {
            break;
        }
        batch_t batch = {NULL, 0};
        if (writer->queued > 0) {
            batch = writer->queue[writer->head];
            writer->head = (writer->head + 1) % IM_HISTORY_QUEUE_MAX;
            writer->queued--;
            writer->busy = true;
        }
        pthread_mutex_unlock(&writer->lock);

        if (batch.records) {
            write_batch(writer, &batch);
            free(batch.records);
        }
        if (im_now() - writer->last_prune >= PRUNE_INTERVAL_SECONDS) {
            run_prune(writer, im_now());
        }

        pthread_mutex_lock(&writer->lock);
        writer->busy = false;
        if (writer->queued == 0) {
            pthread_cond_broadcast(&writer->idle);
        }
    }
    writer->busy = false;
    pthread_cond_broadcast(&writer->idle);
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

int im_history_writer_start(const im_history_writer_options_t *opts, im_history_writer_t **out,
                            char *err, size_t errlen)
{
    im_history_writer_t *writer = im_calloc(1, sizeof(*writer));
    writer->store = opts->store;
    writer->raw_hours = opts->raw_hours > 0 ? opts->raw_hours : 24;
    writer->retention_days = opts->retention_days > 0 ? opts->retention_days : 90;
    writer->last_rollup_minute = -1;
    pthread_mutex_init(&writer->lock, NULL);
    pthread_cond_init(&writer->wake, NULL);
    pthread_cond_init(&writer->idle, NULL);

    int rc = pthread_create(&writer->thread, NULL, writer_main, writer);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the history writer thread: %s", strerror(rc));
        pthread_cond_destroy(&writer->idle);
        pthread_cond_destroy(&writer->wake);
        pthread_mutex_destroy(&writer->lock);
        free(writer);
        *out = NULL;
        return IM_ERR;
    }
    im_log_info(LOG_MODULE,
                "history writer started: 10-second points kept %d h, 1-minute points %d days, "
                "1-hour points %d days",
                writer->raw_hours, IM_HISTORY_MINUTE_TIER_DAYS, writer->retention_days);
    *out = writer;
    return IM_OK;
}

void im_history_writer_stop(im_history_writer_t *writer)
{
    if (!writer) {
        return;
    }
    pthread_mutex_lock(&writer->lock);
    writer->stopping = true;
    pthread_cond_signal(&writer->wake);
    pthread_mutex_unlock(&writer->lock);
    pthread_join(writer->thread, NULL);

    im_log_info(LOG_MODULE,
                "history writer stopped: %" PRIu64 " batches written, %" PRIu64
                " dropped because the queue was full, %" PRIu64 " failed",
                writer->stats.batches_written, writer->stats.batches_dropped,
                writer->stats.batches_failed);
    pthread_cond_destroy(&writer->idle);
    pthread_cond_destroy(&writer->wake);
    pthread_mutex_destroy(&writer->lock);
    free(writer);
}

bool im_history_writer_submit(im_history_writer_t *writer, im_store_history_record_t *records,
                              size_t count)
{
    bool queued = false;
    uint64_t dropped = 0;

    pthread_mutex_lock(&writer->lock);
    if (writer->queued < IM_HISTORY_QUEUE_MAX && !writer->stopping) {
        size_t tail = (writer->head + writer->queued) % IM_HISTORY_QUEUE_MAX;
        writer->queue[tail] = (batch_t){records, count};
        writer->queued++;
        queued = true;
        pthread_cond_signal(&writer->wake);
    } else {
        writer->stats.batches_dropped++;
        writer->stats.records_dropped += count;
        dropped = writer->stats.batches_dropped;
    }
    pthread_mutex_unlock(&writer->lock);

    if (!queued) {
        free(records);
        /* Log the first drop and then every 100th, so a stuck database does not flood the
         * log. */
        if (dropped % 100 == 1) {
            im_log_warn(LOG_MODULE,
                        "history queue full (%d batches): dropped a batch of %zu points, %" PRIu64
                        " batches dropped so far; the database is too slow or locked",
                        IM_HISTORY_QUEUE_MAX, count, dropped);
        }
    }
    return queued;
}

bool im_history_writer_flush(im_history_writer_t *writer, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    int64_t ns = deadline.tv_nsec + (int64_t)timeout_ms % 1000 * 1000000;
    deadline.tv_sec += timeout_ms / 1000 + ns / 1000000000;
    deadline.tv_nsec = ns % 1000000000;

    bool done = true;
    pthread_mutex_lock(&writer->lock);
    while (writer->queued > 0 || writer->busy) {
        if (pthread_cond_timedwait(&writer->idle, &writer->lock, &deadline) == ETIMEDOUT) {
            done = writer->queued == 0 && !writer->busy;
            break;
        }
    }
    pthread_mutex_unlock(&writer->lock);
    return done;
}

void im_history_writer_get_stats(im_history_writer_t *writer, im_history_writer_stats_t *out)
{
    pthread_mutex_lock(&writer->lock);
    *out = writer->stats;
    out->queued = writer->queued;
    pthread_mutex_unlock(&writer->lock);
}

void im_history_writer_metrics(im_history_writer_t *writer, im_buf_t *out)
{
    im_history_writer_stats_t s;
    im_history_writer_get_stats(writer, &s);
    im_buf_appendf(
        out,
        "# HELP inframon_history_batches_written_total 10-second batches written to the "
        "database.\n"
        "# TYPE inframon_history_batches_written_total counter\n"
        "inframon_history_batches_written_total %" PRIu64 "\n"
        "# HELP inframon_history_batches_dropped_total Batches dropped because the writer's "
        "queue was full.\n"
        "# TYPE inframon_history_batches_dropped_total counter\n"
        "inframon_history_batches_dropped_total %" PRIu64 "\n"
        "# HELP inframon_history_batches_failed_total Batches that the database rejected.\n"
        "# TYPE inframon_history_batches_failed_total counter\n"
        "inframon_history_batches_failed_total %" PRIu64 "\n"
        "# HELP inframon_history_points_written_total History points written.\n"
        "# TYPE inframon_history_points_written_total counter\n"
        "inframon_history_points_written_total %" PRIu64 "\n"
        "# HELP inframon_history_points_pruned_total Points deleted by retention.\n"
        "# TYPE inframon_history_points_pruned_total counter\n"
        "inframon_history_points_pruned_total %" PRIu64 "\n"
        "# HELP inframon_history_rollup_failures_total Rollups that failed.\n"
        "# TYPE inframon_history_rollup_failures_total counter\n"
        "inframon_history_rollup_failures_total %" PRIu64 "\n"
        "# HELP inframon_history_queue_batches Batches waiting for the writer.\n"
        "# TYPE inframon_history_queue_batches gauge\n"
        "inframon_history_queue_batches %zu\n"
        "# HELP inframon_history_write_duration_seconds Duration of the latest batch write.\n"
        "# TYPE inframon_history_write_duration_seconds gauge\n"
        "inframon_history_write_duration_seconds %.6f\n",
        s.batches_written, s.batches_dropped, s.batches_failed, s.records_written, s.pruned_points,
        s.rollup_failures, s.queued, (double)s.last_write_us / 1e6);
}
