#ifndef IM_COLLECT_HOST_H
#define IM_COLLECT_HOST_H

/* Host metrics read from procfs and sysfs, and the JSON bodies of the /stats/system
 * endpoints built from them.
 *
 * Every reader takes the root it reads under ("/proc", "/sys", or the host's "/"), so that
 * InfraMon can run in a container with the host's trees mounted elsewhere and so that tests
 * can point the readers at fixture trees. Readers bound what they read (IM_HOST_MAX_*
 * entries, and at most 8 MiB of any file), never abort on truncated or malformed files, and return
 * 0 or a negative IM_E* code with a message in err. A reader that fails leaves its output empty and
 * safe to release. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Upper bounds on what one read keeps; entries past a bound are ignored. */
#define IM_HOST_MAX_CPUS       8192
#define IM_HOST_MAX_INTERFACES 4096
#define IM_HOST_MAX_DISKS      4096
#define IM_HOST_MAX_MOUNTS     4096
#define IM_HOST_MAX_TEMPS      256

/* Defaults of the three roots, used when a root is NULL or empty. */
#define IM_HOST_DEFAULT_PROC "/proc"
#define IM_HOST_DEFAULT_SYS  "/sys"
#define IM_HOST_DEFAULT_ROOT "/"

/* The directories under which host files are read. */
typedef struct {
    const char *proc; /* procfs of the host (HOST_PROC) */
    const char *sys;  /* sysfs of the host (HOST_SYS) */
    const char *root; /* the host's root filesystem, prefixed to mount points (HOST_ROOT) */
} im_host_roots_t;

/* ---- /proc/stat ---- */

/* CPU time per mode in clock ticks (USER_HZ). guest and guest_nice are left out because the
 * kernel already counts them in user and nice. */
typedef struct {
    uint64_t user;
    uint64_t nice;
    uint64_t system;
    uint64_t idle;
    uint64_t iowait;
    uint64_t irq;
    uint64_t softirq;
    uint64_t steal;
} im_host_cpu_times_t;

typedef struct {
    int id; /* N of the "cpuN" line */
    im_host_cpu_times_t times;
} im_host_cpu_t;

typedef struct {
    im_host_cpu_times_t total; /* the "cpu" line: all CPUs together */
    im_host_cpu_t *cpus;       /* one per "cpuN" line, that is per online CPU */
    size_t cpu_count;
    int64_t boot_time; /* "btime" in Unix seconds; 0 when the line is missing */
} im_host_stat_t;

/* Reads <proc>/stat. IM_EINVAL when it has no complete "cpu" line. */
int im_host_read_stat(const char *proc_root, im_host_stat_t *out, char *err, size_t errlen);
void im_host_stat_release(im_host_stat_t *stat);

/* Returns the busy share of CPU time between two readings, 0..100:
 * 100 * (1 - idle delta / total delta). Idle counts idle and iowait, which is idle time with
 * I/O outstanding (psutil counts it the same way). Total is the sum of the eight modes.
 * Returns 0 when no tick passed. A counter that went backwards counts as no change. */
double im_host_cpu_percent(const im_host_cpu_times_t *prev, const im_host_cpu_times_t *cur);

/* ---- /proc/meminfo ---- */

/* Memory sizes in bytes. */
typedef struct {
    uint64_t total;
    uint64_t free;
    uint64_t available; /* MemAvailable, or free + buffers + cached before Linux 3.14 */
    uint64_t buffers;
    uint64_t cached;
    uint64_t swap_total;
    uint64_t swap_free;
    bool available_estimated; /* true when MemAvailable was missing */
} im_host_mem_t;

/* Reads <proc>/meminfo. IM_EINVAL when MemTotal is missing. */
int im_host_read_meminfo(const char *proc_root, im_host_mem_t *out, char *err, size_t errlen);

/* ---- /proc/loadavg, /proc/uptime ---- */

typedef struct {
    double load1;
    double load5;
    double load15;
} im_host_load_t;

int im_host_read_loadavg(const char *proc_root, im_host_load_t *out, char *err, size_t errlen);
/* Reads the first field of <proc>/uptime: seconds since boot. */
int im_host_read_uptime(const char *proc_root, double *seconds, char *err, size_t errlen);

/* ---- /proc/cpuinfo ---- */

