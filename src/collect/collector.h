#ifndef IM_COLLECT_COLLECTOR_H
#define IM_COLLECT_COLLECTOR_H

/* The collector: one thread that samples the host on a fixed schedule and publishes each
 * result as an immutable, reference-counted snapshot. Request handlers read the latest
 * snapshot and never wait for a collection. */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collect/host.h"

#define IM_COLLECTOR_DEFAULT_INTERVAL_SECONDS 1

typedef struct im_collector im_collector_t;

typedef struct {
    const char *proc_root; /* NULL or empty: /proc */
    const char *sys_root;  /* NULL or empty: /sys */
    const char *host_root; /* NULL or empty: / */
    int interval_seconds;  /* <= 0: IM_COLLECTOR_DEFAULT_INTERVAL_SECONDS */
} im_collector_options_t;

/* Self-metrics of the collection loop. */
typedef struct {
    uint64_t cycles;          /* completed collection cycles, the one in start included */
    uint64_t failed_cycles;   /* cycles in which some part failed to read */
    uint64_t overruns;        /* cycles that took longer than the interval */
    int64_t last_duration_us; /* duration of the latest cycle */
    int64_t max_duration_us;
    int64_t total_duration_us;
} im_collector_stats_t;

/* A serialized JSON body, ready to send. */
typedef struct {
    char *data;
    size_t len;
} im_collector_body_t;

/* One published collection. Every member is immutable once published: readers must not
 * modify the JSON values (take a json_copy or json_deep_copy to change them), and the
 * collector frees the snapshot when the last reference is released. */
typedef struct im_collector_snapshot {
    uint64_t sequence;          /* 1 for the first snapshot, then +1 per cycle */
    int64_t collected_at_ms;    /* wall clock at the end of the cycle */
    char etag[32];              /* quoted entity tag for the bodies of this snapshot */
    im_collector_stats_t stats; /* self-metrics as of this cycle */

    /* /stats/system, /stats/system/disk and /stats/system/network, as objects and as
     * compact JSON text. */
    json_t *system;
    json_t *disk;
    json_t *network;
    im_collector_body_t system_body;
    im_collector_body_t disk_body;
    im_collector_body_t network_body;

    /* /stats/system/info without the engine part: "engine" is null, and the handler fills
     * it in a copy. */
    json_t *host_info;

    /* TODO: container samples (cgroup readers) join the snapshot here; see collect_cycle()
     * in collector.c for where they are taken. */

    atomic_int refs; /* internal: references held by the collector and by readers */
} im_collector_snapshot_t;

/* Starts the collector: takes the first sample at once (so a snapshot exists when this
 * returns, with null rates), then starts the thread. Returns IM_EINVAL with a message naming
 * the path when <proc>/stat cannot be read, because then the proc root is wrong. */
int im_collector_start(const im_collector_options_t *opts, im_collector_t **out, char *err,
                       size_t errlen);

/* Stops the thread (wakes it at once, without waiting for the interval), joins it and frees
 * the collector. Snapshots that readers still hold stay valid until released. NULL is
 * accepted. */
void im_collector_stop(im_collector_t *collector);

/* Returns the latest snapshot with a reference the caller must give back with
 * im_collector_release(), or NULL when none was published. Never waits for a collection. */
const im_collector_snapshot_t *im_collector_acquire(im_collector_t *collector);

/* Releases a reference taken by im_collector_acquire(); NULL is accepted. */
void im_collector_release(const im_collector_snapshot_t *snapshot);

/* Copies the current self-metrics. */
void im_collector_get_stats(im_collector_t *collector, im_collector_stats_t *out);

#endif
