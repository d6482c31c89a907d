#ifndef IM_COLLECT_SAMPLER_H
#define IM_COLLECT_SAMPLER_H

/* The container sampler: the table of containers that the engine's list and events feed
 * keep current, one reading of each running container per cycle (cgroup files, or the
 * engine's stats API when they are unreadable), and the last 15 minutes of points per
 * container in ring buffers. Used by the collector thread only, except the history
 * functions, which take their own lock. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collect/cgroup.h"

struct im_engine;

/* In-memory history length: 15 minutes at full resolution. */
#define IM_SAMPLER_HISTORY_SECONDS 900
/* Interval of the engine's stats API fallback. */
#define IM_SAMPLER_ENGINE_STATS_INTERVAL_SECONDS 10

/* The figures of one container in one snapshot, copied out so that readers need no lock. */
typedef struct {
    char id[65];
    char name[256];
    char image[256];
    char status[16]; /* engine state: running, exited, paused, ... */
    bool sampled;    /* counters below are valid */
    bool has_rates;  /* rates and percentages below are valid (two samples seen) */
    int64_t sampled_at_ms;
    im_cgroup_sample_t counters;
    uint64_t network_rx;
    uint64_t network_tx;
    bool network_shared; /* namespace counted under another container or the host's */
    uint64_t memory_used;
    double cpu_percent;       /* of one core, as docker stats */
    double cpu_host_percent;  /* of all online CPUs */
    double cpu_limit_percent; /* of the CPU quota; < 0 without a quota */
    double memory_percent;    /* of the limit, else of host memory; < 0 when unknown */
    double network_rx_rate;
    double network_tx_rate;
    double block_read_rate;
    double block_write_rate;
} im_sampler_figures_t;

/* One history point. */
typedef struct {
    int64_t time_ms;
    float cpu_percent;
    float network_rx_rate;
    float network_tx_rate;
    uint32_t pids;
    uint64_t memory_used;
    uint64_t memory_limit;
    uint64_t network_rx;
    uint64_t network_tx;
    uint64_t block_read;
    uint64_t block_write;
} im_sampler_point_t;

typedef struct im_sampler im_sampler_t;

typedef struct {
    const char *proc_root;
    const char *sys_root;
    struct im_engine *engine; /* borrowed */
    int interval_seconds;
    int online_cpus;
    uint64_t host_memory_total;
} im_sampler_options_t;

im_sampler_t *im_sampler_new(const im_sampler_options_t *opts);
void im_sampler_free(im_sampler_t *sampler);

/* Replaces the table with GET /containers/json?all=1, keeping the history and previous
 * readings of containers that still exist, and inspects running containers whose main pid
 * is unknown. */
int im_sampler_relist(im_sampler_t *sampler, char *err, size_t errlen) IM_WARN_UNUSED;

/* Refreshes one container from a filtered list call; removes it when the engine no longer
 * lists it. With started (a start event or an action), the main pid is inspected again. */
int im_sampler_refresh(im_sampler_t *sampler, const char *id, bool started, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Reads every running container once and appends a history point for each. */
void im_sampler_sample(im_sampler_t *sampler);

/* Appends a host history point (container fields: id "" is the host). */
void im_sampler_push_host(im_sampler_t *sampler, const im_sampler_point_t *point);

/* "cgroup" or "engine-stats". */
const char *im_sampler_source(const im_sampler_t *sampler);

/* Copies out the current figures of every container; the caller frees *out. */
size_t im_sampler_figures(const im_sampler_t *sampler, im_sampler_figures_t **out);

/* Returns a new array holding a reference to the mapped list item of every container, in
 * the order of im_sampler_figures. The items are never changed once made: a new list
 * replaces them. */
json_t *im_sampler_items(const im_sampler_t *sampler);

/* Returns a copy of the list item with cpu_usage, memory_usage and memory_limit filled from
 * the container's figures f (null when there is no reading). */
json_t *im_sampler_list_item(json_t *item, const im_sampler_figures_t *f);

/* Copies the points of container id (NULL: the host) newer than since_ms, oldest first,
 * into *out (the caller frees it). Returns the count; 0 and NULL for an unknown id. */
size_t im_sampler_history(im_sampler_t *sampler, const char *id, int64_t since_ms,
                          im_sampler_point_t **out);

/* Maps one engine stats API reply (stream=false) to the cgroup counters and network totals.
 * precpu_stats is ignored because the collector keeps its own previous reading. */
void im_sampler_map_engine_stats(json_t *stats, im_cgroup_sample_t *out, im_cgroup_net_t *net);

/* Number of engine stats API calls made so far (0 while cgroups are readable). */
uint64_t im_sampler_engine_stats_calls(const im_sampler_t *sampler);

#endif
