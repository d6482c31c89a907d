#ifndef IM_COLLECT_COLLECTOR_H
#define IM_COLLECT_COLLECTOR_H

/* The collector: one thread that samples the host on a fixed schedule and publishes each
 * result as an immutable, reference-counted snapshot. Request handlers read the latest
 * snapshot and never wait for a collection. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collect/host.h"
#include "collect/sampler.h"

struct im_engine;
struct im_events;
struct im_history_writer;

#define IM_COLLECTOR_DEFAULT_INTERVAL_SECONDS 1

typedef struct im_collector im_collector_t;

typedef struct {
    const char *proc_root;    /* NULL or empty: /proc */
    const char *sys_root;     /* NULL or empty: /sys */
    const char *host_root;    /* NULL or empty: / */
    int interval_seconds;     /* <= 0: IM_COLLECTOR_DEFAULT_INTERVAL_SECONDS */
    struct im_engine *engine; /* NULL: host numbers only; borrowed */
    struct im_events *events; /* the engine's events feed; NULL: host numbers only; borrowed */
    /* Receives one batch of 10-second points per bucket; NULL: no database history;
     * borrowed, and must outlive the collector, which submits the last bucket when it stops. */
    struct im_history_writer *history;
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

    /* Containers. containers_ready is false until the engine's list was read once. */
    bool containers_ready;
    const char *collector_source;     /* "cgroup" or "engine-stats" (static string) */
    uint64_t engine_stats_calls;      /* stats API calls so far; 0 while cgroups are readable */
    im_sampler_figures_t *containers; /* every container the engine lists */
    size_t container_count;
    /* Internal: the engine's list items in the order of containers, and what
     * im_collector_snapshot_items and im_collector_snapshot_list_body build from them on
     * first use, under list_lock. */
    json_t *engine_items;
    int64_t listed_at;
    pthread_mutex_t list_lock;
    atomic_bool list_built;
    json_t *container_items;
    im_collector_body_t containers_body;
    im_collector_body_t containers_all_body;
    /* node_exporter-named host metrics in Prometheus text format, for GET /metrics */
    im_collector_body_t host_metrics;

    atomic_int refs; /* internal: references held by the collector and by readers */
} im_collector_snapshot_t;

/* Returns the GET /api/v1/containers item of every container, for filtered requests: an
 * array owned by the snapshot that must not be changed, or NULL before the engine's list
 * was read. Built on the first call for a snapshot, so that a cycle with no list request
 * costs no JSON. */
json_t *im_collector_snapshot_items(const im_collector_snapshot_t *snapshot);

/* Returns the GET /api/v1/containers body without filters: running containers, or all of
 * them. The body is built with the items on first use, and its data is NULL before the
 * engine's list was read. */
const im_collector_body_t *im_collector_snapshot_list_body(const im_collector_snapshot_t *snapshot,
                                                           bool all);

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

/* Makes the collector re-read one container from the engine now (after an action made
 * through the API) and waits, at most timeout_ms, until a snapshot that includes the change
 * is published. Returns false on timeout. */
bool im_collector_refresh_container(im_collector_t *collector, const char *id, int timeout_ms);

/* Waits, at most timeout_ms, until engine events received so far are in a published
 * snapshot. Returns false on timeout. */
bool im_collector_wait_events(im_collector_t *collector, int timeout_ms);

/* Returns true while a container created less than window_ms ago has had neither its
 * "start" nor its "destroy" event. The engine may already have replied to a client's start
 * while the snapshot still shows the container as created. */
bool im_collector_settling(im_collector_t *collector, int window_ms);

/* Copies the in-memory history of container id (full id; NULL: the host) newer than
 * since_ms. See im_sampler_history(). */
size_t im_collector_history(im_collector_t *collector, const char *id, int64_t since_ms,
                            im_sampler_point_t **out);

/* Copies the current self-metrics. */
void im_collector_get_stats(im_collector_t *collector, im_collector_stats_t *out);

#endif
