#include "collect/sampler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collect/point_ring.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

typedef struct {
    char id[IM_CONTAINER_ID_SIZE];
    json_t *item; /* mapped list item, without stats */
    int pid;
    uint64_t pid_start_ticks; /* start time of pid after boot, from /proc/<pid>/stat */
    bool has_prev;
    int64_t prev_ns; /* monotonic time of the previous reading */
    im_cgroup_sample_t prev;
    im_cgroup_net_t net_prev;
    int64_t last_engine_stats_ms;
    im_cgroup_files_t files;
    im_cgroup_net_file_t net_file; /* /proc/<pid>/net/dev, open while the container runs */
    im_sampler_figures_t figures;
    im_point_ring_t ring;
} entry_t;

struct im_sampler {
    char proc_root[512];
    struct im_engine *engine;
    im_cgroup_layout_t layout;
    int interval_seconds;
    int online_cpus;
    uint64_t host_memory_total;
    bool engine_stats_mode;
    bool logged_fallback;
    uint64_t engine_stats_calls;
    uint64_t cgroup_reads;     /* successful cgroup readings since start */
    uint64_t host_netns_inode; /* of <proc>/1/ns/net; 0 when unreadable */

    entry_t *entries;
    size_t count;
    size_t capacity;

    pthread_mutex_t history_lock; /* guards every ring, host's included, and entry removal */
    im_point_ring_t host_ring;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *item_string(json_t *item, const char *key)
{
    const char *value = json_string_value(json_object_get(item, key));
    return value ? value : "";
}

/* ---- rings ---- */

static size_t ring_capacity(const im_sampler_t *sampler)
{
    return (size_t)(IM_SAMPLER_HISTORY_SECONDS / sampler->interval_seconds) + 1;
}

/* ---- the table ---- */

/* Descriptors the sampler keeps open per running container (cgroup v1 files and net/dev),
 * and the open files limit below which a warning names the container count it allows. */
#define FILES_PER_CONTAINER 8
#define OPEN_FILES_WANTED   16384

/* Raises the soft limit on open files to the hard limit: the sampler keeps about eight
 * descriptors open per running container, and 1024 (a common soft limit) would run out near
 * 120 containers. Every poller in the process uses epoll or poll, never select, so
 * descriptors above FD_SETSIZE are safe. */
static void raise_open_files_limit(void)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t previous = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            im_log_warn("sampler", "cannot raise the open files limit from %llu: %s",
                        (unsigned long long)previous, strerror(errno));
            limit.rlim_cur = previous;
        }
    }
    // NOTE: past the limit, opens fail with EMFILE, so containers whose files cannot be
    // opened are skipped each cycle. This warning is the only sign of it.
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < OPEN_FILES_WANTED) {
        im_log_warn("sampler",
                    "the open files limit is %llu; the collector keeps about %d files open per "
                    "running container, so it can sample about %llu containers; raise the hard "
                    "limit (ulimit -Hn) to watch more",
                    (unsigned long long)limit.rlim_cur, FILES_PER_CONTAINER,
                    (unsigned long long)(limit.rlim_cur / FILES_PER_CONTAINER));
    }
}

static uint64_t read_host_netns_inode(const char *proc_root)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof(path), "%s/1/ns/net", proc_root);
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

im_sampler_t *im_sampler_new(const im_sampler_options_t *opts)
{
    im_sampler_t *sampler = im_calloc(1, sizeof(*sampler));
    im_strlcpy(sampler->proc_root,
               opts->proc_root && opts->proc_root[0] ? opts->proc_root : "/proc",
               sizeof(sampler->proc_root));
    sampler->engine = opts->engine;
    sampler->interval_seconds = opts->interval_seconds > 0 ? opts->interval_seconds : 1;
    sampler->online_cpus = opts->online_cpus > 0 ? opts->online_cpus : 1;
    sampler->host_memory_total = opts->host_memory_total;
    im_cgroup_detect(opts->sys_root, &sampler->layout);
    sampler->host_netns_inode = read_host_netns_inode(sampler->proc_root);
    raise_open_files_limit();
    pthread_mutex_init(&sampler->history_lock, NULL);
    if (sampler->layout.version == IM_CGROUP_NONE) {
        sampler->engine_stats_mode = true;
    }
    return sampler;
}

