#include "collect/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* memory.stat of v2 is the largest file read here, about 1.5 KiB on Linux 6.1. */
#define FILE_MAX 16384

/* ---- reading ---- */

/* Reads a whole small file from offset 0 of an open descriptor into buf (NUL-terminated).
 * pread at offset 0 makes the kernel generate a cgroup or proc file afresh. */
static bool pread_text(int fd, char *buf, size_t size)
{
    size_t len = 0;

    if (fd < 0) {
        return false;
    }
    while (len + 1 < size) {
        ssize_t n = pread(fd, buf + len, size - 1 - len, (off_t)len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            buf[0] = '\0';
            return false;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return true;
}

static int open_read_only(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Reads a whole small file by path. */
static bool read_text(const char *path, char *buf, size_t size)
{
    int fd = open_read_only(path);
    bool ok = pread_text(fd, buf, size);
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static int open_in(const char *dir, const char *file)
{
    char path[2048];

    if (!dir) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return open_read_only(path);
}

static bool read_in(const char *dir, const char *file, char *buf, size_t size)
{
    int fd = open_in(dir, file);
    bool ok = pread_text(fd, buf, size);
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* ---- parsing ---- */

/* Parses the decimal digits at *p into *out and moves *p past them, after skipping blanks.
 * False when there is no digit. Values beyond UINT64_MAX wrap, as the kernel never prints
 * them. */
static bool scan_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t value = 0;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s < '0' || *s > '9') {
        return false;
    }
    while (*s >= '0' && *s <= '9') {
        value = value * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *p = s;
    *out = value;
    return true;
}

/* Parses a file holding one unsigned number. */
static bool parse_single_u64(const char *text, uint64_t *out)
{
    return scan_u64(&text, out);
}

static const char *next_line(const char *line)
{
    const char *end = strchr(line, '\n');
    return end ? end + 1 : NULL;
}

/* Returns the first c in the line that starts at line, or NULL when the line has none. */
static const char *find_in_line(const char *line, char c)
{
    for (const char *p = line; *p && *p != '\n'; p++) {
        if (*p == c) {
            return p;
        }
    }
    return NULL;
}

size_t im_cgroup_parse_keyed(const char *text, const char *const *keys, uint64_t *values,
                             size_t count)
{
    size_t found = 0;

    for (const char *line = text; line && *line && found < count; line = next_line(line)) {
        const char *space = find_in_line(line, ' ');
        if (!space) {
            continue;
        }
        size_t key_len = (size_t)(space - line);
        for (size_t i = 0; i < count; i++) {
            if (strncmp(keys[i], line, key_len) == 0 && keys[i][key_len] == '\0') {
                const char *value = space;
                if (scan_u64(&value, &values[i])) {
                    found++;
                }
                break;
            }
        }
    }
    return found;
}

void im_cgroup_parse_blkio_v1(const char *text, im_cgroup_sample_t *out)
{
    for (const char *line = text; line && *line; line = next_line(line)) {
        /* Device lines are "MAJ:MIN OP VALUE", and the last line is "Total VALUE". */
        const char *op = find_in_line(line, ' ');
        if (!op) {
            continue;
        }
        op++;
        uint64_t value = 0;
        if (strncmp(op, "Read ", 5) == 0) {
            const char *number = op + 5;
            if (scan_u64(&number, &value)) {
                out->blkio_read_bytes += value;
            }
        } else if (strncmp(op, "Write ", 6) == 0) {
            const char *number = op + 6;
            if (scan_u64(&number, &value)) {
                out->blkio_write_bytes += value;
            }
        }
    }
}

/* Sums the rbytes= and wbytes= fields of every device line of a v2 io.stat. */
static void parse_io_v2(const char *text, im_cgroup_sample_t *out)
{
    const char *field = text;

    while ((field = strstr(field, "bytes=")) != NULL) {
        const char *number = field + 6;
        uint64_t value = 0;
        if (field > text && scan_u64(&number, &value)) {
            if (field[-1] == 'r') {
                out->blkio_read_bytes += value;
            } else if (field[-1] == 'w') {
                out->blkio_write_bytes += value;
            }
        }
        field += 6;
    }
}

/* ---- locating and opening ---- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void im_cgroup_detect(const char *sys_root, im_cgroup_layout_t *out)
{
    char path[600];
    char controllers[256];

    memset(out, 0, sizeof(*out));
    snprintf(out->base, sizeof(out->base), "%s/fs/cgroup",
             sys_root && sys_root[0] ? sys_root : "/sys");
    snprintf(path, sizeof(path), "%s/cgroup.controllers", out->base);
    if (read_text(path, controllers, sizeof(controllers)) && strstr(controllers, "memory")) {
        out->version = IM_CGROUP_V2;
        return;
    }
    snprintf(path, sizeof(path), "%s/memory", out->base);
    if (is_dir(path)) {
        out->version = IM_CGROUP_V1;
    }
}

/* Container directories relative to a hierarchy root, tried in order when the container's
 * /proc/<pid>/cgroup is not available: Docker's cgroupfs and systemd drivers, then Podman's
 * (libpod_parent with cgroup_manager = "cgroupfs", machine.slice with "systemd"). */
static const struct {
    const char *prefix;
    const char *suffix;
} container_dir_patterns[] = {
    {"/docker/", ""},
    {"/system.slice/docker-", ".scope"},
    {"/libpod_parent/libpod-", ""},
    {"/machine.slice/libpod-", ".scope"},
};

/* Where one container's cgroups are: the text of its init process's /proc/<pid>/cgroup when
 * it could be read, and its id for the path patterns otherwise. */
typedef struct {
    const char *id;
    const char *proc_cgroup; /* NULL when unknown */
} container_ref_t;

/* Returns true when the comma-separated list of a /proc/<pid>/cgroup line contains
 * controller exactly. */
static bool list_has_controller(const char *list, size_t list_len, const char *controller)
{
    size_t len = strlen(controller);
    const char *p = list;
    const char *end = list + list_len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        if ((size_t)(item_end - p) == len && strncmp(p, controller, len) == 0) {
            return true;
        }
        p = item_end + 1;
    }
    return false;
}

bool im_cgroup_parse_proc_cgroup(const char *text, const char *controller, char *out,
                                 size_t outlen, char *mount, size_t mountlen)
{
    for (const char *line = text; line && *line; line = next_line(line)) {
        /* Each line is "HIERARCHY-ID:CONTROLLER-LIST:PATH", and the v2 line is "0::PATH". */
        const char *first = find_in_line(line, ':');
        const char *second = first ? find_in_line(first + 1, ':') : NULL;
        if (!second) {
            continue;
        }
        const char *list = first + 1;
        size_t list_len = (size_t)(second - list);
        bool match = controller[0] ? list_has_controller(list, list_len, controller)
                                   : list_len == 0 && strncmp(line, "0:", 2) == 0;
        if (!match) {
            continue;
        }
        const char *path = second + 1;
        const char *path_end = strchr(path, '\n');
        size_t path_len = path_end ? (size_t)(path_end - path) : strlen(path);
        /* A path outside the reader's cgroup namespace starts with "/../" (or is "/.."), so
         * it does not name a directory under the reader's /sys/fs/cgroup. */
        bool outside = strncmp(path, "/..", 3) == 0 && (path_len == 3 || path[3] == '/');
        if (path[0] != '/' || path_len + 1 > outlen || outside) {
            return false;
        }
        memcpy(out, path, path_len);
        out[path_len] = '\0';
        while (path_len > 1 && out[path_len - 1] == '/') {
            out[--path_len] = '\0';
        }
        if (mount && list_len + 1 <= mountlen) {
            memcpy(mount, list, list_len);
            mount[list_len] = '\0';
        } else if (mount && mountlen > 0) {
            mount[0] = '\0';
        }
        return true;
    }
    return false;
}

/* Returns base/controller/relative when it is a directory (a new string), or NULL. */
static char *existing_dir(const char *base, const char *controller, const char *relative)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s%s%s%s", base, controller[0] ? "/" : "", controller,
             relative);
    return is_dir(path) ? im_strdup(path) : NULL;
}

/* Returns the directory that /proc/<pid>/cgroup gives for controller (controller "" for
 * v2), or NULL. A v1 controller is looked for under its own mount name first, then under
 * the mount named by its whole controller list ("cpu,cpuacct"). */
static char *dir_from_proc_cgroup(const char *base, const char *controller, const char *text)
{
    char relative[768];
    char mount[128];

    if (!im_cgroup_parse_proc_cgroup(text, controller, relative, sizeof(relative), mount,
                                     sizeof(mount))) {
        return NULL;
    }
    if (strcmp(relative, "/") == 0) {
        /* A process in the root cgroup is not in a container's cgroup. */
        return NULL;
    }
    char *dir = existing_dir(base, controller, relative);
    if (!dir && controller[0] && mount[0] && strcmp(mount, controller) != 0) {
        dir = existing_dir(base, mount, relative);
    }
    return dir;
}

/* Returns the container's directory under hierarchy root (a new string), or NULL. */
static char *container_dir(const char *base, const char *controller, const container_ref_t *ref)
{
    if (ref->proc_cgroup) {
        return dir_from_proc_cgroup(base, controller, ref->proc_cgroup);
    }
    for (size_t i = 0; i < sizeof(container_dir_patterns) / sizeof(container_dir_patterns[0]);
         i++) {
        char relative[256];
        snprintf(relative, sizeof(relative), "%s%s%s", container_dir_patterns[i].prefix, ref->id,
                 container_dir_patterns[i].suffix);
        char *dir = existing_dir(base, controller, relative);
        if (dir) {
            return dir;
        }
    }
    return NULL;
}

void im_cgroup_files_close(im_cgroup_files_t *files)
{
    if (files->opened) {
        for (size_t i = 0; i < IM_CGROUP_FILE_COUNT; i++) {
            if (files->fds[i] >= 0) {
                close(files->fds[i]);
            }
        }
    }
    free(files->cpu_dir);
    free(files->memory_dir);
    memset(files, 0, sizeof(*files));
}

static void open_v1(const im_cgroup_layout_t *layout, const container_ref_t *ref, char *memory_dir,
                    im_cgroup_files_t *files)
{
    char *cpuacct_dir = container_dir(layout->base, "cpuacct", ref);
    if (!cpuacct_dir) {
        cpuacct_dir = container_dir(layout->base, "cpu,cpuacct", ref);
    }
    char *blkio_dir = container_dir(layout->base, "blkio", ref);
    char *pids_dir = container_dir(layout->base, "pids", ref);

    files->cpu_dir = container_dir(layout->base, "cpu", ref);
    files->memory_dir = memory_dir;
    files->fds[IM_CGROUP_FILE_CPU_USAGE] = open_in(cpuacct_dir, "cpuacct.usage");
    files->fds[IM_CGROUP_FILE_CPU_TIMES] = open_in(cpuacct_dir, "cpuacct.stat");
    files->fds[IM_CGROUP_FILE_CPU_THROTTLING] = open_in(files->cpu_dir, "cpu.stat");
    files->fds[IM_CGROUP_FILE_MEMORY_USAGE] = open_in(memory_dir, "memory.usage_in_bytes");
    files->fds[IM_CGROUP_FILE_MEMORY_STAT] = open_in(memory_dir, "memory.stat");
    files->fds[IM_CGROUP_FILE_SWAP] = -1;
    files->fds[IM_CGROUP_FILE_IO] = open_in(blkio_dir, "blkio.throttle.io_service_bytes");
    if (files->fds[IM_CGROUP_FILE_IO] < 0) {
        files->fds[IM_CGROUP_FILE_IO] = open_in(blkio_dir, "blkio.io_service_bytes");
    }
    files->fds[IM_CGROUP_FILE_PIDS] = open_in(pids_dir, "pids.current");
    free(cpuacct_dir);
    free(blkio_dir);
    free(pids_dir);
}

static void open_v2(char *dir, im_cgroup_files_t *files)
{
    files->cpu_dir = dir;
    files->memory_dir = im_strdup(dir);
    files->fds[IM_CGROUP_FILE_CPU_USAGE] = open_in(dir, "cpu.stat");
    files->fds[IM_CGROUP_FILE_CPU_TIMES] = -1;
    files->fds[IM_CGROUP_FILE_CPU_THROTTLING] = -1;
    files->fds[IM_CGROUP_FILE_MEMORY_USAGE] = open_in(dir, "memory.current");
    files->fds[IM_CGROUP_FILE_MEMORY_STAT] = open_in(dir, "memory.stat");
    files->fds[IM_CGROUP_FILE_SWAP] = open_in(dir, "memory.swap.current");
    files->fds[IM_CGROUP_FILE_IO] = open_in(dir, "io.stat");
    files->fds[IM_CGROUP_FILE_PIDS] = open_in(dir, "pids.current");
}

/* Opens the files of the container that ref names. Returns IM_ENOTFOUND when it has no
 * cgroup directory. */
static int open_files(const im_cgroup_layout_t *layout, const container_ref_t *ref,
                      im_cgroup_files_t *files, char *err, size_t errlen)
{
    const char *lookup = ref->proc_cgroup ? "from its /proc/<pid>/cgroup" : "at a known path";

    im_cgroup_files_close(files);
    if (layout->version == IM_CGROUP_V2) {
        char *dir = container_dir(layout->base, "", ref);
        if (!dir) {
            snprintf(err, errlen, "no cgroup v2 directory for container %.12s under %s %s",
                     ref->id, layout->base, lookup);
            return IM_ENOTFOUND;
        }
        open_v2(dir, files);
    } else {
        char *memory_dir =
            layout->version == IM_CGROUP_V1 ? container_dir(layout->base, "memory", ref) : NULL;
        if (!memory_dir) {
            snprintf(err, errlen,
                     "no cgroup v1 memory directory for container %.12s under %s %s", ref->id,
                     layout->base, lookup);
            return IM_ENOTFOUND;
        }
        open_v1(layout, ref, memory_dir, files);
    }
    files->opened = true;
    files->reads_since_limits = IM_CGROUP_LIMITS_REFRESH_READS;
    return IM_OK;
}

int im_cgroup_open_pid(const im_cgroup_layout_t *layout, const char *proc_root, int pid,
                       const char *id, im_cgroup_files_t *files, char *err, size_t errlen)
{
    char path[600];
    char text[FILE_MAX];
    container_ref_t ref = {.id = id, .proc_cgroup = NULL};

    snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root && proc_root[0] ? proc_root : "/proc",
             pid);
    if (pid > 0 && read_text(path, text, sizeof(text))) {
        ref.proc_cgroup = text;
        if (open_files(layout, &ref, files, err, errlen) == IM_OK) {
            return IM_OK;
        }
    }
    /* The pid exited, or its cgroup paths lie outside this process's cgroup namespace. */
    ref.proc_cgroup = NULL;
    return open_files(layout, &ref, files, err, errlen);
}