typedef struct {
    char model[128]; /* empty when the architecture gives no model line (most arm64 kernels) */
    double mhz;      /* mean "cpu MHz", else <sys>/.../cpu0/cpufreq/scaling_cur_freq; 0 unknown */
    int processors;  /* "processor" lines */
} im_host_cpuinfo_t;

/* Reads <proc>/cpuinfo. The model is the first of "model name", "Processor", "cpu model",
 * "cpu" (PowerPC) found. sys_root may be NULL to skip the cpufreq fallback. */
int im_host_read_cpuinfo(const char *proc_root, const char *sys_root, im_host_cpuinfo_t *out,
                         char *err, size_t errlen);

/* ---- /proc/net/dev ---- */

typedef struct {
    char name[32];
    uint64_t rx_bytes;
    uint64_t rx_packets;
    uint64_t rx_errors;
    uint64_t rx_dropped;
    uint64_t tx_bytes;
    uint64_t tx_packets;
    uint64_t tx_errors;
    uint64_t tx_dropped;
    /* true when <sys>/class/net/<name> links under devices/virtual (loopback, bridges, veth,
     * tunnels, bonds); without that link, guessed from the name (lo, veth*, docker*, br-*,
     * virbr*, cni*, flannel*, cali*, vxlan*, tun*, tap*, wg*, dummy*, ifb*, bond*, team*) */
    bool is_virtual;
} im_host_iface_t;

typedef struct {
    im_host_iface_t *items;
    size_t count;
} im_host_net_t;

/* Reads every interface of <proc>/1/net/dev (the network namespace of the host's init, so the
 * host's interfaces even from inside a container), falling back to <proc>/net/dev. */
int im_host_read_net_dev(const char *proc_root, const char *sys_root, im_host_net_t *out, char *err,
                         size_t errlen);
void im_host_net_release(im_host_net_t *net);

/* ---- /proc/diskstats ---- */

typedef struct {
    unsigned major;
    unsigned minor;
    char name[64];
    uint64_t reads;       /* completed read requests */
    uint64_t writes;      /* completed write requests */
    uint64_t read_bytes;  /* sectors read * 512 (diskstats sectors are always 512 bytes) */
    uint64_t write_bytes; /* sectors written * 512 */
    bool is_partition;
    /* backed by other storage or by memory: loop, ram, zram, device-mapper, md, and any
     * device that <sys>/block links under devices/virtual */
    bool is_virtual;
} im_host_disk_t;

typedef struct {
    im_host_disk_t *items;
    size_t count;
} im_host_diskstats_t;

/* Reads every device of <proc>/diskstats. Whole disks are the entries of <sys>/block, and
 * virtual ones link under devices/virtual. When <sys>/block cannot be opened, the kind is
 * guessed from the name (sda1, nvme0n1p1, mmcblk0p1 are partitions; loop*, ram*, zram*,
 * dm-*, md* are virtual). */
int im_host_read_diskstats(const char *proc_root, const char *sys_root, im_host_diskstats_t *out,
                           char *err, size_t errlen);
void im_host_diskstats_release(im_host_diskstats_t *disks);

/* True for the devices summed into host totals: whole, non-virtual disks, so that a byte is
 * not counted again for its partition, its LVM volume or its loop device. */
bool im_host_disk_in_totals(const im_host_disk_t *disk);

/* ---- filesystems ---- */

/* Usage of one filesystem in bytes, as df computes it. */
typedef struct {
    uint64_t total; /* f_blocks * f_frsize */
    uint64_t used;  /* (f_blocks - f_bfree) * f_frsize */
    uint64_t free;  /* f_bavail * f_frsize: what unprivileged users can still write */
    double percent; /* used / (used + free) * 100, 0..100 */
} im_host_fs_usage_t;

typedef struct {
    char *device; /* mount source, such as /dev/sda1 */
    char *mountpoint;
    char *fstype;
    char *options; /* per-mount options, such as "rw,relatime" */
    unsigned major;
    unsigned minor;
    bool has_usage; /* set by im_host_mounts_statfs when statvfs succeeded */
    im_host_fs_usage_t usage;
} im_host_mount_t;

typedef struct {
    im_host_mount_t *items;
    size_t count;
} im_host_mounts_t;