static void entry_release(entry_t *entry)
{
    json_decref(entry->item);
    im_point_ring_free(&entry->ring);
    im_cgroup_files_close(&entry->files);
    im_cgroup_net_close(&entry->net_file);
}

void im_sampler_free(im_sampler_t *sampler)
{
    if (!sampler) {
        return;
    }
    for (size_t i = 0; i < sampler->count; i++) {
        entry_release(&sampler->entries[i]);
    }
    free(sampler->entries);
    im_point_ring_free(&sampler->host_ring);
    pthread_mutex_destroy(&sampler->history_lock);
    free(sampler);
}

static entry_t *find_entry(im_sampler_t *sampler, const char *id)
{
    for (size_t i = 0; i < sampler->count; i++) {
        if (strcmp(sampler->entries[i].id, id) == 0) {
            return &sampler->entries[i];
        }
    }
    return NULL;
}

static entry_t *add_entry(im_sampler_t *sampler, const char *id)
{
    pthread_mutex_lock(&sampler->history_lock);
    if (sampler->count == sampler->capacity) {
        sampler->capacity = sampler->capacity ? sampler->capacity * 2 : 16;
        sampler->entries = im_realloc(sampler->entries, sampler->capacity * sizeof(entry_t));
    }
    entry_t *entry = &sampler->entries[sampler->count++];
    memset(entry, 0, sizeof(*entry));
    entry->net_file.fd = -1;
    im_strlcpy(entry->id, id, sizeof(entry->id));
    pthread_mutex_unlock(&sampler->history_lock);
    return entry;
}

// NOTE: a removed container's in-memory history goes with it; the database tiers are meant
// to keep it.
static void remove_entry(im_sampler_t *sampler, size_t index)
{
    pthread_mutex_lock(&sampler->history_lock);
    entry_release(&sampler->entries[index]);
    sampler->entries[index] = sampler->entries[--sampler->count];
    pthread_mutex_unlock(&sampler->history_lock);
}

/* Sets the entry's mapped item and copies its names into the figures. */
static void set_item(entry_t *entry, json_t *item)
{
    json_decref(entry->item);
    entry->item = item;
    im_strlcpy(entry->figures.id, entry->id, sizeof(entry->figures.id));
    im_strlcpy(entry->figures.name, item_string(item, "name"), sizeof(entry->figures.name));
    im_strlcpy(entry->figures.image, item_string(item, "image"), sizeof(entry->figures.image));
    im_strlcpy(entry->figures.status, item_string(item, "status"), sizeof(entry->figures.status));
}

static bool is_running(const entry_t *entry)
{
    return strcmp(entry->figures.status, "running") == 0;
}

/* Reads field 22 (starttime) of <proc>/<pid>/stat; UINT64_MAX when unreadable. */
static uint64_t read_start_ticks(const char *proc_root, int pid)
{
    char path[600];
    char text[1024];
    uint64_t ticks = UINT64_MAX;

    snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return ticks;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name in brackets may hold spaces: count fields after its last ')'. */
    char *field = strrchr(text, ')');
    for (int i = 2; field && i < 22; i++) {
        field = strchr(field + 1, ' ');
    }
    if (field) {
        ticks = strtoull(field + 1, NULL, 10);
    }
    return ticks;
}