/* ---- limits ---- */

static void read_limits_v1(im_cgroup_files_t *files)
{
    char text[64];
    uint64_t period = 0;
    uint64_t limit = 0;

    files->cpu_limit_cores = 0.0;
    files->memory_limit = 0;
    /* cpu.cfs_quota_us is -1 without a quota, so a leading '-' leaves the limit at 0. */
    if (read_in(files->cpu_dir, "cpu.cfs_quota_us", text, sizeof(text)) && text[0] != '-') {
        uint64_t quota = 0;
        char period_text[64];
        if (parse_single_u64(text, &quota) &&
            read_in(files->cpu_dir, "cpu.cfs_period_us", period_text, sizeof(period_text)) &&
            parse_single_u64(period_text, &period) && period > 0) {
            files->cpu_limit_cores = (double)quota / (double)period;
        }
    }
    /* Without a limit v1 reports a huge number (PAGE_COUNTER_MAX pages): treat it as none. */
    if (read_in(files->memory_dir, "memory.limit_in_bytes", text, sizeof(text)) &&
        parse_single_u64(text, &limit) && limit < (UINT64_C(1) << 62)) {
        files->memory_limit = limit;
    }
}

static void read_limits_v2(im_cgroup_files_t *files)
{
    char text[64];
    uint64_t limit = 0;

    files->cpu_limit_cores = 0.0;
    files->memory_limit = 0;
    /* cpu.max is "QUOTA PERIOD" in microseconds, QUOTA "max" without a limit. */
    if (read_in(files->cpu_dir, "cpu.max", text, sizeof(text))) {
        const char *p = text;
        uint64_t quota = 0;
        uint64_t period = 0;
        if (scan_u64(&p, &quota) && scan_u64(&p, &period) && period > 0) {
            files->cpu_limit_cores = (double)quota / (double)period;
        }
    }
    if (read_in(files->memory_dir, "memory.max", text, sizeof(text)) &&
        parse_single_u64(text, &limit)) {
        files->memory_limit = limit;
    }
}

