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

/* The cgroup files of one container that a cycle reads. */
typedef enum {
    IM_CGROUP_FILE_CPU_USAGE,      /* v1 cpuacct.usage; v2 cpu.stat (all CPU counters) */
    IM_CGROUP_FILE_CPU_TIMES,      /* v1 cpuacct.stat */
    IM_CGROUP_FILE_CPU_THROTTLING, /* v1 cpu.stat */
    IM_CGROUP_FILE_MEMORY_USAGE,   /* v1 memory.usage_in_bytes; v2 memory.current */
    IM_CGROUP_FILE_MEMORY_STAT,    /* memory.stat */
    IM_CGROUP_FILE_SWAP,           /* v2 memory.swap.current (v1 has total_swap in memory.stat) */
    IM_CGROUP_FILE_IO,             /* v1 blkio.throttle.io_service_bytes; v2 io.stat */
    IM_CGROUP_FILE_PIDS,           /* pids.current */
    IM_CGROUP_FILE_COUNT,
} im_cgroup_file_t;

/* Reads of a container between two readings of its limits (cpu.cfs_quota_us and
 * cpu.cfs_period_us or cpu.max, memory.limit_in_bytes or memory.max). The sampler also
 * reopens the files after every engine event of the container, `docker update` included. */
#define IM_CGROUP_LIMITS_REFRESH_READS 60

/* Descriptors of one container's cgroup files, opened once and read with pread(2) at
 * offset 0 every cycle, because the path lookup of open(2) in the cgroup filesystem costs
 * more than the read (measured with perf on cgroup v1). A zeroed struct is closed. */
typedef struct {
    bool opened;
    int fds[IM_CGROUP_FILE_COUNT]; /* -1 for a file that does not exist */
    char *cpu_dir;                 /* where the CPU limit files are; NULL when not found */
    char *memory_dir;              /* where the memory limit file is */
    unsigned reads_since_limits;
    double cpu_limit_cores;
    uint64_t memory_limit;
} im_cgroup_files_t;

/* Closes the descriptors, so the next read opens the files and reads the limits again. */
void im_cgroup_files_close(im_cgroup_files_t *files);

/* Finds the cgroup hierarchy under sys_root (NULL or "": /sys). */
void im_cgroup_detect(const char *sys_root, im_cgroup_layout_t *out);

/* Reads the counters of container id (64 hex digits). When files is not open yet, it opens
 * them at the first of these paths that exists: docker/<id> and
 * system.slice/docker-<id>.scope (Docker's cgroupfs and systemd drivers),
 * libpod_parent/libpod-<id> and machine.slice/libpod-<id>.scope (Podman's). With files, the
 * descriptors stay open for the next calls; with NULL, it opens and closes them in this
 * call. Returns IM_ENOTFOUND when no directory exists, IM_OK otherwise, even when some files
 * were unreadable (see the has_* flags). */
int im_cgroup_read(const im_cgroup_layout_t *layout, const char *id, im_cgroup_files_t *files,
                   im_cgroup_sample_t *out, char *err, size_t errlen) IM_WARN_UNUSED;

/* Opens the cgroup files of container id at the directories that
 * <proc_root>/<pid>/cgroup lists for its init process pid, so that any cgroup parent or
 * manager is found. It falls back to the paths of im_cgroup_read when pid is 0, has exited,
 * or lists paths outside this process's cgroup namespace (they start with "/.."). Call it
 * once per container start; im_cgroup_read then reads the open files. Returns IM_ENOTFOUND
 * when no directory is found. */
int im_cgroup_open_pid(const im_cgroup_layout_t *layout, const char *proc_root, int pid,
                       const char *id, im_cgroup_files_t *files, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Finds in the text of a /proc/<pid>/cgroup file the path of controller (a v1 controller
 * such as "memory", or "" for the v2 line "0::PATH") and copies it to out. When mount is
 * not NULL, it receives the line's whole controller list ("cpu,cpuacct"), the name of the
 * v1 mount. Returns false when no line matches, the path does not fit, or the path lies
 * outside the reader's cgroup namespace. */
bool im_cgroup_parse_proc_cgroup(const char *text, const char *controller, char *out,
                                 size_t outlen, char *mount, size_t mountlen);

/* An open <proc_root>/<pid>/net/dev. The descriptor stays bound to the network namespace
 * it was opened in, and keeps that namespace alive, so close it when the process exits. */
typedef struct {
    int fd; /* -1 when closed */
    uint64_t netns_inode;
} im_cgroup_net_file_t;

/* Opens <proc_root>/<pid>/net/dev and reads the inode of <proc_root>/<pid>/ns/net. */
int im_cgroup_net_open(const char *proc_root, int pid, im_cgroup_net_file_t *out, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Reads the counters of an open net/dev. Returns IM_ERR when the read fails. */
int im_cgroup_net_read(const im_cgroup_net_file_t *file, im_cgroup_net_t *out) IM_WARN_UNUSED;

void im_cgroup_net_close(im_cgroup_net_file_t *file);

/* Reads <proc_root>/<pid>/net/dev and the inode of <proc_root>/<pid>/ns/net once. */
int im_cgroup_read_net(const char *proc_root, int pid, im_cgroup_net_t *out, char *err,
                       size_t errlen) IM_WARN_UNUSED;

/* Sums the "MAJ:MIN Read N" and "MAJ:MIN Write N" lines of a cgroup v1 blkio file into
 * out's blkio counters. */
void im_cgroup_parse_blkio_v1(const char *text, im_cgroup_sample_t *out);

/* Finds the value of each key of a flat-keyed file ("key value" lines, as memory.stat and
 * cpu.stat) in one pass. values[i] is set only when keys[i] is found; returns how many
 * were found. */
size_t im_cgroup_parse_keyed(const char *text, const char *const *keys, uint64_t *values,
                             size_t count);

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