/* Reads the main pid of a running container with one inspect. */
static void inspect_pid(im_sampler_t *sampler, entry_t *entry)
{
    char path[128];
    char err[512];
    json_t *inspect = NULL;

    snprintf(path, sizeof(path), "/containers/%s/json", entry->id);
    if (im_engine_get_json(sampler->engine, path, &inspect, err, sizeof(err)) != IM_OK) {
        im_log_warn("sampler", "inspect of container %.12s for its pid failed: %s", entry->id, err);
        entry->pid = 0;
        return;
    }
    json_t *pid = json_object_get(json_object_get(inspect, "State"), "Pid");
    im_cgroup_net_close(&entry->net_file);
    entry->pid = (int)json_integer_value(pid);
    entry->pid_start_ticks = read_start_ticks(sampler->proc_root, entry->pid);
    json_decref(inspect);
}

/* Drops previous readings when a container stops, so the next start begins fresh rates, and
 * closes its files: a restarted container gets new cgroup directories and a new namespace. */
static void reset_readings(entry_t *entry)
{
    im_cgroup_files_close(&entry->files);
    im_cgroup_net_close(&entry->net_file);
    entry->has_prev = false;
    entry->pid = 0;
    entry->figures.sampled = false;
    entry->figures.has_rates = false;
}

static void apply_item(im_sampler_t *sampler, json_t *item, bool started)
{
    const char *id = item_string(item, "container_id");
    entry_t *entry = find_entry(sampler, id);
    bool was_running = entry && is_running(entry);

    if (!entry) {
        entry = add_entry(sampler, id);
    }
    /* Every event of a container reopens its cgroup files, so limits changed by
     * `docker update` are read at once. */
    im_cgroup_files_close(&entry->files);
    set_item(entry, item);
    if (!is_running(entry)) {
        if (strcmp(entry->figures.status, "paused") != 0) {
            reset_readings(entry);
        }
        return;
    }
    if (started || !was_running || entry->pid <= 0) {
        if (started) {
            reset_readings(entry);
        }
        inspect_pid(sampler, entry);
    }
}

int im_sampler_relist(im_sampler_t *sampler, char *err, size_t errlen)
{
    json_t *items = NULL;
    json_t *item = NULL;
    size_t index = 0;

    int rc = im_container_list(sampler->engine, true, &items, err, errlen);
    if (rc) {
        return rc;
    }
    for (size_t i = sampler->count; i-- > 0;) {
        bool listed = false;
        json_array_foreach(items, index, item)
        {
            if (strcmp(item_string(item, "container_id"), sampler->entries[i].id) == 0) {
                listed = true;
                break;
            }
        }
        if (!listed) {
            remove_entry(sampler, i);
        }
    }
    json_array_foreach(items, index, item)
    {
        apply_item(sampler, json_incref(item), false);
    }
    json_decref(items);
    return IM_OK;
}

int im_sampler_refresh(im_sampler_t *sampler, const char *id, bool started, char *err,
                       size_t errlen)
{
    char path[256];
    json_t *raw = NULL;

    /* filters={"id":["<id>"]} matches id prefixes, so the full id is compared below. */
    snprintf(path, sizeof(path),
             "/containers/json?all=1&filters=%%7B%%22id%%22%%3A%%5B%%22%s%%22%%5D%%7D", id);
    int rc = im_engine_get_json(sampler->engine, path, &raw, err, errlen);
    if (rc) {
        return rc;
    }
    json_t *found = NULL;
    json_t *item = NULL;
    size_t index = 0;
    json_array_foreach(raw, index, item)
    {
        json_t *mapped = im_container_map_list_item(item);
        if (mapped && strcmp(item_string(mapped, "container_id"), id) == 0) {
            found = mapped;
            break;
        }
        json_decref(mapped);
    }
    json_decref(raw);
    if (found) {
        apply_item(sampler, found, started);
        return IM_OK;
    }
    for (size_t i = 0; i < sampler->count; i++) {
        if (strcmp(sampler->entries[i].id, id) == 0) {
            remove_entry(sampler, i);
            break;
        }
    }
    return IM_OK;
}

/* ---- the engine's stats API, when cgroup files are unreadable ---- */

