#ifndef IM_COLLECT_HISTORY_H
#define IM_COLLECT_HISTORY_H

/* The database side of the statistics history.
 *
 * The collector adds every cycle's readings to an im_history_batcher_t, which turns them
 * into one 10-second point per container and one for the host. Each completed 10-second
 * bucket goes, as one batch, to the im_history_writer_t: a thread that owns the writes,
 * applies each batch in one transaction, rolls the points up into the 1-minute and 1-hour
 * tiers and deletes points past their retention. The collector never waits for SQLite: the
 * queue between them is bounded, and a batch that finds it full is dropped and counted.
 *
 * The query helpers pick a tier for a range and downsample the points of a query to a
 * maximum count. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collect/sampler.h"
#include "store/store.h"

/* Resolution of the points that the collector queues. */
#define IM_HISTORY_POINT_SECONDS 10
/* How long the 1-minute tier is kept. */
#define IM_HISTORY_MINUTE_TIER_DAYS 7
/* Batches that may wait for the writer: 32 batches are 5 minutes 20 s of points. */
#define IM_HISTORY_QUEUE_MAX 32

/* Returns the resolution of a tier in seconds (10, 60 or 3600). */
int64_t im_history_tier_seconds(im_store_tier_t tier);

/* Returns the name of a tier: "10s", "1m" or "1h". */
const char *im_history_tier_name(im_store_tier_t tier);

/* Picks the finest tier whose retention covers a range that ends now: the 10-second tier
 * up to raw_hours hours, the 1-minute tier up to 7 days, else the 1-hour tier. */
im_store_tier_t im_history_pick_tier(int64_t range_seconds, int raw_hours);

/* Picks the tier that a query of max_points buckets over a range that ends now reads: the
 * tier of im_history_pick_tier, except that the 1-minute tier replaces the 10-second tier
 * when the buckets are at least a minute wide and the range is within 7 days. The buckets
 * then have the same min, max and mean from a sixth of the rows, and the in-memory points
 * cover the minute or so that the rollup lags behind. */
im_store_tier_t im_history_pick_query_tier(int64_t range_seconds, int raw_hours, size_t max_points);

/* Merges time-ordered points into at most max_points buckets covering [since, until). A
 * bucket is `width` seconds long, a multiple of resolution chosen as small as max_points
 * allows, and starts at a multiple of width. It keeps the min of the mins, the max of the
 * maxes, the mean weighted by samples and the counters of its latest point. Empty buckets
 * are left out. Returns the bucket count; *out (free()) gets the buckets and *width_out
 * (may be NULL) the width. */
size_t im_history_downsample(const im_store_history_point_t *points, size_t count, int64_t since,
                             int64_t until, int64_t resolution, size_t max_points,
                             im_store_history_point_t **out, int64_t *width_out);

/* Converts in-memory points (one reading each) to history points of one sample. Block I/O
 * rates come from the counters of consecutive points. *out is freed with free(). */
size_t im_history_from_memory(const im_sampler_point_t *points, size_t count,
                              im_store_history_point_t **out);

/* ---- batcher (collector thread only) ---------------------------------------------------- */

typedef struct im_history_batcher im_history_batcher_t;

im_history_batcher_t *im_history_batcher_new(void);
void im_history_batcher_free(im_history_batcher_t *batcher);

/* Adds one reading of a container. Figures without rates (the first reading) or of a
 * container that is not running or paused are skipped. */
void im_history_batcher_add_container(im_history_batcher_t *batcher, const im_sampler_figures_t *f,
                                      int64_t now_ms);

/* Adds one reading of the host, converted like a container's. */
void im_history_batcher_add_host(im_history_batcher_t *batcher, const im_sampler_point_t *point,
                                 double disk_read_rate, double disk_write_rate, int64_t now_ms);

/* Returns true when a reading taken at now_ms falls in a later 10-second bucket than the
 * readings added so far, so the caller should take the batch first. */
bool im_history_batcher_due(const im_history_batcher_t *batcher, int64_t now_ms);

/* Moves the accumulated points into a new array of records (one per series with readings)
 * and starts a new bucket. Returns the count; *out is NULL when there is nothing. */
size_t im_history_batcher_take(im_history_batcher_t *batcher, im_store_history_record_t **out);

/* ---- writer ----------------------------------------------------------------------------- */

typedef struct im_history_writer im_history_writer_t;

typedef struct {
    im_store_t *store;  /* borrowed */
    int raw_hours;      /* RETENTION_RAW_HOURS: 10-second points kept */
    int retention_days; /* RETENTION_DAYS: 1-hour points kept */
} im_history_writer_options_t;

/* Self-metrics of the writer. */
typedef struct {
    uint64_t batches_written;
    uint64_t batches_dropped; /* the queue was full */
    uint64_t batches_failed;  /* the store returned an error */
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t rollup_failures;
    uint64_t pruned_points;
    size_t queued; /* batches waiting now */
    int64_t last_write_us;
} im_history_writer_stats_t;

/* Starts the writer thread. It rolls up and prunes once at start. */
int im_history_writer_start(const im_history_writer_options_t *opts, im_history_writer_t **out,
                            char *err, size_t errlen);

/* Writes the batches still queued, stops the thread and frees the writer. NULL is accepted. */
void im_history_writer_stop(im_history_writer_t *writer);

/* Queues one batch without waiting; takes ownership of records (allocated with malloc).
 * Returns false, and frees records, when the queue is full. */
bool im_history_writer_submit(im_history_writer_t *writer, im_store_history_record_t *records,
                              size_t count);

/* Waits until every batch queued so far is written, at most timeout_ms. Returns false on
 * timeout. */
bool im_history_writer_flush(im_history_writer_t *writer, int timeout_ms);

void im_history_writer_get_stats(im_history_writer_t *writer, im_history_writer_stats_t *out);

/* Appends the writer's self-metrics (inframon_history_*) in Prometheus text format. */
void im_history_writer_metrics(im_history_writer_t *writer, im_buf_t *out);

/* Returns the cut-offs that the retention settings give at time now. */
im_store_history_cutoffs_t im_history_cutoffs(int64_t now, int raw_hours, int retention_days);

#endif