/* ---- counters ---- */

static uint64_t ns_per_user_hz_tick(void)
{
    static uint64_t ns_per_tick;

    if (!ns_per_tick) {
        long ticks = sysconf(_SC_CLK_TCK);
        ns_per_tick = ticks > 0 ? 1000000000ULL / (uint64_t)ticks : 10000000ULL;
    }
    return ns_per_tick;
}

static bool read_file_u64(const im_cgroup_files_t *files, im_cgroup_file_t which, uint64_t *out)
{
    char text[64];
    return pread_text(files->fds[which], text, sizeof(text)) && parse_single_u64(text, out);
}

static void read_counters_v1(const im_cgroup_files_t *files, im_cgroup_sample_t *out)
{
    char text[FILE_MAX];

    out->has_cpu = read_file_u64(files, IM_CGROUP_FILE_CPU_USAGE, &out->cpu_usage_ns);
    if (pread_text(files->fds[IM_CGROUP_FILE_CPU_TIMES], text, sizeof(text))) {
        static const char *const keys[] = {"user", "system"};
        uint64_t ticks[2] = {0, 0};
        im_cgroup_parse_keyed(text, keys, ticks, 2);
        out->cpu_user_ns = ticks[0] * ns_per_user_hz_tick();
        out->cpu_system_ns = ticks[1] * ns_per_user_hz_tick();
    }
    if (pread_text(files->fds[IM_CGROUP_FILE_CPU_THROTTLING], text, sizeof(text))) {
        static const char *const keys[] = {"nr_periods", "nr_throttled", "throttled_time"};
        uint64_t values[3] = {0, 0, 0};
        im_cgroup_parse_keyed(text, keys, values, 3);
        out->cpu_periods = values[0];
        out->cpu_throttled_periods = values[1];
        out->cpu_throttled_ns = values[2];
    }
    out->has_memory = read_file_u64(files, IM_CGROUP_FILE_MEMORY_USAGE, &out->memory_usage);
    if (pread_text(files->fds[IM_CGROUP_FILE_MEMORY_STAT], text, sizeof(text))) {
        static const char *const keys[] = {"total_inactive_file", "total_rss", "total_cache",
                                           "total_swap"};
        uint64_t values[4] = {0, 0, 0, 0};
        im_cgroup_parse_keyed(text, keys, values, 4);
        out->memory_inactive_file = values[0];
        out->memory_rss = values[1];
        out->memory_cache = values[2];
        out->memory_swap = values[3];
    }
    if (pread_text(files->fds[IM_CGROUP_FILE_IO], text, sizeof(text))) {
        out->has_blkio = true;
        im_cgroup_parse_blkio_v1(text, out);
    }
    out->has_pids = read_file_u64(files, IM_CGROUP_FILE_PIDS, &out->pids);
}

