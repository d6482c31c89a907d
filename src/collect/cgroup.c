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

/* Reads a whole small file into buf (NUL-terminated). Returns false when it cannot be
 * opened or read. */
static bool read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    size_t len = 0;
    bool ok = true;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return ok;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a file holding one unsigned number, or "max" (returned as 0 with *is_max set). */
static bool read_u64(const char *dir, const char *file, uint64_t *out, bool *is_max)
{
    char path[2048];
    char text[64];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (!read_text(path, text, sizeof(text))) {
        return false;
    }
    if (is_max) {
        *is_max = strncmp(text, "max", 3) == 0;
        if (*is_max) {
            *out = 0;
            return true;
        }
    }
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text) {
        return false;
    }
    *out = value;
    return true;
}

/* Finds "key value" in a flat-keyed file's text ("key" at a line start). */
static bool find_key(const char *text, const char *key, uint64_t *out)
{
    size_t key_len = strlen(key);
    const char *line = text;

    while (line && *line) {
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ') {
            *out = strtoull(line + key_len + 1, NULL, 10);
            return true;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return false;
}

static bool read_keyed(const char *dir, const char *file, char *buf, size_t size)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return read_text(path, buf, size);
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

/* Finds a container's directory under one hierarchy root. */
static bool container_dir(const char *root, const char *id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/docker/%s", root, id);
    if (is_dir(out)) {
        return true;
    }
    snprintf(out, outlen, "%s/system.slice/docker-%s.scope", root, id);
    return is_dir(out);
}

/* container_dir() through the cache: a directory found once is not looked up again. */
static bool cached_dir(im_cgroup_dirs_t *dirs, im_cgroup_dir_t which, const char *root,
                       const char *id, char *out, size_t outlen)
{
    if (dirs && dirs->paths[which]) {
        im_strlcpy(out, dirs->paths[which], outlen);
        return true;
    }
    if (!container_dir(root, id, out, outlen)) {
        return false;
    }
    if (dirs) {
        dirs->paths[which] = im_strdup(out);
    }
    return true;
}

void im_cgroup_dirs_release(im_cgroup_dirs_t *dirs)
{
    for (size_t i = 0; i < IM_CGROUP_DIR_COUNT; i++) {
        free(dirs->paths[i]);
        dirs->paths[i] = NULL;
    }
}

/* Sums "MAJ:MIN Read N" and "MAJ:MIN Write N" lines of a v1 blkio file. */
static void parse_blkio_v1(const char *text, im_cgroup_sample_t *out)
{
    const char *line = text;

    while (line && *line) {
        char device[32];
        char op[16];
        unsigned long long value = 0;
        if (sscanf(line, "%31s %15s %llu", device, op, &value) == 3) {
            if (strcmp(op, "Read") == 0) {
                out->blkio_read_bytes += value;
            } else if (strcmp(op, "Write") == 0) {
                out->blkio_write_bytes += value;
            }
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
}

/* Sums the rbytes= and wbytes= fields of every device line of a v2 io.stat. */
static void parse_io_v2(const char *text, im_cgroup_sample_t *out)
{
    const char *field = text;

    while ((field = strstr(field, "bytes=")) != NULL) {
        uint64_t value = strtoull(field + 6, NULL, 10);
        if (field > text && field[-1] == 'r') {
            out->blkio_read_bytes += value;
        } else if (field > text && field[-1] == 'w') {
            out->blkio_write_bytes += value;
        }
        field += 6;
    }
}

static void read_cpu_v1(const im_cgroup_layout_t *layout, const char *id, im_cgroup_dirs_t *dirs,
                        im_cgroup_sample_t *out)
{
    char dir[1024];
    char root[600];
    char text[FILE_MAX];
    uint64_t value = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    uint64_t ns_per_tick = ticks > 0 ? 1000000000ULL / (uint64_t)ticks : 10000000ULL;

    snprintf(root, sizeof(root), "%s/cpuacct", layout->base);
    if (!cached_dir(dirs, IM_CGROUP_DIR_CPUACCT, root, id, dir, sizeof(dir))) {
        snprintf(root, sizeof(root), "%s/cpu,cpuacct", layout->base);
        if (!cached_dir(dirs, IM_CGROUP_DIR_CPUACCT, root, id, dir, sizeof(dir))) {
            return;
        }
    }
    out->has_cpu = read_u64(dir, "cpuacct.usage", &out->cpu_usage_ns, NULL);
    if (read_keyed(dir, "cpuacct.stat", text, sizeof(text))) {
        if (find_key(text, "user", &value)) {
            out->cpu_user_ns = value * ns_per_tick;
        }
        if (find_key(text, "system", &value)) {
            out->cpu_system_ns = value * ns_per_tick;
        }
    }

    snprintf(root, sizeof(root), "%s/cpu", layout->base);
    if (!cached_dir(dirs, IM_CGROUP_DIR_CPU, root, id, dir, sizeof(dir))) {
        return;
    }
    if (read_keyed(dir, "cpu.stat", text, sizeof(text))) {
        find_key(text, "nr_periods", &out->cpu_periods);
        find_key(text, "nr_throttled", &out->cpu_throttled_periods);
        find_key(text, "throttled_time", &out->cpu_throttled_ns);
    }
    /* cpu.cfs_quota_us is -1 without a quota, which strtoull cannot take: read it signed. */
    char path[2048];
    char quota_text[64];
    uint64_t period = 0;
    snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
    if (read_text(path, quota_text, sizeof(quota_text)) &&
        read_u64(dir, "cpu.cfs_period_us", &period, NULL) && period > 0) {
        long long quota = strtoll(quota_text, NULL, 10);
        out->cpu_limit_cores = quota > 0 ? (double)quota / (double)period : 0.0;
    }
}

static void read_memory_v1(const im_cgroup_layout_t *layout, const char *id, im_cgroup_dirs_t *dirs,
                           im_cgroup_sample_t *out)
{
    char dir[1024];
    char root[600];
    char text[FILE_MAX];

    snprintf(root, sizeof(root), "%s/memory", layout->base);
    if (!cached_dir(dirs, IM_CGROUP_DIR_MEMORY, root, id, dir, sizeof(dir))) {
        return;
    }
    out->has_memory = read_u64(dir, "memory.usage_in_bytes", &out->memory_usage, NULL);
    if (read_keyed(dir, "memory.stat", text, sizeof(text))) {
        find_key(text, "total_inactive_file", &out->memory_inactive_file);
        find_key(text, "total_rss", &out->memory_rss);
        find_key(text, "total_cache", &out->memory_cache);
        find_key(text, "total_swap", &out->memory_swap);
    }
    uint64_t limit = 0;
    /* Without a limit v1 reports a huge number (PAGE_COUNTER_MAX pages): treat it as none. */
    if (read_u64(dir, "memory.limit_in_bytes", &limit, NULL) && limit < (UINT64_C(1) << 62)) {
        out->memory_limit = limit;
    }
}

static void read_other_v1(const im_cgroup_layout_t *layout, const char *id, im_cgroup_dirs_t *dirs,
                          im_cgroup_sample_t *out)
{
    char dir[1024];
    char root[600];
    char text[FILE_MAX];

    snprintf(root, sizeof(root), "%s/blkio", layout->base);
    if (cached_dir(dirs, IM_CGROUP_DIR_BLKIO, root, id, dir, sizeof(dir))) {
        if (read_keyed(dir, "blkio.throttle.io_service_bytes", text, sizeof(text)) ||
            read_keyed(dir, "blkio.io_service_bytes", text, sizeof(text))) {
            out->has_blkio = true;
            parse_blkio_v1(text, out);
        }
    }
    snprintf(root, sizeof(root), "%s/pids", layout->base);
    if (cached_dir(dirs, IM_CGROUP_DIR_PIDS, root, id, dir, sizeof(dir))) {
        out->has_pids = read_u64(dir, "pids.current", &out->pids, NULL);
    }
}

static void read_v2(const char *dir, im_cgroup_sample_t *out)
{
    char text[FILE_MAX];
    uint64_t value = 0;
    bool is_max = false;

    if (read_keyed(dir, "cpu.stat", text, sizeof(text)) && find_key(text, "usage_usec", &value)) {
        out->has_cpu = true;
        out->cpu_usage_ns = value * 1000;
        if (find_key(text, "user_usec", &value)) {
            out->cpu_user_ns = value * 1000;
        }
        if (find_key(text, "system_usec", &value)) {
            out->cpu_system_ns = value * 1000;
        }
        find_key(text, "nr_periods", &out->cpu_periods);
        find_key(text, "nr_throttled", &out->cpu_throttled_periods);
        if (find_key(text, "throttled_usec", &value)) {
            out->cpu_throttled_ns = value * 1000;
        }
    }
    /* cpu.max is "QUOTA PERIOD" in microseconds, QUOTA "max" without a limit. */
    if (read_keyed(dir, "cpu.max", text, sizeof(text)) && strncmp(text, "max", 3) != 0) {
        unsigned long long quota = 0;
        unsigned long long period = 0;
        if (sscanf(text, "%llu %llu", &quota, &period) == 2 && period > 0) {
            out->cpu_limit_cores = (double)quota / (double)period;
        }
    }

    out->has_memory = read_u64(dir, "memory.current", &out->memory_usage, NULL);
    if (read_keyed(dir, "memory.stat", text, sizeof(text))) {
        find_key(text, "inactive_file", &out->memory_inactive_file);
        find_key(text, "anon", &out->memory_rss);
        find_key(text, "file", &out->memory_cache);
    }
    read_u64(dir, "memory.swap.current", &out->memory_swap, NULL);
    if (read_u64(dir, "memory.max", &value, &is_max) && !is_max) {
        out->memory_limit = value;
    }

    if (read_keyed(dir, "io.stat", text, sizeof(text))) {
        out->has_blkio = true;
        parse_io_v2(text, out);
    }
    out->has_pids = read_u64(dir, "pids.current", &out->pids, NULL);
}

int im_cgroup_read(const im_cgroup_layout_t *layout, const char *id, im_cgroup_dirs_t *dirs,
                   im_cgroup_sample_t *out, char *err, size_t errlen)
{
    char dir[1024];
    char root[600];

    memset(out, 0, sizeof(*out));
    if (layout->version == IM_CGROUP_V2) {
        if (!cached_dir(dirs, IM_CGROUP_DIR_UNIFIED, layout->base, id, dir, sizeof(dir))) {
            snprintf(err, errlen, "no cgroup v2 directory for container %.12s under %s", id,
                     layout->base);
            return IM_ENOTFOUND;
        }
        read_v2(dir, out);
        return IM_OK;
    }
    snprintf(root, sizeof(root), "%s/memory", layout->base);
    if (layout->version != IM_CGROUP_V1 ||
        !cached_dir(dirs, IM_CGROUP_DIR_MEMORY, root, id, dir, sizeof(dir))) {
        snprintf(err, errlen, "no cgroup v1 memory directory for container %.12s under %s", id,
                 layout->base);
        return IM_ENOTFOUND;
    }
    read_cpu_v1(layout, id, dirs, out);
    read_memory_v1(layout, id, dirs, out);
    read_other_v1(layout, id, dirs, out);
    return IM_OK;
}

void im_cgroup_parse_net_dev(const char *text, im_cgroup_net_t *out)
{
    const char *line = text;

    while (line && *line) {
        const char *colon = strchr(line, ':');
        const char *end = strchr(line, '\n');
        if (colon && (!end || colon < end)) {
            const char *name = line;
            while (*name == ' ') {
                name++;
            }
            unsigned long long v[16] = {0};
            int n = sscanf(colon + 1,
                           "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                           "%llu %llu",
                           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
                           &v[10], &v[11], &v[12], &v[13], &v[14], &v[15]);
            bool loopback = (size_t)(colon - name) == 2 && strncmp(name, "lo", 2) == 0;
            if (n == 16 && !loopback) {
                out->rx_bytes += v[0];
                out->rx_packets += v[1];
                out->tx_bytes += v[8];
                out->tx_packets += v[9];
            }
        }
        line = end ? end + 1 : NULL;
    }
    out->has_net = true;
}

int im_cgroup_read_net(const char *proc_root, int pid, im_cgroup_net_t *out, char *err,
                       size_t errlen)
{
    char path[600];
    char text[FILE_MAX];
    const char *proc = proc_root && proc_root[0] ? proc_root : "/proc";
    struct stat st;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/%d/net/dev", proc, pid);
    if (!read_text(path, text, sizeof(text))) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return IM_ENOTFOUND;
    }
    im_cgroup_parse_net_dev(text, out);
    snprintf(path, sizeof(path), "%s/%d/ns/net", proc, pid);
    if (stat(path, &st) == 0) {
        out->netns_inode = (uint64_t)st.st_ino;
    }
    return IM_OK;
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