/* Reads the host's filesystems from <proc>/1/mountinfo, falling back to
 * <proc>/self/mountinfo. Skipped: filesystem types for which im_host_fstype_is_virtual()
 * is true, and mount points under /proc, /sys, /dev, /run/credentials, /var/lib/docker and
 * /var/lib/containers/storage. Left with several mounts of one device (bind mounts), it
 * keeps the one with the shortest mount point. */
int im_host_read_mounts(const char *proc_root, im_host_mounts_t *out, char *err, size_t errlen);
void im_host_mounts_release(im_host_mounts_t *mounts);

/* True for filesystem types that hold no disk data of their own. These are kernel interfaces
 * (proc, sysfs, cgroup, cgroup2, debugfs, tracefs, securityfs, pstore, bpf, configfs,
 * fusectl, binfmt_misc, rpc_pipefs, nfsd, selinuxfs, efivarfs, nsfs, mqueue, devpts, autofs)
 * and memory (tmpfs, ramfs, devtmpfs, hugetlbfs). Container layers (overlay, aufs) repeat the
 * disk below them, and read-only images (squashfs, erofs, iso9660) are always full. */
bool im_host_fstype_is_virtual(const char *fstype);

/* Runs statvfs on <host_root><mountpoint>. */
int im_host_statfs(const char *host_root, const char *mountpoint, im_host_fs_usage_t *out,
                   char *err, size_t errlen);

/* Fills the usage of every mount, then drops the mounts whose statvfs failed or that report
 * zero blocks (as df hides them). Returns how many were dropped.
 * NOTE: statvfs on a hung network filesystem blocks the calling thread. */
size_t im_host_mounts_statfs(const char *host_root, im_host_mounts_t *mounts);

/* ---- temperatures ---- */

typedef struct {
    char name[64];   /* hwmon chip name ("coretemp") or thermal zone type ("acpitz") */
    char label[64];  /* temp*_label, else "tempN"; or the zone directory ("thermal_zone0") */
    double current;  /* degrees Celsius */
    double high;     /* valid when has_high */
    double critical; /* valid when has_critical */
    bool has_high;
    bool has_critical;
} im_host_temp_t;

typedef struct {
    im_host_temp_t *items;
    size_t count;
} im_host_temps_t;

/* Reads <sys>/class/hwmon/hwmon* / temp*_input and <sys>/class/thermal/thermal_zone* / temp.
 * A host without sensors gives 0 entries and IM_OK. Sensors that fail to read are skipped. */
int im_host_read_temperatures(const char *sys_root, im_host_temps_t *out, char *err, size_t errlen);
void im_host_temps_release(im_host_temps_t *temps);

/* ---- identity ---- */

typedef struct {
    char system[65];  /* uname sysname, "Linux" */
    char release[65]; /* kernel release, "6.1.0-18-amd64" */
    char version[65]; /* kernel build string, "#1 SMP PREEMPT_DYNAMIC ..." */
    char machine[65]; /* hardware name, "x86_64" */
} im_host_uname_t;

/* Fills out from uname(2); the kernel is shared with the host even inside a container. */
void im_host_read_uname(im_host_uname_t *out);
/* Reads <proc>/sys/kernel/hostname (the UTS namespace of the reading process). */
int im_host_read_hostname(const char *proc_root, char *out, size_t outlen, char *err,
                          size_t errlen);

/* ---- samples ---- */

/* Everything read in one pass. Each has_* flag is true when that part was read. */
typedef struct {
    int64_t wall_ms;      /* wall-clock time of the reading */
    int64_t monotonic_ms; /* monotonic time, for rates */
    bool has_stat;
    bool has_mem;
    bool has_load;
    bool has_uptime;
    bool has_cpuinfo;
    bool has_net;
    bool has_disks;
    bool has_mounts;
    bool has_root_fs;
    bool has_temps;
    im_host_stat_t stat;
    im_host_mem_t mem;
    im_host_load_t load;
    double uptime_seconds;
    im_host_cpuinfo_t cpuinfo;
    im_host_net_t net;
    im_host_diskstats_t disks;
    im_host_mounts_t mounts;    /* with usage filled */
    im_host_fs_usage_t root_fs; /* statvfs of the host root */
    im_host_temps_t temps;
    char hostname[256];
} im_host_sample_t;