static void read_counters_v2(const im_cgroup_files_t *files, im_cgroup_sample_t *out)
{
    char text[FILE_MAX];

    if (pread_text(files->fds[IM_CGROUP_FILE_CPU_USAGE], text, sizeof(text))) {
        static const char *const keys[] = {"usage_usec", "user_usec",    "system_usec",
                                           "nr_periods", "nr_throttled", "throttled_usec"};
        /* UINT64_MAX marks usage_usec as missing: parse_keyed sets only the keys it finds. */
        uint64_t values[6] = {UINT64_MAX, 0, 0, 0, 0, 0};
        im_cgroup_parse_keyed(text, keys, values, 6);
        if (values[0] != UINT64_MAX) {
            out->has_cpu = true;
            out->cpu_usage_ns = values[0] * 1000;
            out->cpu_user_ns = values[1] * 1000;
            out->cpu_system_ns = values[2] * 1000;
            out->cpu_periods = values[3];
            out->cpu_throttled_periods = values[4];
            out->cpu_throttled_ns = values[5] * 1000;
        }
    }
    out->has_memory = read_file_u64(files, IM_CGROUP_FILE_MEMORY_USAGE, &out->memory_usage);
    if (pread_text(files->fds[IM_CGROUP_FILE_MEMORY_STAT], text, sizeof(text))) {
        static const char *const keys[] = {"inactive_file", "anon", "file"};
        uint64_t values[3] = {0, 0, 0};
        im_cgroup_parse_keyed(text, keys, values, 3);
        out->memory_inactive_file = values[0];
        out->memory_rss = values[1];
        out->memory_cache = values[2];
    }
    read_file_u64(files, IM_CGROUP_FILE_SWAP, &out->memory_swap);
    if (pread_text(files->fds[IM_CGROUP_FILE_IO], text, sizeof(text))) {
        out->has_blkio = true;
        parse_io_v2(text, out);
    }
    out->has_pids = read_file_u64(files, IM_CGROUP_FILE_PIDS, &out->pids);
}

