#ifndef IM_COLLECT_CGROUP_H
#define IM_COLLECT_CGROUP_H

/* Container resource counters read from the kernel's cgroup files (v1, v2 and hybrid
 * hierarchies) and from the container's network namespace, plus the arithmetic that turns
 * two readings into the figures `docker stats` shows.
 *
 * Readers take the sysfs and procfs roots (HOST_SYS, HOST_PROC), so tests point them at
 * fixture trees. They never abort on a missing or malformed file: a counter that cannot be
 * read stays 0 and its has_* flag stays false. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

typedef enum {
    IM_CGROUP_NONE = 0, /* no container cgroups found under the sys root */
    IM_CGROUP_V1,       /* one hierarchy per controller (also hybrid: v1 controllers and an
                           empty cgroup2 at fs/cgroup/unified) */
    IM_CGROUP_V2,       /* the unified hierarchy at fs/cgroup with controllers enabled */
} im_cgroup_version_t;

/* Where container cgroups live: the version and <sys>/fs/cgroup. */
typedef struct {
    im_cgroup_version_t version;
    char base[512];
} im_cgroup_layout_t;

/* One reading of a container's counters. CPU times are nanoseconds, sizes bytes. */
typedef struct {
    bool has_cpu;
    uint64_t cpu_usage_ns;  /* cpuacct.usage; v2 cpu.stat usage_usec * 1000 */
    uint64_t cpu_user_ns;   /* cpuacct.stat user (USER_HZ ticks converted); v2 user_usec */
    uint64_t cpu_system_ns; /* cpuacct.stat system; v2 system_usec */
    uint64_t cpu_periods;   /* cpu.stat nr_periods */
    uint64_t cpu_throttled_periods;
    uint64_t cpu_throttled_ns;
    double cpu_limit_cores; /* quota / period; 0 when no quota is set */

    bool has_memory;
    uint64_t memory_usage; /* memory.usage_in_bytes; v2 memory.current */
    uint64_t memory_inactive_file;
    uint64_t memory_rss;   /* v1 total_rss; v2 anon */
    uint64_t memory_cache; /* v1 total_cache; v2 file */
    uint64_t memory_swap;  /* v1 total_swap; v2 memory.swap.current */
    uint64_t memory_limit; /* 0 when unlimited */

    bool has_blkio;
    uint64_t blkio_read_bytes;
    uint64_t blkio_write_bytes;

    bool has_pids;
    uint64_t pids;
} im_cgroup_sample_t;

/* Network counters of one network namespace, summed over its interfaces except lo. */
typedef struct {
    bool has_net;
    uint64_t netns_inode; /* inode of /proc/<pid>/ns/net; 0 when unreadable */
    uint64_t rx_bytes;
    uint64_t tx_bytes;
    uint64_t rx_packets;
    uint64_t tx_packets;
} im_cgroup_net_t;

/* The directories of one container's cgroups, found once and reused, because the path
 * lookups cost more than the reads (measured with perf on cgroup v1). */
typedef enum {
    IM_CGROUP_DIR_CPUACCT,
    IM_CGROUP_DIR_CPU,
    IM_CGROUP_DIR_MEMORY,
    IM_CGROUP_DIR_BLKIO,
    IM_CGROUP_DIR_PIDS,
    IM_CGROUP_DIR_UNIFIED, /* v2: the one directory */
    IM_CGROUP_DIR_COUNT,
} im_cgroup_dir_t;

typedef struct {
    char *paths[IM_CGROUP_DIR_COUNT]; /* NULL: not looked up yet */
} im_cgroup_dirs_t;

/* Frees the cached paths, so the next read looks them up again. */
void im_cgroup_dirs_release(im_cgroup_dirs_t *dirs);

/* Finds the cgroup hierarchy under sys_root (NULL or "": /sys). */
void im_cgroup_detect(const char *sys_root, im_cgroup_layout_t *out);

/* Reads the counters of container id (64 hex digits). It looks under docker/<id> (cgroupfs
 * driver) and system.slice/docker-<id>.scope (systemd driver), through dirs when it is not
 * NULL. Returns IM_ENOTFOUND when neither directory exists, IM_OK otherwise, even when some
 * files were unreadable (see the has_* flags). */
int im_cgroup_read(const im_cgroup_layout_t *layout, const char *id, im_cgroup_dirs_t *dirs,
                   im_cgroup_sample_t *out, char *err, size_t errlen) IM_WARN_UNUSED;

/* Reads <proc_root>/<pid>/net/dev and the inode of <proc_root>/<pid>/ns/net. */
int im_cgroup_read_net(const char *proc_root, int pid, im_cgroup_net_t *out, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Parses the text of a net/dev file into out (lo excluded). */
void im_cgroup_parse_net_dev(const char *text, im_cgroup_net_t *out);

/* CPU use between two readings on the scale of `docker stats`: 100 is one core fully busy.
 * Returns 0 when wall_ns <= 0 or the counter went backwards (a restarted container). */
double im_cgroup_cpu_percent(uint64_t prev_usage_ns, uint64_t cur_usage_ns, int64_t wall_ns);

/* Memory in use as the docker CLI shows it: usage minus inactive file cache. When the kernel
 * reports a usage of 0 (some v2 kernels for the root of a subtree), rss + cache is used, and
 * an inactive_file above usage leaves usage unchanged. */
uint64_t im_cgroup_memory_used(const im_cgroup_sample_t *sample);

/* Rate of a counter in units per second; 0 for a counter that went backwards. */
double im_cgroup_rate(uint64_t prev, uint64_t cur, int64_t wall_ns);

#endif