/* Reads every part into out and stamps it with the current time. A failed part leaves its
 * has_* flag false and the others are still read. Returns 0 when the parts every Linux host
 * has (stat, meminfo, loadavg, uptime, net/dev, diskstats, mountinfo, statvfs of the root)
 * were all read, else the first failure with its message in err. Missing sensors, cpuinfo
 * fields and hostname are not failures. */
int im_host_sample_read(const im_host_roots_t *roots, im_host_sample_t *out, char *err,
                        size_t errlen);
void im_host_sample_release(im_host_sample_t *sample);

/* Returns (cur - prev) per second over elapsed_ms in *out; false when elapsed_ms <= 0 or the
 * counter went backwards (a reset, such as an interface that was re-created). */
bool im_host_rate(uint64_t prev, uint64_t cur, int64_t elapsed_ms, double *out);

/* Keeps the last two samples, so that rates and CPU percentages come from two consecutive
 * readings and no caller ever sleeps to get them. Not thread-safe: one owner thread. */
typedef struct {
    char proc[512];
    char sys[512];
    char root[512];
    im_host_uname_t uname;
    im_host_sample_t samples[2];
    int current;    /* index of the newest sample in samples */
    uint64_t count; /* samples taken so far */
    int64_t cpuinfo_read_ms;
    /* <proc>/1/mountinfo kept open so that poll(2) reports mount table changes.
     * It is IM_HOST_MOUNTINFO_CLOSED before the first sample, IM_HOST_MOUNTINFO_UNPOLLABLE when it
     * is not a procfs file (a copied tree), which is then read every cycle. */
    int mountinfo_fd;
} im_host_sampler_t;

#define IM_HOST_MOUNTINFO_CLOSED     (-1)
#define IM_HOST_MOUNTINFO_UNPOLLABLE (-2)

/* Copies the roots (NULL or empty members take the IM_HOST_DEFAULT_* values). IM_EINVAL when a
 * root is longer than the sampler can store. */
int im_host_sampler_init(im_host_sampler_t *sampler, const im_host_roots_t *roots, char *err,
                         size_t errlen);
/* Takes a new sample and keeps the previous one; same result as im_host_sample_read. */
int im_host_sampler_update(im_host_sampler_t *sampler, char *err, size_t errlen);
/* Returns the newest sample, or NULL before the first update. */
const im_host_sample_t *im_host_sampler_current(const im_host_sampler_t *sampler);
/* Returns the sample before the newest, or NULL when fewer than two were taken. */
const im_host_sample_t *im_host_sampler_previous(const im_host_sampler_t *sampler);
void im_host_sampler_release(im_host_sampler_t *sampler);

/* ---- JSON bodies ----
 * prev may be NULL (first sample): rates and CPU percentages are then null. Percentages are
 * rounded to 0.1 and rates (bytes per second) to 0.1; counters are integers; times are
 * ISO-8601 UTC with a Z. Parts missing from the sample give null fields or empty lists.
 * load_percent is load_avg_1m per online CPU, so it exceeds 100 when more tasks are runnable
 * than there are CPUs. */

/* Builds the /stats/system object. disk_usage, disk_total, disk_used and disk_free describe
 * the host root filesystem. disk_read_bytes and disk_write_bytes sum the disks for which
 * im_host_disk_in_totals() is true, and network_rx and network_tx the non-virtual
 * interfaces. uptime is in whole seconds, load averages are rounded to 0.01, and
 * network_interfaces is the /stats/system/network list. Each temperature is
 * {name, label, current, high, critical} in degrees Celsius, high and critical may be null. */
json_t *im_host_system_json(const im_host_sample_t *cur, const im_host_sample_t *prev);
/* Builds the /stats/system/info object; engine is stolen and may be NULL (gives null). */
json_t *im_host_info_json(const im_host_sample_t *cur, const im_host_uname_t *uname,
                          json_t *engine);
/* Builds the /stats/system/disk array. */
json_t *im_host_disk_json(const im_host_sample_t *cur);
/* Builds the /stats/system/network array. Each item also has "virtual" (see is_virtual). */
json_t *im_host_network_json(const im_host_sample_t *cur, const im_host_sample_t *prev);

#endif