int im_cgroup_read(const im_cgroup_layout_t *layout, const char *id, im_cgroup_files_t *files,
                   im_cgroup_sample_t *out, char *err, size_t errlen)
{
    im_cgroup_files_t once = {0};
    im_cgroup_files_t *use = files ? files : &once;

    memset(out, 0, sizeof(*out));
    if (!use->opened) {
        container_ref_t ref = {.id = id, .proc_cgroup = NULL};
        int rc = open_files(layout, &ref, use, err, errlen);
        if (rc) {
            return rc;
        }
    }
    if (use->reads_since_limits >= IM_CGROUP_LIMITS_REFRESH_READS) {
        if (layout->version == IM_CGROUP_V2) {
            read_limits_v2(use);
        } else {
            read_limits_v1(use);
        }
        use->reads_since_limits = 0;
    }
    use->reads_since_limits++;
    if (layout->version == IM_CGROUP_V2) {
        read_counters_v2(use, out);
    } else {
        read_counters_v1(use, out);
    }
    out->cpu_limit_cores = use->cpu_limit_cores;
    out->memory_limit = use->memory_limit;
    if (!files) {
        im_cgroup_files_close(&once);
    }
    return IM_OK;
}

/* ---- network namespaces ---- */

/* Parses the 16 counters after an interface's colon; false when fewer are present. */
static bool scan_net_counters(const char *p, uint64_t counters[16])
{
    for (int i = 0; i < 16; i++) {
        if (!scan_u64(&p, &counters[i])) {
            return false;
        }
    }
    return true;
}