static uint64_t json_u64(json_t *object, const char *key)
{
    json_int_t value = json_integer_value(json_object_get(object, key));
    return value > 0 ? (uint64_t)value : 0;
}

void im_sampler_map_engine_stats(json_t *stats, im_cgroup_sample_t *out, im_cgroup_net_t *net)
{
    json_t *cpu = json_object_get(stats, "cpu_stats");
    json_t *usage = json_object_get(cpu, "cpu_usage");
    json_t *memory = json_object_get(stats, "memory_stats");
    json_t *memory_stats = json_object_get(memory, "stats");
    json_t *throttling = json_object_get(cpu, "throttling_data");

    memset(out, 0, sizeof(*out));
    memset(net, 0, sizeof(*net));
    out->has_cpu = usage != NULL;
    out->cpu_usage_ns = json_u64(usage, "total_usage");
    out->cpu_user_ns = json_u64(usage, "usage_in_usermode");
    out->cpu_system_ns = json_u64(usage, "usage_in_kernelmode");
    out->cpu_periods = json_u64(throttling, "periods");
    out->cpu_throttled_periods = json_u64(throttling, "throttled_periods");
    out->cpu_throttled_ns = json_u64(throttling, "throttled_time");

    out->has_memory = json_object_get(memory, "usage") != NULL;
    out->memory_usage = json_u64(memory, "usage");
    out->memory_limit = json_u64(memory, "limit");
    /* cgroup v1 reports total_inactive_file, v2 inactive_file. */
    out->memory_inactive_file = json_object_get(memory_stats, "total_inactive_file")
                                    ? json_u64(memory_stats, "total_inactive_file")
                                    : json_u64(memory_stats, "inactive_file");
    out->memory_rss = json_u64(memory_stats, "total_rss") + json_u64(memory_stats, "anon");
    out->memory_cache = json_u64(memory_stats, "total_cache") + json_u64(memory_stats, "file");
    out->memory_swap = json_u64(memory_stats, "total_swap");

    json_t *io =
        json_object_get(json_object_get(stats, "blkio_stats"), "io_service_bytes_recursive");
    json_t *entry = NULL;
    size_t index = 0;
    out->has_blkio = true;
    json_array_foreach(io, index, entry)
    {
        const char *op = json_string_value(json_object_get(entry, "op"));
        if (op && strcasecmp(op, "read") == 0) {
            out->blkio_read_bytes += json_u64(entry, "value");
        } else if (op && strcasecmp(op, "write") == 0) {
            out->blkio_write_bytes += json_u64(entry, "value");
        }
    }
    out->has_pids = true;
    out->pids = json_u64(json_object_get(stats, "pids_stats"), "current");

    const char *key = NULL;
    json_t *iface = NULL;
    json_object_foreach(json_object_get(stats, "networks"), key, iface)
    {
        net->has_net = true;
        net->rx_bytes += json_u64(iface, "rx_bytes");
        net->tx_bytes += json_u64(iface, "tx_bytes");
        net->rx_packets += json_u64(iface, "rx_packets");
        net->tx_packets += json_u64(iface, "tx_packets");
    }
}

static bool read_engine_stats(im_sampler_t *sampler, entry_t *entry, im_cgroup_sample_t *out,
                              im_cgroup_net_t *net)
{
    char path[160];
    char err[512];
    json_t *stats = NULL;
    int64_t now = im_monotonic_ms();

    if (entry->has_prev &&
        now - entry->last_engine_stats_ms < IM_SAMPLER_ENGINE_STATS_INTERVAL_SECONDS * 1000) {
        return false;
    }
    entry->last_engine_stats_ms = now;
    snprintf(path, sizeof(path), "/containers/%s/stats?stream=false&one-shot=true", entry->id);
    sampler->engine_stats_calls++;
    if (im_engine_get_json(sampler->engine, path, &stats, err, sizeof(err)) != IM_OK) {
        im_log_warn("sampler", "stats of container %.12s failed: %s", entry->id, err);
        return false;
    }
    im_sampler_map_engine_stats(stats, out, net);
    json_decref(stats);
    return true;
}

/* ---- sampling ---- */

static void compute_figures(im_sampler_t *sampler, entry_t *entry, const im_cgroup_sample_t *cur,
                            const im_cgroup_net_t *net, int64_t now_ns)
{
    im_sampler_figures_t *f = &entry->figures;
    int64_t wall_ns = now_ns - entry->prev_ns;

    f->sampled = true;
    f->sampled_at_ms = im_now_ms();
    f->counters = *cur;
    f->network_rx = net->rx_bytes;
    f->network_tx = net->tx_bytes;
    f->memory_used = im_cgroup_memory_used(cur);
    uint64_t memory_base = cur->memory_limit ? cur->memory_limit : sampler->host_memory_total;
    f->memory_percent = memory_base ? (double)f->memory_used / (double)memory_base * 100.0 : -1.0;
    f->has_rates = entry->has_prev;
    if (entry->has_prev) {
        f->cpu_percent =
            im_cgroup_cpu_percent(entry->prev.cpu_usage_ns, cur->cpu_usage_ns, wall_ns);
        f->cpu_host_percent = f->cpu_percent / sampler->online_cpus;
        f->cpu_limit_percent =
            cur->cpu_limit_cores > 0 ? f->cpu_percent / cur->cpu_limit_cores : -1.0;
        f->network_rx_rate = im_cgroup_rate(entry->net_prev.rx_bytes, net->rx_bytes, wall_ns);
        f->network_tx_rate = im_cgroup_rate(entry->net_prev.tx_bytes, net->tx_bytes, wall_ns);
        f->block_read_rate =
            im_cgroup_rate(entry->prev.blkio_read_bytes, cur->blkio_read_bytes, wall_ns);
        f->block_write_rate =
            im_cgroup_rate(entry->prev.blkio_write_bytes, cur->blkio_write_bytes, wall_ns);
    }
    entry->prev = *cur;
    entry->net_prev = *net;
    entry->prev_ns = now_ns;
    entry->has_prev = true;
}

static void push_point(im_sampler_t *sampler, entry_t *entry)
{
    const im_sampler_figures_t *f = &entry->figures;
    im_sampler_point_t point = {
        .time_ms = f->sampled_at_ms,
        .cpu_percent = f->has_rates ? (float)f->cpu_percent : 0.0f,
        .network_rx_rate = (float)f->network_rx_rate,
        .network_tx_rate = (float)f->network_tx_rate,
        .pids = (uint32_t)f->counters.pids,
        .memory_used = f->memory_used,
        .memory_limit = f->counters.memory_limit,
        .network_rx = f->network_rx,
        .network_tx = f->network_tx,
        .block_read = f->counters.blkio_read_bytes,
        .block_write = f->counters.blkio_write_bytes,
    };
    pthread_mutex_lock(&sampler->history_lock);
    im_point_ring_push(&entry->ring, ring_capacity(sampler), &point);
    pthread_mutex_unlock(&sampler->history_lock);
}

/* Reads the network counters of a running container through its open net/dev. */
static void read_entry_net(im_sampler_t *sampler, entry_t *entry, im_cgroup_net_t *net)
{
    char err[512];

    if (entry->pid <= 0) {
        return;
    }
    if (entry->net_file.fd < 0 && im_cgroup_net_open(sampler->proc_root, entry->pid,
                                                     &entry->net_file, err, sizeof(err)) != IM_OK) {
        /* Out of descriptors, a one-shot read may still work; otherwise it fails the same way. */
        if (im_cgroup_read_net(sampler->proc_root, entry->pid, net, err, sizeof(err)) != IM_OK) {
            memset(net, 0, sizeof(*net));
        }
        return;
    }
    if (im_cgroup_net_read(&entry->net_file, net) != IM_OK) {
        im_cgroup_net_close(&entry->net_file);
        memset(net, 0, sizeof(*net));
    }
}