void im_cgroup_parse_net_dev(const char *text, im_cgroup_net_t *out)
{
    for (const char *line = text; line && *line; line = next_line(line)) {
        const char *colon = find_in_line(line, ':');
        if (!colon) {
            continue;
        }
        const char *name = line;
        while (*name == ' ') {
            name++;
        }
        uint64_t v[16];
        bool loopback = (size_t)(colon - name) == 2 && strncmp(name, "lo", 2) == 0;
        if (!loopback && scan_net_counters(colon + 1, v)) {
            out->rx_bytes += v[0];
            out->rx_packets += v[1];
            out->tx_bytes += v[8];
            out->tx_packets += v[9];
        }
    }
    out->has_net = true;
}

int im_cgroup_net_open(const char *proc_root, int pid, im_cgroup_net_file_t *out, char *err,
                       size_t errlen)
{
    char path[600];
    const char *proc = proc_root && proc_root[0] ? proc_root : "/proc";
    struct stat st;

    out->fd = -1;
    out->netns_inode = 0;
    snprintf(path, sizeof(path), "%s/%d/net/dev", proc, pid);
    out->fd = open_read_only(path);
    if (out->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return IM_ENOTFOUND;
    }
    snprintf(path, sizeof(path), "%s/%d/ns/net", proc, pid);
    if (stat(path, &st) == 0) {
        out->netns_inode = (uint64_t)st.st_ino;
    }
    return IM_OK;
}