/* Reads one container; returns false when nothing new was read. */
static bool read_entry(im_sampler_t *sampler, entry_t *entry, im_cgroup_sample_t *cur,
                       im_cgroup_net_t *net)
{
    char err[512];

    memset(net, 0, sizeof(*net));
    if (!sampler->engine_stats_mode) {
        int rc = IM_OK;
        /* The paths in /proc/<pid>/cgroup find any layout (Podman, --cgroup-parent); this
         * runs once per start or event, since events and resets close the files. */
        if (!entry->files.opened && entry->pid > 0) {
            rc = im_cgroup_open_pid(&sampler->layout, sampler->proc_root, entry->pid, entry->id,
                                    &entry->files, err, sizeof(err));
        }
        if (rc == IM_OK) {
            rc = im_cgroup_read(&sampler->layout, entry->id, &entry->files, cur, err, sizeof(err));
        }
        if (rc == IM_OK && cur->has_cpu && cur->has_memory) {
            sampler->cgroup_reads++;
            return true;
        }
        im_cgroup_files_close(&entry->files);
        /* Once cgroup files were readable, a failure means the container stopped before its
         * die event arrived: skip it this cycle. */
        if (sampler->cgroup_reads > 0) {
            return false;
        }
        /* Only a layout InfraMon does not know, or no permission, ends here. */
        sampler->engine_stats_mode = true;
        im_log_warn("sampler",
                    "cgroup files of container %.12s are unreadable (%s); falling back to the "
                    "engine's stats API every %d s",
                    entry->id, rc ? err : "cpu or memory counters missing",
                    IM_SAMPLER_ENGINE_STATS_INTERVAL_SECONDS);
        sampler->logged_fallback = true;
    }
    if (!sampler->logged_fallback) {
        im_log_warn("sampler",
                    "no cgroup hierarchy found under %s; using the engine's stats API every %d s",
                    sampler->layout.base, IM_SAMPLER_ENGINE_STATS_INTERVAL_SECONDS);
        sampler->logged_fallback = true;
    }
    return read_engine_stats(sampler, entry, cur, net);
}

typedef struct {
    entry_t *entry;
    im_cgroup_sample_t cur;
    im_cgroup_net_t net;
    int64_t at_ns; /* monotonic time of the reading, for this container's rates */
} reading_t;

/* True when the namespace of reading r belongs to the host or to a container whose main
 * process started earlier: --net=container:X needs X running first, so the first started is
 * the owner. Those readings keep their counters but are flagged so that totals skip them. */
static bool network_is_shared(const reading_t *readings, size_t count, size_t r,
                              uint64_t host_inode)
{
    uint64_t inode = readings[r].net.netns_inode;
    const entry_t *self = readings[r].entry;

    if (!inode) {
        return false;
    }
    if (inode == host_inode) {
        return true;
    }
    for (size_t i = 0; i < count; i++) {
        const entry_t *other = readings[i].entry;
        if (i == r || readings[i].net.netns_inode != inode) {
            continue;
        }
        if (other->pid_start_ticks < self->pid_start_ticks ||
            (other->pid_start_ticks == self->pid_start_ticks && i < r)) {
            return true;
        }
    }
    return false;
}

/* Reads the network counters of readings[r], or copies those of an earlier reading of this
 * cycle in the same namespace, so that each namespace's net/dev is read once per cycle. */
static void read_network(im_sampler_t *sampler, reading_t *readings, size_t r)
{
    const entry_t *entry = readings[r].entry;
    uint64_t inode = entry->net_file.fd >= 0 ? entry->net_file.netns_inode : 0;

    if (inode) {
        for (size_t i = 0; i < r; i++) {
            if (readings[i].net.netns_inode == inode) {
                readings[r].net = readings[i].net;
                return;
            }
        }
    }
    read_entry_net(sampler, readings[r].entry, &readings[r].net);
}