int im_cgroup_net_read(const im_cgroup_net_file_t *file, im_cgroup_net_t *out)
{
    char text[FILE_MAX];

    memset(out, 0, sizeof(*out));
    if (!pread_text(file->fd, text, sizeof(text))) {
        return IM_ERR;
    }
    im_cgroup_parse_net_dev(text, out);
    out->netns_inode = file->netns_inode;
    return IM_OK;
}

void im_cgroup_net_close(im_cgroup_net_file_t *file)
{
    if (file->fd >= 0) {
        close(file->fd);
    }
    file->fd = -1;
    file->netns_inode = 0;
}

int im_cgroup_read_net(const char *proc_root, int pid, im_cgroup_net_t *out, char *err,
                       size_t errlen)
{
    im_cgroup_net_file_t file;

    memset(out, 0, sizeof(*out));
    int rc = im_cgroup_net_open(proc_root, pid, &file, err, errlen);
    if (rc) {
        return rc;
    }
    rc = im_cgroup_net_read(&file, out);
    if (rc) {
        snprintf(err, errlen, "cannot read %s/%d/net/dev: %s",
                 proc_root && proc_root[0] ? proc_root : "/proc", pid, strerror(errno));
    }
    im_cgroup_net_close(&file);
    return rc;
}

double im_cgroup_cpu_percent(uint64_t prev_usage_ns, uint64_t cur_usage_ns, int64_t wall_ns)
{
    if (wall_ns <= 0 || cur_usage_ns < prev_usage_ns) {
        return 0.0;
    }
    return (double)(cur_usage_ns - prev_usage_ns) / (double)wall_ns * 100.0;
}

uint64_t im_cgroup_memory_used(const im_cgroup_sample_t *sample)
{
    if (sample->memory_usage == 0) {
        return sample->memory_rss + sample->memory_cache;
    }
    if (sample->memory_inactive_file > sample->memory_usage) {
        return sample->memory_usage;
    }
    return sample->memory_usage - sample->memory_inactive_file;
}

double im_cgroup_rate(uint64_t prev, uint64_t cur, int64_t wall_ns)
{
    if (wall_ns <= 0 || cur < prev) {
        return 0.0;
    }
    return (double)(cur - prev) * 1e9 / (double)wall_ns;
}