void im_sampler_sample(im_sampler_t *sampler)
{
    reading_t *readings = im_calloc(sampler->count + 1, sizeof(*readings));
    size_t count = 0;

    for (size_t i = 0; i < sampler->count; i++) {
        entry_t *entry = &sampler->entries[i];
        if (!is_running(entry) ||
            !read_entry(sampler, entry, &readings[count].cur, &readings[count].net)) {
            continue;
        }
        readings[count].entry = entry;
        if (!sampler->engine_stats_mode) {
            read_network(sampler, readings, count);
        }
        readings[count++].at_ns = monotonic_ns();
    }
    for (size_t r = 0; r < count; r++) {
        entry_t *entry = readings[r].entry;
        entry->figures.network_shared =
            network_is_shared(readings, count, r, sampler->host_netns_inode);
        compute_figures(sampler, entry, &readings[r].cur, &readings[r].net, readings[r].at_ns);
        push_point(sampler, entry);
    }
    free(readings);
}

void im_sampler_push_host(im_sampler_t *sampler, const im_sampler_point_t *point)
{
    pthread_mutex_lock(&sampler->history_lock);
    im_point_ring_push(&sampler->host_ring, ring_capacity(sampler), point);
    pthread_mutex_unlock(&sampler->history_lock);
}

const char *im_sampler_source(const im_sampler_t *sampler)
{
    return sampler->engine_stats_mode ? "engine-stats" : "cgroup";
}

uint64_t im_sampler_engine_stats_calls(const im_sampler_t *sampler)
{
    return sampler->engine_stats_calls;
}

size_t im_sampler_figures(const im_sampler_t *sampler, im_sampler_figures_t **out)
{
    *out = im_calloc(sampler->count + 1, sizeof(**out));
    for (size_t i = 0; i < sampler->count; i++) {
        (*out)[i] = sampler->entries[i].figures;
    }
    return sampler->count;
}

static json_t *number_or_null(bool valid, double value)
{
    return valid ? json_real((double)(int64_t)(value * 100.0 + 0.5) / 100.0) : json_null();
}

json_t *im_sampler_items(const im_sampler_t *sampler)
{
    json_t *items = json_array();
    for (size_t i = 0; i < sampler->count; i++) {
        json_array_append(items, sampler->entries[i].item);
    }
    return items;
}

// NOTE: state_text ("Up 5 minutes") is the engine's text as of the latest list or event for
// that container, so it ages between events.
json_t *im_sampler_list_item(json_t *item, const im_sampler_figures_t *f)
{
    json_t *out = json_copy(item);
    bool live = f->sampled &&
                (strcmp(f->status, "running") == 0 || strcmp(f->status, "paused") == 0);
    json_object_set_new(out, "cpu_usage", number_or_null(live && f->has_rates, f->cpu_percent));
    json_object_set_new(out, "memory_usage",
                        live ? json_integer((json_int_t)f->memory_used) : json_null());
    json_object_set_new(out, "memory_limit",
                        live && f->counters.memory_limit
                            ? json_integer((json_int_t)f->counters.memory_limit)
                            : json_null());
    return out;
}

size_t im_sampler_history(im_sampler_t *sampler, const char *id, int64_t since_ms,
                          im_sampler_point_t **out)
{
    size_t n = 0;

    *out = NULL;
    pthread_mutex_lock(&sampler->history_lock);
    if (!id) {
        n = im_point_ring_copy(&sampler->host_ring, since_ms, out);
    } else {
        for (size_t i = 0; i < sampler->count; i++) {
            if (strcmp(sampler->entries[i].id, id) == 0) {
                n = im_point_ring_copy(&sampler->entries[i].ring, since_ms, out);
                break;
            }
        }
    }
    pthread_mutex_unlock(&sampler->history_lock);
    return n;
}
